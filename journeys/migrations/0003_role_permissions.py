from django.db import migrations

from cxm.accounts.roles import grant_permissions
from journeys.grants import GRANTS



class Migration(migrations.Migration):
    dependencies = [("journeys", "0002_customer_search_trigram"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(grant_permissions("journeys", GRANTS), migrations.RunPython.noop)]

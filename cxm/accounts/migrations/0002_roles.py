from django.db import migrations

from cxm.accounts.roles import grant_permissions
from cxm.accounts.grants import GRANTS



def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GRANTS).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(grant_permissions("accounts", GRANTS), remove_roles)]

from django.db import migrations

from cxm.accounts.roles import grant_permissions

# A snapshot: journeys/grants.py is the current truth, re-applied after every migrate.
GRANTS = {
    "agent": ["view_customer", "change_customer"],
    "cx_lead": ["view_customer", "add_customer", "change_customer", "import_customers"],
    "admin": ["view_customer", "add_customer", "change_customer", "delete_customer", "import_customers"],
}


class Migration(migrations.Migration):
    dependencies = [("journeys", "0002_customer_search_trigram"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(grant_permissions("journeys", GRANTS), migrations.RunPython.noop)]

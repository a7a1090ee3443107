from django.db import migrations

from cxm.accounts.roles import grant_permissions

# A snapshot: surveys/grants.py is the current truth, re-applied after every migrate.
_SEND = ["view_distribution", "add_distribution", "change_distribution"]
GRANTS = {"cx_lead": _SEND, "admin": _SEND}


class Migration(migrations.Migration):
    dependencies = [("surveys", "0004_distributions"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(grant_permissions("surveys", GRANTS), migrations.RunPython.noop)]

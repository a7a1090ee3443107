from django.db import migrations

from cxm.accounts.roles import grant_permissions

# A snapshot: cxm/accounts/grants.py is the current truth, re-applied after every migrate.
GRANTS = {
    "agent": ["view_team"],
    "cx_lead": ["view_team"],
    "admin": ["manage_users", "view_user", "view_team", "add_team", "change_team", "delete_team"],
}


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GRANTS).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(grant_permissions("accounts", GRANTS), remove_roles)]

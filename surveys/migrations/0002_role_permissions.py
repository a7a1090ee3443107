from django.db import migrations

from cxm.accounts.roles import grant_permissions

# A snapshot: surveys/grants.py is the current truth, re-applied after every migrate.
_READ = ["view_survey", "view_question", "view_response", "view_answer", "view_invitation"]
_BUILD = ["add_survey", "change_survey", "add_question", "change_question", "delete_question",
          "add_invitation", "export_responses"]
GRANTS = {"agent": _READ, "cx_lead": [*_READ, *_BUILD], "admin": [*_READ, *_BUILD]}


class Migration(migrations.Migration):
    dependencies = [("surveys", "0001_surveys_responses"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(grant_permissions("surveys", GRANTS), migrations.RunPython.noop)]

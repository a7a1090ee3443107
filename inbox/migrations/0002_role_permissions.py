from django.db import migrations

from cxm.accounts.roles import grant_permissions

# A snapshot: inbox/grants.py is the current truth, re-applied after every migrate.
GRANTS = {
    "agent": ["view_conversation", "change_conversation", "add_message", "view_outboxmessage"],
    "cx_lead": ["view_conversation", "change_conversation", "add_message", "view_outboxmessage"],
    "admin": [
        "view_conversation", "change_conversation", "add_message", "view_all_conversations",
        "view_outboxmessage", "view_channelaccount", "add_channelaccount", "change_channelaccount",
    ],
}


class Migration(migrations.Migration):
    dependencies = [("inbox", "0001_channels_conversations"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(grant_permissions("inbox", GRANTS), migrations.RunPython.noop)]

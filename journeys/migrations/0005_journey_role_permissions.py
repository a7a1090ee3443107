from django.db import migrations

from cxm.accounts.roles import grant_permissions

# A snapshot: journeys/grants.py is the current truth, re-applied after every migrate.
MAP_EDIT = [
    "view_journey", "add_journey", "change_journey",
    "view_stage", "add_stage", "change_stage",
    "view_touchpoint", "add_touchpoint", "change_touchpoint",
]
GRANTS = {
    "agent": ["view_journey", "view_touchpoint", "view_interaction"],
    "cx_lead": ["merge_customers", *MAP_EDIT, "view_interaction", "add_interaction"],
    "admin": [
        "merge_customers", *MAP_EDIT, "view_interaction", "add_interaction",
        "view_ingestionsource", "add_ingestionsource", "change_ingestionsource",
    ],
}


class Migration(migrations.Migration):
    dependencies = [("journeys", "0004_journeys_touchpoints_interactions")]

    operations = [migrations.RunPython(grant_permissions("journeys", GRANTS), migrations.RunPython.noop)]

"""What each role may do in the metrics app (see cxm/accounts/roles.py).

Agents see the dashboards with their own figures only (the agent filter is always theirs);
CX leads and admins see everybody's.

Follow-ups: agents see and work the ones they own (and, as a team's lead, the team's); CX leads
and admins see and work every follow-up, write the rules and keep the root-cause list."""

_OWN = [
    "view_dashboard",
    "view_reportsubscription",
    "add_reportsubscription",
    "delete_reportsubscription",
]
_FOLLOW_UP = ["view_followup", "change_followup"]
_LOOP = [
    "view_all_followups",
    "view_followuprule", "add_followuprule", "change_followuprule", "delete_followuprule",
    "view_rootcause", "add_rootcause", "change_rootcause",
]  # fmt: skip

GRANTS = {
    "agent": [*_OWN, *_FOLLOW_UP],
    "cx_lead": [*_OWN, "view_all_metrics", *_FOLLOW_UP, *_LOOP],
    "admin": [*_OWN, "view_all_metrics", *_FOLLOW_UP, *_LOOP],
}  # fmt: skip

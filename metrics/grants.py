"""What each role may do in the metrics app (see cxm/accounts/roles.py).

Agents see the dashboards with their own figures only (the agent filter is always theirs);
CX leads and admins see everybody's."""

_OWN = [
    "view_dashboard",
    "view_reportsubscription",
    "add_reportsubscription",
    "delete_reportsubscription",
]

GRANTS = {
    "agent": _OWN,
    "cx_lead": [*_OWN, "view_all_metrics"],
    "admin": [*_OWN, "view_all_metrics"],
}  # fmt: skip

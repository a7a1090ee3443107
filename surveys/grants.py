"""What each role may do in the surveys app (see cxm/accounts/roles.py)."""

_READ = ["view_survey", "view_question", "view_response", "view_answer", "view_invitation"]
_BUILD = [
    "add_survey",
    "change_survey",
    "add_question",
    "change_question",
    "delete_question",
    "add_invitation",
    "export_responses",
    "view_distribution",
    "add_distribution",
    "change_distribution",
]

GRANTS = {
    "agent": _READ,
    "cx_lead": [*_READ, *_BUILD],
    "admin": [*_READ, *_BUILD],
}  # fmt: skip

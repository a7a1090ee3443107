"""What each role may do with accounts (see cxm/accounts/roles.py)."""

GRANTS = {
    "agent": ["view_team"],
    "cx_lead": ["view_team"],
    "admin": ["manage_users", "view_user", "view_team", "add_team", "change_team", "delete_team"],
}

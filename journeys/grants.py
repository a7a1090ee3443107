"""What each role may do with customers (see cxm/accounts/roles.py)."""

GRANTS = {
    "agent": ["view_customer", "change_customer"],
    "cx_lead": ["view_customer", "add_customer", "change_customer", "import_customers"],
    "admin": [
        "view_customer",
        "add_customer",
        "change_customer",
        "delete_customer",
        "import_customers",
    ],
}

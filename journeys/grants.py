"""What each role may do in the journeys app (see cxm/accounts/roles.py)."""

_MAP_EDIT = [
    "view_journey", "add_journey", "change_journey",
    "view_stage", "add_stage", "change_stage",
    "view_touchpoint", "add_touchpoint", "change_touchpoint",
]  # fmt: skip

GRANTS = {
    "agent": ["view_customer", "change_customer", "view_journey", "view_touchpoint", "view_interaction"],
    "cx_lead": [
        "view_customer", "add_customer", "change_customer", "import_customers", "merge_customers",
        *_MAP_EDIT, "view_interaction", "add_interaction",
    ],
    "admin": [
        "view_customer", "add_customer", "change_customer", "delete_customer", "import_customers",
        "merge_customers", *_MAP_EDIT, "view_interaction", "add_interaction",
        "view_ingestionsource", "add_ingestionsource", "change_ingestionsource",
    ],
}  # fmt: skip

"""What each role may do in the inbox (see cxm/accounts/roles.py)."""

GRANTS = {
    "agent": ["view_conversation", "change_conversation", "add_message", "view_outboxmessage"],
    "cx_lead": ["view_conversation", "change_conversation", "add_message", "view_outboxmessage"],
    "admin": [
        "view_conversation", "change_conversation", "add_message", "view_all_conversations",
        "view_outboxmessage", "view_channelaccount", "add_channelaccount", "change_channelaccount",
    ],
}  # fmt: skip

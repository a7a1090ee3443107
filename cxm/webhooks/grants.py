"""What each role may do with outgoing webhooks (see cxm/accounts/roles.py)."""

GRANTS = {"admin": ["manage_webhooks"]}

"""Signals the inbox sends. Receivers live in higher apps and only enqueue their own work."""

from django.dispatch import Signal

# After commit, once per inbound message: kwargs message_id, conversation_id, customer_id.
message_received = Signal()

# After commit, once per reply an agent sent to the customer (any channel) or phone call they
# logged in a conversation: kwargs message_id, conversation_id, author_id.
agent_replied = Signal()

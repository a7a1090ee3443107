"""Signals the metrics app sends (after commit). Receivers only enqueue their own work."""

from django.dispatch import Signal

# kwargs: followup_id
followup_opened = Signal()
# kwargs: followup_id (resolved or unreachable)
followup_closed = Signal()

"""Signals the surveys app sends. Receivers live in higher apps and only enqueue their own work."""

from django.dispatch import Signal

# After commit, once per completed response: kwargs response_id, survey_id, customer_id (or None).
response_submitted = Signal()

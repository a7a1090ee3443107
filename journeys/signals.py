"""Signals the journeys app sends. Receivers live in higher apps and only enqueue their own work."""

from django.dispatch import Signal

# After commit, once per new interaction: kwargs interaction_id, customer_id, touchpoint_id, kind.
interaction_recorded = Signal()

# Inside the merge transaction (synchronously): kwargs survivor_id, merged_id. Higher apps move
# their rows (conversations, responses) from the merged customer to the survivor.
customers_merging = Signal()

"""What the surveys app listens to: customer merges move responses and invitations along."""

from __future__ import annotations


def _move_to_survivor(sender: object, survivor_id: int, merged_id: int, **kwargs: object) -> None:
    from surveys.models import Invitation, Response

    Response.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)
    Invitation.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)


def connect_merges() -> None:
    from journeys.signals import customers_merging

    customers_merging.connect(_move_to_survivor, weak=False, dispatch_uid="surveys-customer-merge")

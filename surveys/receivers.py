"""What the surveys app listens to: customer merges move responses and invitations along."""

from __future__ import annotations


def _move_to_survivor(sender: object, survivor_id: int, merged_id: int, **kwargs: object) -> None:
    from surveys.models import Invitation, Response

    Response.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)
    Invitation.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)


def connect_merges() -> None:
    from journeys.signals import customers_merging

    customers_merging.connect(_move_to_survivor, weak=False, dispatch_uid="surveys-customer-merge")


def _interaction_recorded(
    sender: object, interaction_id: int, touchpoint_id: int | None, kind: str, **kwargs: object
) -> None:
    """Only interactions some active rule listens to cost a task."""
    from cxm.jobs import Job, enqueue_on_commit
    from surveys.services.distribution import trigger_targets

    touchpoints, kinds = trigger_targets()
    if (touchpoint_id and touchpoint_id in touchpoints) or kind in kinds:
        enqueue_on_commit(Job.SURVEYS_TRIGGER, interaction_id=interaction_id)


def connect_triggers() -> None:
    from journeys.signals import interaction_recorded

    interaction_recorded.connect(
        _interaction_recorded, weak=False, dispatch_uid="surveys-trigger-rules"
    )


def _message_received(
    sender: object, message_id: int, conversation_id: int, customer_id: int, **kwargs: object
) -> None:
    from cxm.jobs import Job, enqueue_on_commit

    enqueue_on_commit(Job.SURVEYS_REPLY, message_id=message_id)


def connect_replies() -> None:
    from inbox.signals import message_received

    message_received.connect(_message_received, weak=False, dispatch_uid="surveys-sms-replies")

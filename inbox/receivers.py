"""What the inbox listens to: inbound email and tracking events from the email channel."""

from __future__ import annotations

from inbox import services
from inbox.channels import email
from inbox.channels.base import DeliveryStatus, InboundMessage


def _store_message(message: InboundMessage) -> None:
    services.inbound_event_record(
        provider=message.provider,
        kind="message",
        provider_id=message.provider_id,
        payload=message.as_json(),
    )


def _store_status(status: DeliveryStatus) -> None:
    services.inbound_event_record(
        provider=status.provider,
        kind="status",
        provider_id=status.provider_id,
        payload=status.as_json(),
    )


def connect() -> None:
    email.connect(on_message=_store_message, on_status=_store_status)


def _move_to_survivor(sender: object, survivor_id: int, merged_id: int, **kwargs: object) -> None:
    """A customer merge (in its transaction): the merged customer's conversations move along."""
    from inbox.models import Conversation, WebchatVisitor

    Conversation.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)
    WebchatVisitor.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)


def connect_merges() -> None:
    from journeys.signals import customers_merging

    customers_merging.connect(_move_to_survivor, weak=False, dispatch_uid="inbox-customer-merge")


def _delete_attachment_file(sender: object, instance: object, **kwargs: object) -> None:
    """An attachment row gone (its conversation or customer erased): its file goes too."""
    file = getattr(instance, "file", None)
    if file:
        file.delete(save=False)


def connect_file_cleanup() -> None:
    from django.db.models.signals import post_delete

    from inbox.models import Attachment

    post_delete.connect(
        _delete_attachment_file, sender=Attachment, weak=False, dispatch_uid="inbox-attachment-file"
    )

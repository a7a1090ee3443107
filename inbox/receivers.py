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

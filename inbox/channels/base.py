"""What adapters hand to the rest of cxm: plain frozen dataclasses and two kinds of error."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any


class ProviderError(Exception):
    """A send failed. ``temporary`` errors are retried with backoff; permanent ones fail the
    delivery with the provider's reason."""

    temporary = False

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TemporaryProviderError(ProviderError):
    temporary = True


class PermanentProviderError(ProviderError):
    temporary = False


class InvalidSignature(Exception):
    """The request did not come from the provider (bad or missing signature)."""


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class InboundMessage:
    provider: str
    provider_id: str
    channel: str  # an inbox.models.ChannelKind value
    from_address: str
    to_address: str
    text: str = ""
    html: str = ""
    subject: str = ""
    from_name: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""
    auto_submitted: bool = False
    received_at: dt.datetime | None = None
    attachments: tuple[InboundAttachment, ...] = ()
    media_urls: tuple[str, ...] = ()
    # Our own channels (API, web chat, web form) know the customer already.
    customer_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["received_at"] = self.received_at.isoformat() if self.received_at else None
        data["attachments"] = [
            {"filename": a.filename, "content_type": a.content_type, "content": a.content.hex()}
            for a in self.attachments
        ]
        data["media_urls"] = list(self.media_urls)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InboundMessage:
        data = dict(data)
        data["received_at"] = (
            dt.datetime.fromisoformat(data["received_at"]) if data.get("received_at") else None
        )
        data["attachments"] = tuple(
            InboundAttachment(a["filename"], a["content_type"], bytes.fromhex(a["content"]))
            for a in data.get("attachments", [])
        )
        data["media_urls"] = tuple(data.get("media_urls", []))
        return cls(**data)


@dataclass(frozen=True)
class DeliveryStatus:
    provider: str
    provider_id: str  # the event's own id, for once-only storage
    provider_message_id: str  # the message the status is about
    status: str  # an inbox.models.Delivery.Status value
    recipient: str = ""
    reason: str = ""
    hard: bool = False  # a hard bounce or complaint: suppress the address
    suppress_reason: str = ""  # an inbox.models.Suppression.Reason value when hard

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeliveryStatus:
        return cls(**data)


@dataclass(frozen=True)
class OutboundMessage:
    channel: str
    to_address: str
    from_address: str
    text: str
    subject: str = ""
    html: str = ""
    reply_to: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    status_callback: str = ""
    media_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Receipt:
    provider: str
    provider_message_id: str
    status: str = "sent"

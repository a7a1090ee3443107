"""The dev outbox: on the embedded default nothing leaves the machine.

``EmailBackend`` is a Django email backend that stores each message as an ``OutboxMessage``
(``INBOX_EMAIL_BACKEND`` and, on the embedded default, ``EMAIL_BACKEND`` too, so invitations
show up there as well); ``send_sms`` does the same for SMS and WhatsApp when Twilio is not
configured. The Outbox page lists them, and "simulate inbound" plays the customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend

from inbox.channels.base import OutboundMessage, Receipt
from inbox.models import OutboxMessage


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            html: Any = ""
            if isinstance(message, EmailMultiAlternatives):
                html = next(
                    (content for content, mime in message.alternatives if mime == "text/html"), ""
                )
            headers: dict[str, Any] = {k: str(v) for k, v in (message.extra_headers or {}).items()}
            if message.reply_to:
                headers["Reply-To"] = ", ".join(message.reply_to)
            for recipient in message.recipients():
                OutboxMessage.objects.create(
                    channel="email",
                    to_address=recipient,
                    from_address=str(message.from_email or ""),
                    subject=str(message.subject or "")[:255],
                    text=str(message.body or ""),
                    html=str(html),
                    headers=headers,
                )
            sent += 1
        return sent


def send_sms(message: OutboundMessage) -> Receipt:
    stored = OutboxMessage.objects.create(
        channel=message.channel,
        to_address=message.to_address,
        from_address=message.from_address,
        text=message.text,
        headers={"media": list(message.media_urls)} if message.media_urls else {},
    )
    return Receipt(
        provider="outbox", provider_message_id=stored.provider_message_id, status="delivered"
    )

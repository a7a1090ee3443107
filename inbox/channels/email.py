"""Email through django-anymail: inbound and tracking webhooks, and outbound sends.

Anymail's own views (``/anymail/<esp>/inbound/`` and ``/tracking/``) check the webhook secret and
the ESP's signature, then send its ``inbound`` and ``tracking`` signals; ``parse_inbound`` and
``parse_tracking`` turn those events into our dataclasses. Which ESP is a setting
(``INBOX_EMAIL_BACKEND``): any backend anymail supports works. https://anymail.dev/en/stable/esps/
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Generator, Iterable
from email.utils import make_msgid
from typing import Any

import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
)
from anymail.signals import AnymailInboundEvent, AnymailTrackingEvent, inbound, tracking
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from inbox.channels.base import (
    DeliveryStatus,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    PermanentProviderError,
    ProviderError,
    Receipt,
    TemporaryProviderError,
)

logger = logging.getLogger(__name__)

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
TEXT_LIMIT = 200_000

# Anymail's normalized event types → our delivery statuses (and whether to suppress the address).
_TRACKING = {
    "queued": ("queued", False),
    "sent": ("sent", False),
    "deferred": ("sent", False),
    "delivered": ("delivered", False),
    "opened": ("opened", False),
    "clicked": ("opened", False),
    "bounced": ("bounced", True),
    "rejected": ("failed", False),
    "failed": ("failed", False),
    "complained": ("bounced", True),
    "unsubscribed": ("delivered", True),
}
AUTO_REPLY_HEADERS = {
    "auto-submitted": lambda v: v.strip().lower() not in ("", "no"),
    "x-autoreply": lambda v: True,
    "x-autorespond": lambda v: True,
    "precedence": lambda v: v.strip().lower() in ("auto_reply", "bulk", "junk", "list"),
    "x-auto-response-suppress": lambda v: True,
}


def _header(message: Any, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a header that cannot be decoded is treated as absent
        return ""
    return str(value or "").strip()[:4000]


def _safe(call: Any, default: Any) -> Any:
    try:
        value = call()
    except Exception:  # malformed MIME: keep what can be read, never crash on one part
        logger.info("inbox.email.part_unreadable")
        return default
    return default if value is None else value


def parse_inbound(event: AnymailInboundEvent, esp_name: str) -> InboundMessage:
    message = event.message
    if message is None:
        raise ValueError("inbound event without a message")
    sender = _safe(lambda: message.from_email, None)
    if isinstance(sender, list):
        sender = sender[0] if sender else None
    to_list = _safe(lambda: message.to, [])
    envelope = getattr(message, "envelope_recipient", None) or ""
    to_address = envelope or (to_list[0].addr_spec if to_list else "")
    message_id = _header(message, "Message-ID")
    raw_id = event.event_id or message_id
    if not raw_id:
        raw_id = hashlib.sha256(repr(message.as_bytes()[:100_000]).encode()).hexdigest()
    attachments = []
    for part in _safe(lambda: list(message.attachments), []):
        content = _safe(part.get_content_bytes, b"")
        attachments.append(
            InboundAttachment(
                filename=str(_safe(part.get_filename, "") or "attachment")[:255],
                content_type=str(_safe(part.get_content_type, "application/octet-stream"))[:100],
                content=content,
            )
        )
    auto = any(
        check(_header(message, name))
        for name, check in AUTO_REPLY_HEADERS.items()
        if _header(message, name)
    )
    # Bounces and other machine mail: never answered automatically, never reopen a conversation.
    local_part = (sender.addr_spec if sender else "").split("@")[0].lower()
    auto = auto or local_part in {"mailer-daemon", "postmaster", "no-reply", "noreply", "bounces"}
    return InboundMessage(
        provider=esp_name.lower(),
        provider_id=str(raw_id)[:255],
        channel="email",
        from_address=(sender.addr_spec if sender else "").lower()[:254],
        from_name=(sender.display_name if sender else "")[:200],
        to_address=to_address[:254],
        subject=str(_safe(lambda: message.subject, ""))[:255],
        text=str(_safe(lambda: message.text, ""))[:TEXT_LIMIT],
        html=str(_safe(lambda: message.html, ""))[:TEXT_LIMIT],
        message_id=message_id[:255],
        in_reply_to=_header(message, "In-Reply-To")[:255],
        references=_header(message, "References"),
        auto_submitted=auto,
        attachments=tuple(attachments),
    )


def parse_tracking(event: AnymailTrackingEvent, esp_name: str) -> DeliveryStatus | None:
    mapped = _TRACKING.get(str(event.event_type))
    if mapped is None or not event.message_id:
        return None
    status, suppress = mapped
    reasons = {"bounced": "bounce", "complained": "complaint", "unsubscribed": "opt_out"}
    event_id = event.event_id or f"{event.message_id}:{event.event_type}:{event.recipient}"
    return DeliveryStatus(
        provider=esp_name.lower(),
        provider_id=str(event_id)[:255],
        provider_message_id=str(event.message_id)[:255],
        status=status,
        recipient=(event.recipient or "").lower(),
        reason=str(event.description or event.reject_reason or event.event_type)[:500],
        hard=suppress,
        suppress_reason=reasons.get(str(event.event_type), "") if suppress else "",
    )


def new_message_id() -> str:
    domain = settings.INBOX_EMAIL_DOMAIN
    return make_msgid(domain=domain)


def _email(message: OutboundMessage, connection: Any) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email=message.from_address,
        to=[message.to_address],
        reply_to=[message.reply_to] if message.reply_to else None,
        headers={
            **message.headers,
            **({"Message-ID": message.message_id} if message.message_id else {}),
            **({"In-Reply-To": message.in_reply_to} if message.in_reply_to else {}),
            **({"References": message.references} if message.references else {}),
        },
        connection=connection,
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    return email


def _error(exc: Exception) -> ProviderError:
    """Anymail's exceptions as ours: temporary (retry) or permanent (fail with the reason)."""
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentProviderError(f"recipient refused: {exc}")
    if isinstance(exc, AnymailRequestsAPIError):
        if exc.response is None:
            # No answer at all (connection refused, timeout): anymail wraps requests' error.
            return TemporaryProviderError(f"ESP unreachable: {str(exc)[:300]}")
        code = exc.status_code or 0
        if code == 429 or code >= 500:
            return TemporaryProviderError(f"ESP answered {code}")
        return PermanentProviderError(f"ESP answered {code}: {str(exc)[:300]}")
    if isinstance(exc, AnymailAPIError):
        return TemporaryProviderError(str(exc)[:300])
    if isinstance(exc, AnymailError):
        return PermanentProviderError(str(exc)[:300])
    # OSError: connection refused, timeout: the ESP may be back soon.
    return TemporaryProviderError(str(exc)[:300])


def _esp() -> str:
    backend = settings.INBOX_EMAIL_BACKEND
    return backend.split(".")[-2] if "anymail" in backend else "outbox"


def _receipt(email: EmailMultiAlternatives, message: OutboundMessage, esp: str) -> Receipt:
    status = getattr(email, "anymail_status", None)
    provider_id = (status.message_id if status is not None else None) or message.message_id
    return Receipt(provider=esp, provider_message_id=str(provider_id))


def send(message: OutboundMessage) -> Receipt:
    """Send through the configured ESP backend; errors say whether to retry."""
    email = _email(message, get_connection(settings.INBOX_EMAIL_BACKEND))
    try:
        email.send()
    except (AnymailError, OSError) as exc:
        raise _error(exc) from exc
    return _receipt(email, message, _esp())


def _environment_once(connection: Any) -> None:
    """Read the proxy and CA bundle settings from the environment once for the connection.

    requests looks them up again for every request of a session that trusts the environment:
    it scans ``os.environ`` (twice) for ``*_proxy`` variables, about a quarter of the client's
    CPU per message to a nearby ESP. Resolved once for the backend's API URL, the same settings
    apply to every message of the batch.
    https://requests.readthedocs.io/en/latest/user/advanced/#proxies
    """
    session = getattr(connection, "session", None)
    api_url = getattr(connection, "api_url", None)
    if not isinstance(session, requests.Session) or not session.trust_env or not api_url:
        return
    session.proxies.update(requests.utils.get_environ_proxies(api_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False


def send_many(
    messages: Iterable[OutboundMessage],
) -> Generator[Receipt | ProviderError, None, None]:
    """Send messages one after another over one connection to the ESP, yielding each one's
    receipt or error as soon as it is known, so the caller can record it before the next goes
    out (a crash then leaves at most the message in flight unrecorded).

    Anymail has no batch call for distinct messages: its ESP batch APIs (Postmark's
    ``email/batch``, Mailgun's and SendGrid's recipient variables…) send one message with
    per-recipient merge data rendered by the ESP's templates, and anymail's ``send_messages``
    posts each message on its own. What one connection gives is the ESP client's HTTP session:
    keep-alive instead of a new connection (and TLS handshake) per message.
    https://anymail.dev/en/stable/sending/templates/#batch-send
    Closing the generator (or leaving it unfinished) closes the connection.
    """
    connection = get_connection(settings.INBOX_EMAIL_BACKEND)
    opened = connection.open()
    _environment_once(connection)
    esp = _esp()
    try:
        for message in messages:
            email = _email(message, connection)
            try:
                email.send()
            except (AnymailError, OSError) as exc:
                yield _error(exc)
                continue
            yield _receipt(email, message, esp)
    finally:
        if opened:
            connection.close()


def connect(
    *, on_message: Callable[[InboundMessage], None], on_status: Callable[[DeliveryStatus], None]
) -> None:
    """Hand every inbound email and tracking event, parsed, to the two callbacks.

    The callbacks run inside anymail's webhook view: it answers 200 only when they return, so
    they must store the notification durably (an exception answers 500 and the ESP retries).
    """

    def _inbound(sender: Any, event: AnymailInboundEvent, esp_name: str, **kwargs: Any) -> None:
        on_message(parse_inbound(event, esp_name))

    def _tracking(sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
        status = parse_tracking(event, esp_name)
        if status is None:
            logger.info("inbox.email.tracking_ignored", extra={"event_type": str(event.event_type)})
            return
        on_status(status)

    inbound.connect(_inbound, weak=False, dispatch_uid="cxm-anymail-inbound")
    tracking.connect(_tracking, weak=False, dispatch_uid="cxm-anymail-tracking")


def webhook_urlpatterns() -> list[Any]:
    """Anymail's ``/<esp>/inbound/`` and ``/<esp>/tracking/`` views, closed until a webhook
    secret is set (so an unsigned intake is never open) and refusing oversized posts early."""
    from functools import wraps

    from anymail import urls as anymail_urls
    from django.http import HttpRequest, HttpResponse
    from django.urls import URLPattern

    def guarded(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
                logger.info("inbox.email.webhook_without_secret")
                return HttpResponse(
                    "Email webhooks are off until ANYMAIL_WEBHOOK_SECRET is set.", status=404
                )
            try:
                length = int(request.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if length > settings.INBOX_MAX_EMAIL_BYTES:
                return HttpResponse("Email too large.", status=413)
            try:
                return view(request, *args, **kwargs)
            except (ValueError, KeyError, TypeError, AnymailError) as exc:
                # A payload we cannot read is the sender's problem: 400, and a log key. (Storage
                # errors are not caught: they answer 500 so the ESP retries.)
                logger.info("inbox.email.malformed", extra={"error": type(exc).__name__})
                return HttpResponse("Malformed webhook payload.", status=400)

        return wrapped

    return [
        URLPattern(p.pattern, guarded(p.callback), p.default_args, p.name)
        for p in anymail_urls.urlpatterns
        if isinstance(p, URLPattern)
    ]

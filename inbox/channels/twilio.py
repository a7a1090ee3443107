"""SMS and WhatsApp through Twilio: signed inbound and status-callback webhooks, outbound sends.

Signatures are checked against the public URL Twilio called, built from ``PUBLIC_BASE_URL``
(behind a proxy, ``request.build_absolute_uri()`` would be the internal URL and every signature
would fail). https://www.twilio.com/docs/usage/webhooks/webhooks-security
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from inbox.channels.base import (
    DeliveryStatus,
    InboundMessage,
    InvalidSignature,
    OutboundMessage,
    PermanentProviderError,
    Receipt,
    TemporaryProviderError,
)

logger = logging.getLogger(__name__)

WHATSAPP_PREFIX = "whatsapp:"
# Twilio MessageStatus → our delivery status. https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
_STATUS = {
    "accepted": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "opened",
    "undelivered": "failed",
    "failed": "failed",
}
# Error codes that mean "never send to this number again": 21610 is "unsubscribed (STOP)".
_SUPPRESS = {"21610", "21614", "63024"}


def verify(*, path: str, params: Mapping[str, str], signature: str) -> None:
    url = settings.PUBLIC_BASE_URL + path
    if not settings.TWILIO_AUTH_TOKEN or not RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(
        url, dict(params), signature
    ):
        raise InvalidSignature("X-Twilio-Signature does not match")


def _strip(address: str) -> tuple[str, str]:
    """('whatsapp', '+316…') or ('sms', '+316…')."""
    if address.startswith(WHATSAPP_PREFIX):
        return "whatsapp", address[len(WHATSAPP_PREFIX) :]
    return "sms", address


def parse_inbound(params: Mapping[str, str]) -> InboundMessage:
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if not sid or not params.get("From"):
        raise ValueError("not a Twilio message: MessageSid and From are required")
    channel, sender = _strip(params["From"])
    _kind, recipient = _strip(params.get("To", ""))
    try:
        media_count = min(10, int(params.get("NumMedia", "0") or 0))
    except ValueError:
        media_count = 0
    media = tuple(params[f"MediaUrl{i}"] for i in range(media_count) if params.get(f"MediaUrl{i}"))
    return InboundMessage(
        provider="twilio",
        provider_id=sid[:255],
        channel=channel,
        from_address=sender[:254],
        to_address=recipient[:254],
        text=(params.get("Body") or "")[:10_000],
        from_name=(params.get("ProfileName") or "")[:200],
        media_urls=media,
    )


def parse_status(params: Mapping[str, str]) -> DeliveryStatus:
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    raw = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or raw not in _STATUS:
        raise ValueError("not a Twilio status callback")
    code = params.get("ErrorCode") or ""
    _channel, recipient = _strip(params.get("To", ""))
    return DeliveryStatus(
        provider="twilio",
        provider_id=f"{sid}:{raw}",
        provider_message_id=sid,
        status=_STATUS[raw],
        recipient=recipient,
        reason=f"Twilio error {code}" if code else "",
        hard=code in _SUPPRESS,
        suppress_reason=("stop" if code == "21610" else "bounce") if code in _SUPPRESS else "",
    )


class _BaseUrlHttpClient(TwilioHttpClient):
    """Sends every API call to ``TWILIO_API_BASE_URL`` (a stub server in tests, never the internet)."""

    def __init__(self, base_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self._base = urlsplit(base_url)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        url = urlunsplit(
            (self._base.scheme, self._base.netloc, parts.path, parts.query, parts.fragment)
        )
        return super().request(method, url, *args, **kwargs)


@cache
def _client() -> Client:
    http_client = (
        _BaseUrlHttpClient(settings.TWILIO_API_BASE_URL, timeout=10)
        if settings.TWILIO_API_BASE_URL
        else TwilioHttpClient(timeout=10)
    )
    return Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client)


def send(message: OutboundMessage) -> Receipt:
    prefix = WHATSAPP_PREFIX if message.channel == "whatsapp" else ""
    # A channel account's address is a number, or a Messaging Service SID ("MG…", which picks
    # the number from its pool); pacing keys on it either way.
    sender = (
        {"messaging_service_sid": message.from_address}
        if message.from_address.startswith("MG")
        else {"from_": prefix + message.from_address}
    )
    try:
        created = _client().messages.create(
            to=prefix + message.to_address,
            **sender,
            body=message.text,
            status_callback=message.status_callback or None,
            media_url=list(message.media_urls) or None,
        )
    except TwilioRestException as exc:
        if exc.status == 429 or exc.status >= 500:
            raise TemporaryProviderError(f"Twilio answered {exc.status}") from exc
        reason = f"Twilio error {exc.code}: {exc.msg}"[:300]
        raise PermanentProviderError(reason) from exc
    except (TwilioException, OSError) as exc:
        raise TemporaryProviderError(str(exc)[:300]) from exc
    return Receipt(
        provider="twilio",
        provider_message_id=str(created.sid),
        status=_STATUS.get(str(created.status), "sent"),
    )


MAX_MEDIA_BYTES = 10 * 1024 * 1024


def fetch_media(url: str) -> tuple[bytes, str]:
    """Download one inbound media item (Twilio answers only with the account's credentials).
    Raises ``TemporaryProviderError`` when it cannot be had now, ``PermanentProviderError``
    when it never will (gone, too large)."""
    import requests  # twilio's own HTTP library; its client decodes bodies as text

    if settings.TWILIO_API_BASE_URL:
        base, parts = urlsplit(settings.TWILIO_API_BASE_URL), urlsplit(url)
        url = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))
    try:
        response = requests.get(
            url,
            auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN),
            timeout=20,
            stream=True,
        )
        content = response.raw.read(MAX_MEDIA_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise TemporaryProviderError(str(exc)[:300]) from exc
    if response.status_code in (404, 410):
        raise PermanentProviderError(f"media gone ({response.status_code})")
    if response.status_code >= 400:
        raise TemporaryProviderError(f"media fetch answered {response.status_code}")
    if len(content) > MAX_MEDIA_BYTES:
        raise PermanentProviderError("media larger than 10 MB")
    return content, response.headers.get("Content-Type", "application/octet-stream").split(";")[
        0
    ].strip()

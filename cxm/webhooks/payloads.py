"""What goes on the wire: the signed JSON body, or a Slack message for detractor alerts."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext as _

from cxm.webhooks.models import TEST_EVENT, Event, WebhookSubscription


def customer_summary(customer: Any) -> dict[str, Any] | None:
    """The ``customer`` object of every event payload (None for no customer)."""
    if customer is None:
        return None
    return {
        "id": customer.pk,
        "external_id": customer.external_id,
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
    }


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """HMAC-SHA256 of ``"<timestamp>." + body``, in hex: how cxm signs the webhooks it sends
    and checks the events other tools send it (``journeys.services.ingestion``)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    """``t=<unix>,v1=<hex>[,v1=<hex>]``: ``sign`` with each secret (two while a rotated secret
    is still honoured)."""
    return ",".join([f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in secrets)])


def json_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(
        payload, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")
    ).encode()


def is_alert(event: str, data: dict[str, Any]) -> bool:
    """The events a Slack-format subscription receives: a detractor's response, a follow-up
    opened (and the test event). Everything else is skipped for Slack subscriptions."""
    if event == Event.RESPONSE_SUBMITTED:
        return data.get("band") == "negative"
    return event in (Event.FOLLOWUP_OPENED, TEST_EVENT)


TEXT_TYPES = {"short_text", "long_text"}


def _escape(text: Any) -> str:
    # Slack's mrkdwn: only these three are control characters.
    # https://api.slack.com/reference/surfaces/formatting#escaping
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: Any, label: str) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return ""
    return f"<{url.replace('>', '%3E').replace('|', '%7C')}|{_escape(label)}>"


def _customer_line(data: dict[str, Any]) -> str:
    customer = data.get("customer") or {}
    name = customer.get("name") or customer.get("email") or ""
    if not name and data.get("customer_id"):
        name = _("customer %(id)s") % {"id": data["customer_id"]}
    return _escape(name) if name else _("an anonymous respondent")


def _comments(data: dict[str, Any]) -> list[str]:
    texts = []
    for answer in data.get("answers") or []:
        if answer.get("type") in TEXT_TYPES and answer.get("value"):
            texts.append(_escape(str(answer["value"])[:500]))
    return texts


def slack_message(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (notifications, and clients without blocks)
    and ``blocks`` (https://api.slack.com/messaging/webhooks)."""
    if event == Event.RESPONSE_SUBMITTED:
        survey = (data.get("survey") or {}).get("name") or ""
        headline = _("Detractor alert: %(score)s on “%(survey)s” from %(customer)s") % {
            "score": data.get("score"),
            "survey": _escape(survey),
            "customer": _customer_line(data),
        }
        details = [f"> {text}" for text in _comments(data)]
        link = _link(data.get("url"), _("Open the response in cxm"))
    elif event == Event.FOLLOWUP_OPENED:
        headline = _("Follow-up opened for %(customer)s") % {"customer": _customer_line(data)}
        details = []
        for key, label in (
            ("owner", _("Owner")),
            ("due_at", _("Due")),
            ("reason", _("Reason")),
            ("score", _("Score")),
        ):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("name") or value.get("email") or value.get("id")
            if value not in (None, ""):
                details.append(f"*{_escape(label)}:* {_escape(value)}")
        details += [f"> {text}" for text in _comments(data)]
        link = _link(data.get("url"), _("Open the follow-up in cxm"))
    else:
        headline = _("Test message from cxm: this Slack webhook works.")
        details = []
        link = ""
    body = "\n".join([f"*{headline}*", *details])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}}
    ]
    if link:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    return {"text": headline.replace("*", "")[:300], "blocks": blocks}


def body_for(*, format: str, payload: dict[str, Any]) -> bytes:
    if format == WebhookSubscription.Format.SLACK:
        return json_body(slack_message(payload["event"], payload.get("data") or {}))
    return json_body(payload)

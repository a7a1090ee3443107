"""Signed webhook ingestion for systems that cannot set our headers.

The sender signs ``"<timestamp>.<raw body>"`` with HMAC-SHA256 and its source secret, and sends
the hex digest and the timestamp as query parameters (``?timestamp=…&signature=…``) or as the
``X-Cxm-Timestamp`` / ``X-Cxm-Signature`` headers when it can. A body delivered twice yields
the same event keys (derived from its digest), so a redelivery is absorbed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from cxm.errors import ApplicationError
from cxm.webhooks.payloads import sign
from journeys.models import IngestionSource

MAX_SKEW_SECONDS = 300


def source_create(*, name: str, user: Any) -> IngestionSource:
    return IngestionSource.objects.create(
        name=name.strip(), secret="whsec_" + secrets.token_urlsafe(32), created_by=user
    )


def source_revoke(*, source: IngestionSource) -> IngestionSource:
    if source.revoked_at is None:
        source.revoked_at = timezone.now()
        source.save(update_fields=["revoked_at"])
    return source


class SignatureError(ApplicationError):
    status_code = 401
    code = "bad_signature"


def source_verify(
    *, source_id: int, timestamp: str, signature: str, body: bytes
) -> IngestionSource:
    """The active source whose secret signed this body within the last five minutes."""
    source = IngestionSource.objects.filter(pk=source_id, revoked_at__isnull=True).first()
    if source is None or not signature or not timestamp:
        raise SignatureError(_("Unknown source or missing signature."), field="signature")
    try:
        skew = abs(time.time() - int(timestamp))
    except ValueError:
        raise SignatureError(_("The timestamp must be Unix seconds."), field="timestamp") from None
    if skew > MAX_SKEW_SECONDS:
        raise SignatureError(
            _("The timestamp is more than five minutes off; sign with the current time."),
            field="timestamp",
        )
    if not hmac.compare_digest(sign(source.secret, timestamp, body), signature.lower()):
        raise SignatureError(_("The signature does not match the body."), field="signature")
    if source.last_used_at is None or (timezone.now() - source.last_used_at).total_seconds() > 60:
        IngestionSource.objects.filter(pk=source.pk).update(last_used_at=timezone.now())
    return source


def body_key(source: IngestionSource, body: bytes) -> str:
    """Event keys for a webhook body: the same body from the same source maps to the same keys."""
    return f"src{source.pk}:{hashlib.sha256(body).hexdigest()[:32]}"

"""Audit trail and idempotent request handling."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cxm.core.models import AuditEntry, IdempotencyRecord, Notification
from cxm.errors import Conflict

IDEMPOTENCY_TTL = dt.timedelta(days=7)


def audit_record(
    *, action: str, actor: Any, object_type: str, object_id: Any, data: dict[str, Any] | None = None
) -> AuditEntry:
    return AuditEntry.objects.create(
        action=action,
        actor=actor if getattr(actor, "pk", None) else None,
        object_type=object_type,
        object_id=str(object_id),
        data=data or {},
    )


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any
    replayed: bool


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def idempotent_call(
    *, scope: str, key: str, owner_id: int, body: Any, handler: Callable[[], tuple[int, Any]]
) -> StoredResponse:
    """Run ``handler`` once per (scope, owner, key); a replay returns the first answer unchanged.

    The answer is stored in the same transaction as the handler's writes, so either both are
    kept or neither. Reusing a key for a different request body is a conflict, not a replay.
    """
    digest = request_hash(body)
    existing = IdempotencyRecord.objects.filter(scope=scope, owner_id=owner_id, key=key).first()
    if existing is not None:
        return _replay(existing, digest)
    try:
        with transaction.atomic():
            status_code, response = handler()
            IdempotencyRecord.objects.create(
                scope=scope,
                key=key,
                owner_id=owner_id,
                request_hash=digest,
                status_code=status_code,
                response=response,
            )
    except IntegrityError:
        # A concurrent request with the same key won the race; its transaction (and answer) stands.
        existing = IdempotencyRecord.objects.filter(scope=scope, owner_id=owner_id, key=key).first()
        if existing is None:
            raise
        return _replay(existing, digest)
    return StoredResponse(status_code=status_code, body=response, replayed=False)


def _replay(record: IdempotencyRecord, digest: str) -> StoredResponse:
    if record.request_hash != digest:
        raise Conflict(
            _("This Idempotency-Key was already used for a different request."),
            field="Idempotency-Key",
        )
    return StoredResponse(status_code=record.status_code, body=record.response, replayed=True)


def idempotency_records_purge() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(
        created_at__lt=timezone.now() - IDEMPOTENCY_TTL
    ).delete()
    return deleted


def notification_send(*, user: Any, text: str, url: str = "", email: bool = False) -> Notification:
    """Notify a user in the app (and by email, after commit, when asked)."""
    notice = Notification.objects.create(user=user, text=text[:300], url=url[:500])
    if email and user.email:
        from cxm.jobs import Job, enqueue_on_commit

        enqueue_on_commit(Job.CORE_NOTIFICATION_EMAIL, notification_id=notice.pk)
    return notice


def notification_email_send(*, notification_id: int, base_url: str) -> None:
    from django.core.mail import send_mail
    from django.utils import translation

    notice = Notification.objects.select_related("user").filter(pk=notification_id).first()
    if notice is None or not notice.user.is_active:
        return
    with translation.override(notice.user.language):
        link = f"{base_url}{notice.url}" if notice.url else base_url
        send_mail(
            subject=notice.text[:120],
            message=f"{notice.text}\n\n{link}\n",
            from_email=None,
            recipient_list=[notice.user.email],
        )


def notifications_mark_read(*, user: Any) -> int:
    from django.utils import timezone as tz

    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=tz.now())

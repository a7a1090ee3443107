"""Outgoing webhooks: events other tools subscribe to.

Publishing (``event_publish``) only writes delivery rows, in the caller's transaction, and asks
for one task per event after commit: no HTTP call ever happens in a request. The task
(``deliveries_attempt``) claims each of the event's rows on its own, sends outside any
transaction, and records the attempt; after a failed or slow attempt the event's remaining rows
become tasks of their own, and a failure is retried with exponential backoff by the beat sweep
(``deliveries_requeue``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from cxm.core.services import audit_record
from cxm.errors import ApplicationError, Conflict
from cxm.jobs import Job, enqueue_on_commit
from cxm.webhooks import payloads, transport
from cxm.webhooks.models import (
    TEST_EVENT,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    new_secret,
)

logger = logging.getLogger(__name__)

SUBSCRIPTIONS_CACHE_KEY = "webhooks:subscriptions"
SUBSCRIPTIONS_CACHE_SECONDS = 30
MAX_ATTEMPTS = 10
BASE_DELAY = 30  # seconds before the first retry; doubled after every failed attempt
MAX_DELAY = 6 * 3600
# Longer than a send can take (name resolution + transport.TOTAL_TIMEOUT): a duplicate task
# leaves a claimed delivery alone.
CLAIM = dt.timedelta(seconds=60)
# A delivery that is due and whose task has not claimed it this long after it was queued is
# taken to have lost its task (a wiped broker, a killed worker), and the sweep queues another.
REQUEUE_AFTER = dt.timedelta(minutes=5)
SWEEP_BATCH = 1000
SWEEP_TASK_SIZE = 20
# An attempt slower than this (or failed) hands the rest of its task's deliveries to tasks of
# their own, so a bad receiver holds up the others by one attempt at most.
SLOW_ATTEMPT = 1.0
ROTATION_GRACE = dt.timedelta(hours=24)
KEEP = dt.timedelta(days=30)
USER_AGENT = "cxm-webhooks/1"

Subscribed = tuple[int, tuple[str, ...], str]  # (id, events, format)


def retry_delay(attempt: int) -> int:
    """Seconds to wait after the ``attempt``-th failed attempt: 30 s × 2^(n-1), at most 6 h."""
    return int(min(BASE_DELAY * 2 ** (max(attempt, 1) - 1), MAX_DELAY))


# ------------------------------------------------------------------------------------------------
# Publishing
# ------------------------------------------------------------------------------------------------
def _subscriptions() -> list[Subscribed]:
    """The active subscriptions, cached briefly: publishing costs no query when nobody listens."""
    try:
        cached = cache.get(SUBSCRIPTIONS_CACHE_KEY)
    except Exception:  # the cache is an optimisation; a broken one must not stop the caller
        cached = None
    if cached is not None:
        return cached
    rows = [
        (pk, tuple(events or ()), fmt)
        for pk, events, fmt in WebhookSubscription.objects.filter(
            is_active=True, deleted_at__isnull=True
        )
        .order_by("id")
        .values_list("id", "events", "format")
    ]
    # Shared even when read inside a transaction: the only rows such a read sees that others
    # do not are subscriptions created by that transaction, and the services that create them
    # publish nothing (and forget the list again at commit).
    try:
        cache.set(SUBSCRIPTIONS_CACHE_KEY, rows, SUBSCRIPTIONS_CACHE_SECONDS)
    except Exception:
        logger.warning("webhooks.cache.unavailable")
    return rows


def subscriptions_changed() -> None:
    """Forget the cached list, now and once the change is committed."""

    def forget() -> None:
        try:
            cache.delete(SUBSCRIPTIONS_CACHE_KEY)
        except Exception:
            logger.warning("webhooks.cache.unavailable")

    forget()
    transaction.on_commit(forget)


def event_subscribed(event: str) -> bool:
    """Does any active subscription want ``event``? Publishers check this before they build a
    payload that costs queries."""
    return any(event in events for _pk, events, _fmt in _subscriptions())


def event_publish(event: str, data: dict[str, Any]) -> None:
    """Queue one delivery of ``event`` to each active subscription to it, after commit."""
    matching = [
        (pk, fmt)
        for pk, events, fmt in _subscriptions()
        if event in events
        and (fmt != WebhookSubscription.Format.SLACK or payloads.is_alert(event, data))
    ]
    if not matching:
        return
    _deliveries_create(event=event, data=data, targets=matching)


def _deliveries_create(
    *, event: str, data: dict[str, Any], targets: Sequence[tuple[int, str]]
) -> list[WebhookDelivery]:
    now = timezone.now()
    payload = {
        "id": f"evt_{uuid.uuid4().hex}",
        "event": event,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    rows = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                subscription_id=pk,
                event=event,
                payload=payload,
                format=fmt,
                next_attempt_at=now,
                queued_at=now,
            )
            for pk, fmt in targets
        ]
    )
    # One task for the event's deliveries: a task costs a broker message and (Celery closes
    # Django's connections around every task) a new database connection, which is most of a
    # delivery's cost (docs/performance.md). ``deliveries_attempt`` keeps them independent.
    enqueue_on_commit(Job.WEBHOOKS_DELIVER, delivery_ids=[row.pk for row in rows])
    return rows


# ------------------------------------------------------------------------------------------------
# Sending
# ------------------------------------------------------------------------------------------------
_DELIVERY_COLUMNS = ("id", "subscription_id", "event", "payload", "format", "attempts", "cycle")
_SUBSCRIPTION_COLUMNS = (
    "url",
    "secret",
    "previous_secret",
    "previous_secret_expires_at",
    "is_active",
    "deleted_at",
)


def _one_statement() -> bool:
    """PostgreSQL takes the claim and the record in one statement each; other databases (the
    embedded SQLite default) take the portable ORM path."""
    return connection.vendor == "postgresql"


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Take the delivery for one attempt, if it is still pending, due and not being sent: one
    conditional UPDATE, so of two tasks racing for it exactly one wins."""
    now = timezone.now()
    if _one_statement():
        return _claim_returning(delivery_id, now)
    won = (
        WebhookDelivery.objects.filter(
            pk=delivery_id,
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now + dt.timedelta(seconds=5),
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(attempts=F("attempts") + 1, claimed_until=now + CLAIM, updated_at=now)
    )
    if not won:
        return None
    return WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)


def _claim_returning(delivery_id: int, now: dt.datetime) -> WebhookDelivery | None:
    """``_claim`` in one round trip on PostgreSQL: the conditional UPDATE returns the delivery
    with its subscription (joined). Per delivery, statements are most of the send path's cost
    (docs/performance.md)."""
    adapt = connection.ops.adapt_datetimefield_value
    deliveries = WebhookDelivery._meta.db_table
    subscriptions = WebhookSubscription._meta.db_table
    returning = [f"d.{c}" for c in _DELIVERY_COLUMNS] + [f"s.{c}" for c in _SUBSCRIPTION_COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {deliveries} AS d SET attempts = d.attempts + 1, claimed_until = %s, "  # noqa: S608 - our tables
            f"updated_at = %s FROM {subscriptions} AS s "
            "WHERE d.id = %s AND s.id = d.subscription_id AND d.status = %s "
            "AND d.next_attempt_at <= %s AND (d.claimed_until IS NULL OR d.claimed_until <= %s) "
            f"RETURNING {', '.join(returning)}",
            [
                adapt(now + CLAIM),
                adapt(now),
                delivery_id,
                WebhookDelivery.Status.PENDING.value,
                adapt(now + dt.timedelta(seconds=5)),
                adapt(now),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    values = dict(zip(_DELIVERY_COLUMNS, row[: len(_DELIVERY_COLUMNS)], strict=True))
    if isinstance(values["payload"], str):
        values["payload"] = json.loads(values["payload"])
    delivery = WebhookDelivery(**values)
    delivery.subscription = WebhookSubscription(
        id=values["subscription_id"],
        **dict(zip(_SUBSCRIPTION_COLUMNS, row[len(_DELIVERY_COLUMNS) :], strict=True)),
    )
    return delivery


def _secrets(subscription: WebhookSubscription, now: dt.datetime) -> list[str]:
    keys = [subscription.secret]
    if (
        subscription.previous_secret
        and subscription.previous_secret_expires_at
        and subscription.previous_secret_expires_at > now
    ):
        keys.append(subscription.previous_secret)
    return keys


def deliveries_attempt(*, delivery_ids: Sequence[int]) -> int:
    """Send a task's deliveries one after another (an event's, to each subscriber; or a batch
    of due retries), each claimed on its own. After an attempt that failed or was slow, the
    rest go out as tasks of their own, in parallel on other workers. Returns how many this
    call attempted."""
    ids = list(dict.fromkeys(delivery_ids))
    for n, pk in enumerate(ids):
        started = time.monotonic()
        delivery = delivery_attempt(delivery_id=pk)
        rest = ids[n + 1 :]
        if (
            rest
            and delivery is not None
            and (
                delivery.status != WebhookDelivery.Status.SUCCEEDED
                or time.monotonic() - started > SLOW_ATTEMPT
            )
        ):
            for other in rest:
                enqueue_on_commit(Job.WEBHOOKS_DELIVER, delivery_ids=[other])
            return n + 1
    return len(ids)


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """Send one delivery once, if it is due. Safe to run twice: a delivery that is finished,
    not due, or claimed by another task is left alone."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    subscription = delivery.subscription
    now = timezone.now()
    if not subscription.is_active or subscription.deleted_at is not None:
        WebhookDelivery.objects.filter(pk=delivery.pk, cycle=delivery.cycle).update(
            status=WebhookDelivery.Status.FAILED,
            attempts=F("attempts") - 1,
            claimed_until=None,
            next_attempt_at=None,
            last_error=_("Not sent: the subscription is switched off or deleted."),
            updated_at=now,
        )
        return delivery
    body = payloads.body_for(format=delivery.format, payload=delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Cxm-Event": delivery.event,
        "X-Cxm-Delivery": str(delivery.pk),
        "X-Cxm-Signature": payloads.signature_header(
            _secrets(subscription, now), int(time.time()), body
        ),
    }
    started = timezone.now()
    outcome = transport.post(subscription.url, body, headers)
    return _attempt_record(delivery, started, outcome)


def _text(value: str, limit: int) -> str:
    # PostgreSQL text cannot hold NUL; a receiver's garbage (and errors quoting it) may.
    return value.replace("\x00", "\ufffd")[:limit]


def _attempt_record(
    delivery: WebhookDelivery, started: dt.datetime, outcome: transport.Outcome
) -> WebhookDelivery:
    now = timezone.now()
    error = _text(outcome.error, 500)
    changes: dict[str, Any] = {
        "claimed_until": None,
        "last_status_code": outcome.status_code,
        "last_error": error,
        "updated_at": now,
    }
    if outcome.ok:
        changes.update(
            status=WebhookDelivery.Status.SUCCEEDED, next_attempt_at=None, delivered_at=now
        )
        key = "webhooks.delivery.succeeded"
    elif outcome.permanent or delivery.attempts >= MAX_ATTEMPTS:
        changes.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
        key = "webhooks.delivery.failed"
    else:
        # The sweep queues it when due (queued_at cleared: no task is waiting for it).
        changes.update(
            next_attempt_at=now + dt.timedelta(seconds=retry_delay(delivery.attempts)),
            queued_at=None,
        )
        key = "webhooks.delivery.retry"
    attempt = WebhookAttempt(
        delivery_id=delivery.pk,
        cycle=delivery.cycle,
        number=delivery.attempts,
        started_at=started,
        duration_ms=outcome.duration_ms,
        status_code=outcome.status_code,
        response_excerpt=_text(outcome.excerpt, transport.EXCERPT_CHARS),
        error=error,
    )
    if _one_statement():
        _attempt_write_one_statement(attempt, delivery, changes)
    else:
        with transaction.atomic():
            attempt.save(force_insert=True)
            # Only the cycle that was claimed: a replay meanwhile started a new one.
            WebhookDelivery.objects.filter(pk=delivery.pk, cycle=delivery.cycle).update(**changes)
    logger.info(
        key,
        extra={
            "delivery_id": delivery.pk,
            "subscription_id": delivery.subscription_id,
            "attempt": delivery.attempts,
            "status_code": outcome.status_code,
        },
    )
    for name, value in changes.items():
        setattr(delivery, name, value)
    return delivery


def _attempt_write_one_statement(
    attempt: WebhookAttempt, delivery: WebhookDelivery, changes: dict[str, Any]
) -> None:
    """The attempt and the delivery's new state in one statement (a data-modifying CTE: one
    round trip, atomic on its own), only for the claimed cycle."""
    adapt = connection.ops.adapt_datetimefield_value

    def value(v: Any) -> Any:
        return adapt(v) if isinstance(v, dt.datetime) else v

    columns = (
        "delivery_id",
        "cycle",
        "number",
        "started_at",
        "duration_ms",
        "status_code",
        "response_excerpt",
        "error",
    )
    sets = ", ".join(f"{name} = %s" for name in changes)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH attempt AS (INSERT INTO {WebhookAttempt._meta.db_table} "  # noqa: S608 - our tables
            f"({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})) "
            f"UPDATE {WebhookDelivery._meta.db_table} SET {sets} WHERE id = %s AND cycle = %s",
            [
                *(value(getattr(attempt, c)) for c in columns),
                *(value(v) for v in changes.values()),
                delivery.pk,
                delivery.cycle,
            ],
        )


def deliveries_requeue(*, limit: int = SWEEP_BATCH) -> int:
    """Beat's sweep: queue a task for each pending delivery that is due, not being sent, and
    has no recently queued task (a retry whose time has come, or a lost task)."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
            .filter(Q(queued_at__isnull=True) | Q(queued_at__lte=now - REQUEUE_AFTER))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(queued_at=now)
        for start in range(0, len(ids), SWEEP_TASK_SIZE):
            enqueue_on_commit(
                Job.WEBHOOKS_DELIVER, delivery_ids=ids[start : start + SWEEP_TASK_SIZE]
            )
        if len(ids) == limit:
            enqueue_on_commit(Job.WEBHOOKS_SWEEP)
    if ids:
        logger.info("webhooks.sweep.queued", extra={"count": len(ids)})
    return len(ids)


def deliveries_purge(*, now: dt.datetime | None = None) -> int:
    """Daily: finished deliveries older than 30 days (with their attempts), and subscriptions
    deleted more than a day ago."""
    now = now or timezone.now()
    deleted = 0
    while True:
        ids = list(
            WebhookDelivery.objects.filter(created_at__lt=now - KEEP)
            .exclude(status=WebhookDelivery.Status.PENDING)
            .values_list("pk", flat=True)[:5000]
        )
        if not ids:
            break
        WebhookAttempt.objects.filter(delivery_id__in=ids).delete()
        deleted += WebhookDelivery.objects.filter(pk__in=ids).delete()[0]
    for subscription in WebhookSubscription.objects.filter(
        deleted_at__lt=now - dt.timedelta(days=1)
    ):
        WebhookAttempt.objects.filter(delivery__subscription=subscription).delete()
        WebhookDelivery.objects.filter(subscription=subscription).delete()
        subscription.delete()
    return deleted


# ------------------------------------------------------------------------------------------------
# Subscriptions (the admin pages)
# ------------------------------------------------------------------------------------------------
def _clean(
    *, name: str, url: str, events: Sequence[str], format: str
) -> tuple[str, str, list[str], str]:
    name = name.strip()
    if not name:
        raise ApplicationError(_("Give the subscription a name."), field="name")
    known = set(Event.values)
    chosen = [e for e in Event.values if e in set(events)]
    unknown = sorted(set(events) - known)
    if unknown:
        raise ApplicationError(
            _("Unknown event: %(events)s.") % {"events": ", ".join(unknown)}, field="events"
        )
    if not chosen:
        raise ApplicationError(_("Choose at least one event."), field="events")
    if format not in WebhookSubscription.Format.values:
        raise ApplicationError(_("Choose JSON or Slack."), field="format")
    if format == WebhookSubscription.Format.SLACK and not set(chosen) & {
        Event.RESPONSE_SUBMITTED,
        Event.FOLLOWUP_OPENED,
    }:
        raise ApplicationError(
            _(
                "A Slack subscription only sends detractor alerts: choose “A survey response "
                "was submitted” or “A follow-up was opened”."
            ),
            field="events",
        )
    try:
        transport.destination_check(url)
    except transport.DestinationRefused as exc:
        raise ApplicationError(str(exc), field="url") from exc
    return name, url.strip(), chosen, format


def subscription_create(
    *,
    name: str,
    url: str,
    events: Sequence[str],
    format: str = "json",
    is_active: bool = True,
    by: Any,
) -> WebhookSubscription:
    # Checked before the transaction: the URL check resolves the host name (a network call).
    name, url, chosen, format = _clean(name=name, url=url, events=events, format=format)
    with transaction.atomic():
        subscription = WebhookSubscription.objects.create(
            name=name,
            url=url,
            events=chosen,
            format=format,
            is_active=is_active,
            created_by=by if getattr(by, "pk", None) else None,
        )
        audit_record(
            action="webhook.created",
            actor=by,
            object_type="webhooks.subscription",
            object_id=subscription.pk,
            data={"name": name, "url": url, "events": chosen, "format": format},
        )
        subscriptions_changed()
    return subscription


def subscription_update(
    *,
    subscription: WebhookSubscription,
    name: str,
    url: str,
    events: Sequence[str],
    format: str,
    is_active: bool,
    by: Any,
) -> WebhookSubscription:
    # Checked before the transaction: the URL check resolves the host name (a network call).
    name, url, chosen, format = _clean(name=name, url=url, events=events, format=format)
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        locked.name, locked.url, locked.events = name, url, chosen
        locked.format, locked.is_active = format, is_active
        locked.save(update_fields=["name", "url", "events", "format", "is_active", "updated_at"])
        audit_record(
            action="webhook.updated",
            actor=by,
            object_type="webhooks.subscription",
            object_id=locked.pk,
            data={
                "name": name,
                "url": url,
                "events": chosen,
                "format": format,
                "active": is_active,
            },
        )
        subscriptions_changed()
    return locked


@transaction.atomic
def subscription_delete(*, subscription: WebhookSubscription, by: Any) -> None:
    """Hide it and stop its sends now; the rows go with the daily purge (see ``deleted_at``)."""
    now = timezone.now()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        deleted_at=now, is_active=False, updated_at=now
    )
    WebhookDelivery.objects.filter(
        subscription=subscription, status=WebhookDelivery.Status.PENDING
    ).update(
        status=WebhookDelivery.Status.FAILED,
        next_attempt_at=None,
        last_error=_("Not sent: the subscription was deleted."),
        updated_at=now,
    )
    audit_record(
        action="webhook.deleted",
        actor=by,
        object_type="webhooks.subscription",
        object_id=subscription.pk,
        data={"name": subscription.name, "url": subscription.url},
    )
    subscriptions_changed()


@transaction.atomic
def subscription_secret_rotate(*, subscription: WebhookSubscription, by: Any) -> str:
    """A new secret from now on; the old one still signs (as a second ``v1=``) for 24 hours."""
    locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    locked.previous_secret = locked.secret
    locked.previous_secret_expires_at = timezone.now() + ROTATION_GRACE
    locked.secret = new_secret()
    locked.save(
        update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
    )
    audit_record(
        action="webhook.secret_rotated",
        actor=by,
        object_type="webhooks.subscription",
        object_id=locked.pk,
    )
    return locked.secret


def subscription_secret_reveal(*, subscription: WebhookSubscription, by: Any) -> str:
    """The secret, for an admin who lost it; every reveal is in the audit trail."""
    audit_record(
        action="webhook.secret_revealed",
        actor=by,
        object_type="webhooks.subscription",
        object_id=subscription.pk,
    )
    return subscription.secret


@transaction.atomic
def subscription_test_send(*, subscription: WebhookSubscription, by: Any) -> WebhookDelivery:
    """The "Send test event" button: one delivery of ``webhook.test`` to this subscription alone."""
    if subscription.deleted_at is not None:
        raise ApplicationError(_("This subscription was deleted."))
    if not subscription.is_active:
        raise ApplicationError(_("Switch the subscription on before sending a test event."))
    data = {
        "message": _("A test event from cxm."),
        "subscription": {"id": subscription.pk, "name": subscription.name},
        "sent_by": getattr(by, "email", None),
    }
    return _deliveries_create(
        event=TEST_EVENT, data=data, targets=[(subscription.pk, subscription.format)]
    )[0]


@transaction.atomic
def delivery_replay(*, delivery: WebhookDelivery, by: Any) -> WebhookDelivery:
    """Replay: the same payload (same event id) in a new cycle of attempts, from now."""
    now = timezone.now()
    locked = (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("subscription")
        .get(pk=delivery.pk)
    )
    if locked.subscription.deleted_at is not None or not locked.subscription.is_active:
        raise ApplicationError(_("Switch the subscription on before replaying its deliveries."))
    if locked.claimed_until and locked.claimed_until > now:
        raise Conflict(_("This delivery is being sent right now. Try again in a minute."))
    WebhookDelivery.objects.filter(pk=locked.pk).update(
        status=WebhookDelivery.Status.PENDING,
        cycle=F("cycle") + 1,
        attempts=0,
        next_attempt_at=now,
        queued_at=now,
        claimed_until=None,
        delivered_at=None,
        last_error="",
        last_status_code=None,
        updated_at=now,
    )
    audit_record(
        action="webhook.delivery_replayed",
        actor=by,
        object_type="webhooks.delivery",
        object_id=locked.pk,
    )
    enqueue_on_commit(Job.WEBHOOKS_DELIVER, delivery_ids=[locked.pk])
    locked.refresh_from_db()
    return locked

"""The interaction log: the one way to write a customer's timeline.

``interaction_record`` records one interaction for a customer we already have (the inbox, surveys
and follow-ups call it). ``interactions_ingest`` takes raw events from the API or the signed
webhook, finds or creates each customer, and writes a batch with a handful of queries. Both send
``interaction_recorded`` after commit, and keep the per-touchpoint daily volumes current.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from journeys.models import (
    Customer,
    Interaction,
    Touchpoint,
    TouchpointChannel,
    TouchpointDailyVolume,
)
from journeys.services.customers import CleanRow, customer_clean, customers_upsert
from journeys.signals import interaction_recorded

logger = logging.getLogger(__name__)

BATCH_MAX = 1000
MAX_DATA_BYTES = 16 * 1024
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
KIND_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
EVENT_FIELDS = {
    "kind",
    "occurred_at",
    "customer",
    "touchpoint",
    "channel",
    "summary",
    "url",
    "data",
    "idempotency_key",
}
CUSTOMER_FIELDS = {"external_id", "email", "phone", "name"}
LIFECYCLE_KINDS = {"customer.became", "customer.churned", "customer.reactivated"}
_CHANNELS = {value for value, _label in TouchpointChannel.choices}


@dataclass
class EventResult:
    """One event's outcome: ``created``, ``duplicate`` or ``rejected`` (with field → reason)."""

    index: int
    status: str
    interaction_id: int | None = None
    customer_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def as_json(self, prefix: str = "") -> dict[str, Any]:
        return {
            "index": self.index,
            "status": self.status,
            "id": self.interaction_id,
            "customer_id": self.customer_id,
            "errors": [
                {
                    "field": f"{prefix}{name}" if name else prefix.rstrip("."),
                    "code": "invalid",
                    "message": message,
                }
                for name, message in self.errors.items()
            ],
        }


@dataclass
class _Event:
    index: int
    kind: str = ""
    occurred_at: dt.datetime | None = None
    customer_row: CleanRow | None = None
    touchpoint: Touchpoint | None = None
    channel: str = ""
    summary: str = ""
    url: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    customer: Customer | None = None


def _parse_time(value: Any, now: dt.datetime) -> dt.datetime:
    if value in (None, ""):
        return now
    if not isinstance(value, str):
        raise ValueError(_("Must be an ISO 8601 date-time string."))
    parsed = parse_datetime(value.strip())
    if parsed is None:
        raise ValueError(_("Not a date-time; use ISO 8601, e.g. 2026-11-24T09:30:00Z."))
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, dt.UTC)
    if parsed > now + FUTURE_TOLERANCE:
        raise ValueError(_("Is in the future."))
    return parsed


def _parse_event(
    index: int, raw: Any, now: dt.datetime, touchpoints: Mapping[str, Touchpoint]
) -> _Event:
    event = _Event(index=index)
    if not isinstance(raw, dict):
        event.errors[""] = _("Expected a JSON object.")
        return event
    for name in sorted(set(raw) - EVENT_FIELDS):
        event.errors[name] = _("Unknown field.")

    kind = raw.get("kind")
    if not isinstance(kind, str) or not KIND_RE.match(kind.strip()):
        event.errors["kind"] = _("Required: lower-case words joined by dots, e.g. order.delivered.")
    else:
        event.kind = kind.strip()
    try:
        event.occurred_at = _parse_time(raw.get("occurred_at"), now)
    except ValueError as exc:
        event.errors["occurred_at"] = str(exc)

    customer = raw.get("customer")
    if not isinstance(customer, dict) or not customer:
        event.errors["customer"] = _("Required: an object with external_id, email or phone.")
    else:
        unknown = sorted(set(customer) - CUSTOMER_FIELDS)
        for name in unknown:
            event.errors[f"customer.{name}"] = _("Unknown field.")
        row = customer_clean({k: v for k, v in customer.items() if k in CUSTOMER_FIELDS})
        for name, message in row.errors.items():
            event.errors[f"customer.{name}"] = message
        event.customer_row = row

    key = raw.get("touchpoint")
    if key not in (None, ""):
        if not isinstance(key, str) or key.strip().lower() not in touchpoints:
            event.errors["touchpoint"] = _("No touchpoint has this key.")
        else:
            event.touchpoint = touchpoints[key.strip().lower()]

    channel = raw.get("channel")
    if channel in (None, ""):
        event.channel = event.touchpoint.channel if event.touchpoint else TouchpointChannel.OTHER
    elif not isinstance(channel, str) or channel not in _CHANNELS:
        event.errors["channel"] = _("Must be one of: %(choices)s.") % {
            "choices": ", ".join(sorted(_CHANNELS))
        }
    else:
        event.channel = channel

    summary = raw.get("summary", "")
    if not isinstance(summary, str):
        event.errors["summary"] = _("Must be text.")
    elif len(summary) > 500:
        event.errors["summary"] = _("Longer than %(limit)d characters.") % {"limit": 500}
    else:
        event.summary = summary.strip()

    url = raw.get("url", "")
    if url:
        if not isinstance(url, str) or len(url) > 500 or not re.match(r"^https?://[^\s]+$", url):
            event.errors["url"] = _("Must be an http(s) URL of at most 500 characters.")
        else:
            event.url = url

    data = raw.get("data", {})
    if not isinstance(data, dict):
        event.errors["data"] = _("Must be an object.")
    elif len(json.dumps(data, default=str)) > MAX_DATA_BYTES:
        event.errors["data"] = _("Larger than 16 KB.")
    else:
        event.data = data

    key_value = raw.get("idempotency_key")
    if key_value not in (None, ""):
        if not isinstance(key_value, str) or len(key_value) > 200:
            event.errors["idempotency_key"] = _("Must be text of at most 200 characters.")
        else:
            event.key = key_value
    return event


_TOUCHPOINT_GENERATION = "journeys:touchpoints:generation"
_local_touchpoints: dict[str, Touchpoint] = {}
_local_state: dict[str, Any] = {"generation": None, "loaded_at": 0.0}


def touchpoints_changed() -> None:
    """Tell every process to forget its touchpoint map (a touchpoint was saved or archived)."""
    from django.core.cache import cache

    cache.set(_TOUCHPOINT_GENERATION, uuid.uuid4().hex, None)


def _touchpoints_for(raw_events: Iterable[Any]) -> dict[str, Touchpoint]:
    """Active touchpoints by key, from a per-process map: every ingest request needs them and
    they rarely change. A generation stamp in the shared cache (bumped by touchpoints_changed)
    and a one-minute age limit keep the map true across processes."""
    from django.core.cache import cache

    keys = {
        e["touchpoint"].strip().lower()
        for e in raw_events
        if isinstance(e, dict) and isinstance(e.get("touchpoint"), str) and e["touchpoint"].strip()
    }
    if not keys:
        return {}
    generation = cache.get(_TOUCHPOINT_GENERATION)
    if generation is None:
        cache.add(_TOUCHPOINT_GENERATION, uuid.uuid4().hex, None)
        generation = cache.get(_TOUCHPOINT_GENERATION)
    now = time.monotonic()
    if generation != _local_state["generation"] or now - _local_state["loaded_at"] > 60:
        _local_touchpoints.clear()
        _local_state.update(generation=generation, loaded_at=now)
    missing = keys - _local_touchpoints.keys()
    if missing:
        for touchpoint in Touchpoint.objects.filter(key__in=missing, archived_at__isnull=True):
            _local_touchpoints[touchpoint.key] = touchpoint
    return {key: _local_touchpoints[key] for key in keys if key in _local_touchpoints}


def interactions_ingest(*, events: list[Any], key_prefix: str | None = None) -> list[EventResult]:
    """Validate, match customers and store a batch; each event succeeds or fails on its own.

    ``key_prefix`` (from a request's ``Idempotency-Key`` or a webhook body digest) gives events
    without their own key a stable one, so a redelivered batch creates nothing new.
    """
    now = timezone.now()
    touchpoints = _touchpoints_for(events)
    parsed = [_parse_event(i, raw, now, touchpoints) for i, raw in enumerate(events)]
    if key_prefix:
        for event in parsed:
            if event.key is None:
                event.key = f"{key_prefix}:{event.index}"
    try:
        with transaction.atomic():
            return _ingest(parsed, check_existing=len(parsed) > 1)
    except IntegrityError:
        # A concurrent delivery of the same keys: fall back to one event per savepoint.
        results = []
        for event in parsed:
            try:
                with transaction.atomic():
                    results.append(_ingest([event])[0])
            except IntegrityError:
                results.append(
                    EventResult(
                        index=event.index,
                        status="rejected",
                        errors={"": _("Conflicted with a concurrent request; retry it.")},
                    )
                )
        return results


def _ingest(parsed: list[_Event], *, check_existing: bool = True) -> list[EventResult]:
    results: dict[int, EventResult] = {}
    # Keys already stored, or used twice in this batch, are duplicates: absorbed, not errors.
    # A single event skips the look-up: the unique constraint catches a repeat, and the caller
    # retries it with the look-up (one round trip less on the hot path).
    keys = [e.key for e in parsed if not e.errors and e.key] if check_existing else []
    found = (
        Interaction.objects.filter(idempotency_key__in=keys).values_list(
            "idempotency_key", "id", "customer_id"
        )
        if keys
        else []
    )
    existing = {key: pk for key, pk, _customer in found}
    existing_customers = {key: customer for key, _pk, customer in found}
    seen: dict[str, _Event] = {}
    valid: list[_Event] = []
    for event in parsed:
        if event.errors:
            results[event.index] = EventResult(
                index=event.index, status="rejected", errors=event.errors
            )
        elif event.key and event.key in existing:
            results[event.index] = EventResult(
                index=event.index,
                status="duplicate",
                interaction_id=existing[event.key],
                customer_id=existing_customers.get(event.key),
            )
        elif event.key and event.key in seen:
            results[event.index] = EventResult(index=event.index, status="duplicate")
        else:
            if event.key:
                seen[event.key] = event
            valid.append(event)

    # Find or create the customers of the valid events only: a rejected event leaves no trace.
    if valid:
        matches = customers_upsert(
            [e.customer_row for e in valid if e.customer_row is not None], inside_transaction=True
        )
        for event, match in zip(valid, matches, strict=True):
            if match.status == "rejected":
                event.errors = {f"customer.{k}": v for k, v in match.errors.items()}
                results[event.index] = EventResult(
                    index=event.index, status="rejected", errors=event.errors
                )
            else:
                event.customer = match.customer
    storable = [e for e in valid if not e.errors and e.customer is not None]
    created = _store(
        [
            Interaction(
                customer=e.customer,
                touchpoint=e.touchpoint,
                channel=e.channel,
                kind=e.kind,
                occurred_at=e.occurred_at or timezone.now(),
                summary=e.summary,
                source_url=e.url,
                data=e.data,
                idempotency_key=e.key,
            )
            for e in storable
        ]
    )
    _apply_lifecycle(storable)
    for event, interaction in zip(storable, created, strict=True):
        results[event.index] = EventResult(
            index=event.index,
            status="created",
            interaction_id=interaction.pk,
            customer_id=interaction.customer_id,
        )
    # Events that repeated a key within the batch point at the first one's outcome.
    for event in parsed:
        result = results[event.index]
        if result.status == "duplicate" and result.interaction_id is None and event.key in seen:
            first = results.get(seen[event.key].index)
            if first is not None:
                result.interaction_id, result.customer_id = first.interaction_id, first.customer_id
    return [results[e.index] for e in parsed]


def _store(interactions: list[Interaction]) -> list[Interaction]:
    """Insert, count per touchpoint and day, and announce after commit."""
    if not interactions:
        return []
    # PostgreSQL and SQLite ≥ 3.35 return the new ids from the bulk insert.
    created = Interaction.objects.bulk_create(interactions, batch_size=1000)
    volumes = Counter(
        (i.touchpoint_id, timezone.localdate(i.occurred_at, dt.UTC))
        for i in created
        if i.touchpoint_id
    )
    if volumes:
        _add_volumes(volumes)
    payload = [(i.pk, i.customer_id, i.touchpoint_id, i.kind) for i in created]

    def announce() -> None:
        for interaction_id, customer_id, touchpoint_id, kind in payload:
            interaction_recorded.send(
                sender=Interaction,
                interaction_id=interaction_id,
                customer_id=customer_id,
                touchpoint_id=touchpoint_id,
                kind=kind,
            )

    transaction.on_commit(announce)
    return created


def _add_volumes(volumes: Counter[tuple[int, dt.date]]) -> None:
    table = TouchpointDailyVolume._meta.db_table
    rows = sorted(
        volumes.items(), key=lambda item: (item[0][0] or 0, item[0][1])
    )  # fixed lock order
    placeholders = ", ".join(["(%s, %s, %s)"] * len(rows))
    params: list[Any] = []
    for (touchpoint_id, day), count in rows:
        params.extend([touchpoint_id, day, count])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (touchpoint_id, day, count) VALUES {placeholders} "  # noqa: S608 - table name is ours
            f"ON CONFLICT (touchpoint_id, day) DO UPDATE SET count = {table}.count + excluded.count",
            params,
        )


def _apply_lifecycle(events: list[_Event]) -> None:
    """``customer.became`` / ``churned`` / ``reactivated`` move the customer's lifecycle dates."""
    lifecycle = sorted(
        (e for e in events if e.kind in LIFECYCLE_KINDS),
        key=lambda e: e.occurred_at or timezone.now(),
    )
    changed: dict[int, Customer] = {}
    for event in lifecycle:
        customer = event.customer
        assert customer is not None and event.occurred_at is not None
        day = timezone.localdate(event.occurred_at, dt.UTC)
        if event.kind == "customer.churned":
            customer.churned_on = day
        elif customer.became_customer_on is None or (
            customer.churned_on and day >= customer.churned_on
        ):
            customer.became_customer_on = day  # first start, or a new start after churning
        elif event.kind == "customer.became":
            customer.became_customer_on = min(customer.became_customer_on, day)
        changed[customer.pk] = customer
    if changed:
        Customer.objects.bulk_update(
            list(changed.values()), ["became_customer_on", "churned_on", "updated_at"]
        )


def interaction_record(
    *,
    customer: Customer,
    kind: str,
    channel: str,
    occurred_at: dt.datetime | None = None,
    touchpoint: Touchpoint | None = None,
    summary: str = "",
    source_type: str = "",
    source_id: Any = "",
    source_url: str = "",
    data: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    likely_new: bool = False,
) -> tuple[Interaction, bool]:
    """Record one interaction of a known customer. Returns ``(interaction, created)``; with an
    ``idempotency_key`` a repeat returns the first one and records nothing. ``likely_new`` skips
    the lookup before the insert (the unique key still catches a repeat), for callers that have
    just created what the interaction is about."""
    if idempotency_key and not likely_new:
        found = Interaction.objects.filter(idempotency_key=idempotency_key).first()
        if found is not None:
            return found, False
    interaction = Interaction(
        customer=customer,
        touchpoint=touchpoint,
        channel=channel,
        kind=kind,
        occurred_at=occurred_at or timezone.now(),
        summary=summary[:500],
        source_type=source_type,
        source_id=str(source_id),
        source_url=source_url,
        data=data or {},
        idempotency_key=idempotency_key,
    )
    try:
        with transaction.atomic():
            _store([interaction])
    except IntegrityError:
        found = (
            Interaction.objects.filter(idempotency_key=idempotency_key).first()
            if idempotency_key
            else None
        )
        if found is None:
            raise
        return found, False
    return interaction, True

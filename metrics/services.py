"""Keeping the rollups current.

``rollups_refresh(since=day)`` recomputes every rollup row from ``day`` on from the source rows,
inside one transaction per rollup: the rows for those days are deleted and written again, so the
result is the same however often it runs, and a refresh that dies leaves the old rows. Each
rollup counts an event on the day it happened (a response on the day it was completed, a first
reply on the day it was sent), so new events only touch the last days: beat refreshes the last
``METRICS_REFRESH_DAYS`` days every minute, a completed response asks for a refresh within
seconds, and a nightly rebuild (``since=None``) absorbs what changed further back (erasures,
merges, late bounces, imported lifecycle dates). Customers are recounted whole, and only when one
changed.

The source rows are streamed once per rollup and summed in Python: one pass serves the "all
customers" row and a row per reporting attribute, on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from cxm.jobs import Job
from inbox.models import Conversation, Delivery
from journeys.models import Customer
from metrics import formulas
from metrics.models import (
    CUBE_OF,
    ConversationDaily,
    Cube,
    CustomerDaily,
    InvitationDaily,
    ResponseDaily,
    Rollup,
    RollupState,
)
from surveys.models import Answer, Invitation, Question, Response

logger = logging.getLogger(__name__)

Key = tuple[Any, ...]
CHUNK = 5000
REFRESH_PENDING = "metrics:refresh-pending"


def reporting_attributes() -> list[str]:
    return list(settings.METRICS_ATTRIBUTES)


def _attribute_columns(path: str = "customer__attributes") -> dict[str, Any]:
    """The reporting attributes of the row's customer as text columns ``attr_0``, ``attr_1``…"""
    return {
        f"attr_{i}": KeyTextTransform(key, path) for i, key in enumerate(reporting_attributes())
    }


def _start(since: dt.date | None) -> dt.datetime | None:
    if since is None:
        return None
    return timezone.make_aware(dt.datetime.combine(since, dt.time.min))


def _day(moment: dt.datetime) -> dt.date:
    return timezone.localdate(moment)


class _Sums:
    """Counter sums per (day, attribute, value, *dimensions) of one rollup model.

    ``add`` runs once per source row (millions in a rebuild), so it is kept lean: the slices
    of a row are worked out once, and a key's sums are created only the first time it is seen."""

    def __init__(self, model: type[Rollup]) -> None:
        self.model = model
        self.rows: dict[Key, dict[str, Any]] = {}
        self.keys = [(f"attr_{i}", key) for i, key in enumerate(reporting_attributes())]

    def add(self, day: dt.date, row: dict[str, Any], dims: Key, **counts: Any) -> None:
        # ("", "") for everybody, then (attribute, value) for each reporting attribute set.
        slices = [("", "")]
        for column, name in self.keys:
            value = row.get(column)
            if value not in (None, ""):
                slices.append((name, str(value)[:100]))
        rows = self.rows
        for attribute, value in slices:
            key = (day, attribute, value, *dims)
            sums = rows.get(key)
            if sums is None:
                sums = rows[key] = defaultdict(int)
            for name, amount in counts.items():
                if name.endswith("_bucket"):
                    hist = name.removesuffix("_bucket") + "_hist"
                    counts_by_bucket = sums.setdefault(hist, defaultdict(int))
                    counts_by_bucket[amount] += 1
                else:
                    sums[name] += amount

    def merge(self, key: Key, sums: dict[str, Any]) -> None:
        """Add one row's sums (counters, and histograms as bucket → count) to ``key``'s."""
        target = self.rows.get(key)
        if target is None:
            target = self.rows[key] = defaultdict(int)
        for name, amount in sums.items():
            if isinstance(amount, dict):
                hist = target.setdefault(name, defaultdict(int))
                for bucket, count in amount.items():
                    hist[bucket] += count
            else:
                target[name] += amount

    def _fields(self, sums: dict[str, Any]) -> dict[str, Any]:
        """A key's counters, and its histograms as lists of counts per bucket."""
        fields = dict(sums)
        for name in getattr(self.model, "HISTOGRAMS", ()):
            buckets = {i: n for i, n in fields.pop(name, {}).items() if n}
            fields[name] = [buckets.get(i, 0) for i in range(max(buckets) + 1)] if buckets else []
        return fields

    def objects(self) -> Iterator[Rollup]:
        for (day, attribute, value, *dims), sums in self.rows.items():
            fields = dict(zip(self.model.DIMENSIONS, dims, strict=True))
            yield self.model(
                day=day, attribute=attribute, value=value, **fields, **self._fields(sums)
            )

    def columns(self) -> list[str]:
        names = ["day", "attribute", "value", *self.model.DIMENSIONS, *self.model.COUNTERS]
        names += getattr(self.model, "HISTOGRAMS", ())
        columns = {f.name: f.column for f in self.model._meta.concrete_fields}
        return [columns[name] for name in names]

    def values(self) -> Iterator[tuple[Any, ...]]:
        """Rows in the order of ``columns()``: what ``objects()`` saves, without the models.

        Sorted by slice, then day (a cube's rows by cube, span, slice, agent, then day): a
        dashboard reads one slice over a range of days, or one agent's rows of it, and rows
        written in that order lie on a few adjacent pages instead of being spread over every
        page of the table among the other slices' (or agents') rows."""
        from psycopg.types.json import Jsonb

        counters = self.model.COUNTERS
        histograms = getattr(self.model, "HISTOGRAMS", ())
        rows = self.rows
        for key in sorted(rows, key=_order_of(self.model)):
            fields = self._fields(rows[key])
            yield (
                *key,
                *(fields.get(name, 0) for name in counters),
                *(Jsonb(fields[name]) for name in histograms),
            )


def _order_of(model: type[Rollup]) -> Callable[[Key], Key]:
    """The order rows are written in (``_Sums.values``). A daily key is (day, attribute, value,
    dimensions…), a cube's (day, attribute, value, cube, span, dimensions…)."""
    if not issubclass(model, Cube):
        return operator.itemgetter(1, 2, 0)
    places = [3, 4, 1, 2]  # cube, span, attribute, value
    if "agent_id" in model.DIMENSIONS:
        places.append(3 + model.DIMENSIONS.index("agent_id"))
    return operator.itemgetter(*places, 0)


def _replace(model: type[Rollup], since: dt.date | None, sums: _Sums) -> int:
    manager = model._default_manager
    return _write(model, manager.all() if since is None else manager.filter(day__gte=since), sums)


def _write(model: type[Rollup], stale: Any, sums: _Sums) -> int:
    """Delete the ``stale`` rows and write ``sums`` in their place."""
    manager = model._default_manager
    stale.delete()
    if connection.vendor == "postgresql":
        # A rebuild writes millions of rows: COPY takes a few seconds where bulk_create spends
        # minutes building and compiling INSERT statements (docs/performance.md, metrics).
        table = connection.ops.quote_name(model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in sums.columns())
        written = 0
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for values in sums.values():
                copy.write_row(values)
                written += 1
        return written
    made = manager.bulk_create(sums.objects(), batch_size=2000)
    return len(made)


# ------------------------------------------------------------------------------------------------
# Cubes: the daily rows summed again over fewer dimensions, by day and by month
# ------------------------------------------------------------------------------------------------


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _dropped(model: type[Cube]) -> dict[str, list[tuple[int, Any]]]:
    """Per cube, the dimensions it drops: (their place in the daily key, the value they get)."""
    dimensions = model.DIMENSIONS[2:]
    out = {}
    for cube, kept in model.CUBES.items():
        out[cube] = [
            (i, "" if isinstance(model._meta.get_field(name), models.CharField) else 0)
            for i, name in enumerate(dimensions)
            if name not in kept
        ]
    return out


def _cube_sums(model: type[Cube], daily: _Sums, since: dt.date | None) -> _Sums:
    """The cube rows for the days from ``since`` on, from the daily rows just summed, and the
    month rows of the months from ``since``'s on. The month ``since`` falls in also has days
    before it: its stored month row, less the stored day rows from ``since`` on (about to be
    replaced), plus the new ones, so a refresh of the last days reads a few days' rows back
    rather than the whole month's."""
    sums = _Sums(model)
    dropped = _dropped(model)
    for (day, attribute, value, *dims), row in daily.rows.items():
        for cube, places in dropped.items():
            projected = list(dims)
            for i, empty in places:
                projected[i] = empty
            sums.merge((day, attribute, value, cube, Cube.DAY, *projected), row)
    months = _Sums(model)
    for (day, attribute, value, cube, _span, *dims), row in sums.rows.items():
        months.merge((_month(day), attribute, value, cube, Cube.MONTH, *dims), row)
    if since is not None and since.day > 1:
        month = _month(since)
        next_month = (month + dt.timedelta(days=32)).replace(day=1)
        stored = model._default_manager.filter(
            Q(span=Cube.MONTH, day=month) | Q(span=Cube.DAY, day__gte=since, day__lt=next_month)
        )
        for span, key, row in _stored(model, stored):
            months.merge(key, row if span == Cube.MONTH else _negated(row))
        counters = model.COUNTERS
        for key in [k for k, row in months.rows.items() if not any(row[c] for c in counters)]:
            del months.rows[key]  # every day that counted it is gone
    sums.rows.update(months.rows)
    return sums


def _stored(model: type[Cube], rows: Any) -> Iterator[tuple[str, Key, dict[str, Any]]]:
    """Stored cube rows as (span, their month row's key, sums), histograms as bucket → count."""
    counters = [*model.COUNTERS, *getattr(model, "HISTOGRAMS", ())]
    values: Iterator[tuple[Any, ...]] = rows.values_list(
        "span", "day", "attribute", "value", "cube", *model.DIMENSIONS[2:], *counters
    ).iterator(chunk_size=CHUNK)
    for span, day, attribute, value, cube, *rest in values:
        dims, amounts = rest[: len(rest) - len(counters)], rest[len(rest) - len(counters) :]
        row = {
            name: (
                {i: count for i, count in enumerate(amount) if count}
                if isinstance(amount, list)
                else amount
            )
            for name, amount in zip(counters, amounts, strict=True)
        }
        yield span, (_month(day), attribute, value, cube, Cube.MONTH, *dims), row


def _negated(row: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {bucket: -count for bucket, count in amount.items()}
        if isinstance(amount, dict)
        else -amount
        for name, amount in row.items()
    }


def _replace_cube(model: type[Rollup], since: dt.date | None, daily: _Sums) -> int:
    cube = CUBE_OF[model]
    manager = cube._default_manager
    stale = (
        manager.all()
        if since is None
        else manager.filter(
            Q(span=Cube.DAY, day__gte=since) | Q(span=Cube.MONTH, day__gte=_month(since))
        )
    )
    return _write(cube, stale, _cube_sums(cube, daily, since))


def _locked(name: str) -> RollupState:
    RollupState.objects.get_or_create(name=name)
    return RollupState.objects.select_for_update().get(name=name)


def _stream(queryset: Any) -> Iterator[dict[str, Any]]:
    return queryset.iterator(chunk_size=CHUNK)


# ------------------------------------------------------------------------------------------------
# One refresh per rollup
# ------------------------------------------------------------------------------------------------
def _mirrored_scales() -> dict[int, int]:
    """Survey id → low + high of its main question's scale, for the surveys whose main score is
    an effort scale with the low end good: their scores are turned so high is good (``score_sum``
    then means the same on every CES survey)."""
    from surveys.services.responding import main_question

    by_survey: dict[int, list[Question]] = defaultdict(list)
    for question in Question.objects.order_by("survey_id", "position", "pk"):
        by_survey[question.survey_id].append(question)
    mirrors = {}
    for survey_id, questions in by_survey.items():
        main = main_question(questions)
        if main is not None and main.type == "ces" and main.good_end == "low":
            mirrors[survey_id] = (main.scale_min or 0) + (main.scale_max or 0)
    return mirrors


def _turned(score: int | None, mirror: int | None) -> int:
    if score is None:
        return 0
    return mirror - score if mirror is not None else score


def _responses(since: dt.date | None) -> _Sums:
    sums = _Sums(ResponseDaily)
    reason_questions = list(
        Question.objects.filter(metric="visit_reason").values_list("pk", flat=True)
    )
    fulfilled_questions = list(
        Question.objects.filter(metric="visit_fulfilled").values_list("pk", flat=True)
    )
    rows = Response.objects.filter(completed_at__isnull=False)
    start = _start(since)
    if start is not None:
        rows = rows.filter(completed_at__gte=start)

    def first_choice(questions: list[int]) -> Subquery:
        return Subquery(
            Answer.objects.filter(response=OuterRef("pk"), question_id__in=questions).values(
                "choices"
            )[:1]
        )

    mirrors = _mirrored_scales()
    rows = rows.annotate(**_attribute_columns())
    if reason_questions:
        rows = rows.annotate(reason=first_choice(reason_questions))
    if fulfilled_questions:
        rows = rows.annotate(fulfilment=first_choice(fulfilled_questions))
    columns = [
        "completed_at",
        "survey_id",
        "touchpoint_id",
        "channel",
        "language",
        "team_id",
        "agent_id",
        "invitation_id",
        "score",
        "band",
        *_attribute_columns(),
    ]
    if reason_questions:
        columns.append("reason")
    if fulfilled_questions:
        columns.append("fulfilment")
    for row in _stream(rows.values(*columns)):
        reason = row.get("reason") or []
        fulfilment = row.get("fulfilment") or []
        sums.add(
            _day(row["completed_at"]),
            row,
            (
                row["survey_id"],
                row["touchpoint_id"] or 0,
                row["channel"],
                row["language"],
                row["team_id"] or 0,
                row["agent_id"] or 0,
                str(reason[0])[:64] if reason else "",
            ),
            responses=1,
            invited=1 if row["invitation_id"] else 0,
            scored=1 if row["score"] is not None else 0,
            positive=1 if row["band"] == "positive" else 0,
            neutral=1 if row["band"] == "neutral" else 0,
            negative=1 if row["band"] == "negative" else 0,
            score_sum=_turned(row["score"], mirrors.get(row["survey_id"])),
            fulfilment_answered=1 if fulfilment else 0,
            fulfilled=1 if fulfilment == ["yes"] else 0,
        )
    return sums


DELIVERED = [Delivery.Status.SENT, Delivery.Status.DELIVERED, Delivery.Status.OPENED]


def _invitations(since: dt.date | None) -> _Sums:
    sums = _Sums(InvitationDaily)
    rows = Invitation.objects.filter(delivery__status__in=DELIVERED)
    start = _start(since)
    if start is not None:
        rows = rows.filter(delivery__created_at__gte=start)
    rows = rows.annotate(**_attribute_columns()).values(
        "delivery__created_at",
        "survey_id",
        "touchpoint_id",
        "channel",
        "language",
        "conversation__team_id",
        "conversation__assignee_id",
        *_attribute_columns(),
    )
    for row in _stream(rows):
        sums.add(
            _day(row["delivery__created_at"]),
            row,
            (
                row["survey_id"],
                row["touchpoint_id"] or 0,
                row["channel"],
                row["language"],
                row["conversation__team_id"] or 0,
                row["conversation__assignee_id"] or 0,
            ),
            delivered=1,
        )
    return sums


def _conversations(since: dt.date | None) -> _Sums:
    sums = _Sums(ConversationDaily)
    rows = Conversation.objects.all()
    start = _start(since)
    if start is not None:
        rows = rows.filter(
            Q(created_at__gte=start) | Q(first_response_at__gte=start) | Q(resolved_at__gte=start)
        )
    rows = rows.annotate(**_attribute_columns()).values(
        "created_at",
        "first_customer_message_at",
        "first_response_at",
        "resolved_at",
        "channel",
        "team_id",
        "assignee_id",
        "customer__language",
        *_attribute_columns(),
    )
    for row in _stream(rows):
        dims = (
            row["channel"],
            row["team_id"] or 0,
            row["assignee_id"] or 0,
            row["customer__language"] or "",
        )
        opened, replied, resolved = (
            row["created_at"],
            row["first_response_at"],
            row["resolved_at"],
        )
        if start is None or opened >= start:
            sums.add(_day(opened), row, dims, opened=1)
        asked = row["first_customer_message_at"]
        # First response time: only for conversations the customer started (an agent who wrote
        # first has nothing to respond to).
        if replied and asked and replied >= asked and (start is None or replied >= start):
            seconds = (replied - asked).total_seconds()
            sums.add(
                _day(replied),
                row,
                dims,
                first_responses=1,
                frt_sum=round(seconds),
                frt_bucket=formulas.bucket_of(seconds),
            )
        if resolved and resolved >= opened and (start is None or resolved >= start):
            seconds = (resolved - opened).total_seconds()
            sums.add(
                _day(resolved),
                row,
                dims,
                resolved=1,
                handling_sum=round(seconds),
                handling_bucket=formulas.bucket_of(seconds),
            )
    return sums


def _customers() -> _Sums:
    sums = _Sums(CustomerDaily)
    rows = (
        Customer.objects.filter(became_customer_on__isnull=False)
        .annotate(**_attribute_columns("attributes"))
        .values("became_customer_on", "churned_on", "language", *_attribute_columns("attributes"))
    )
    for row in _stream(rows):
        became, churned = row["became_customer_on"], row["churned_on"]
        dims = (row["language"] or "",)
        sums.add(became, row, dims, gained=1)
        if churned and churned >= became:
            sums.add(churned, row, dims, lost=1)
    return sums


def _refresh(name: str, model: type[Rollup], since: dt.date | None, build: Any) -> int:
    with transaction.atomic():
        state = _locked(name)
        daily = build(since)
        written = _replace(model, since, daily)
        _replace_cube(model, since, daily)
        state.refreshed_at = timezone.now()
        state.save(update_fields=["refreshed_at"])
    return written


def _refresh_customers(force: bool) -> int | None:
    with transaction.atomic():
        state = _locked("customers")
        changed = Customer.objects.aggregate(last=Max("updated_at"))["last"]
        if (
            not force
            and state.customers_seen_at
            and (changed is None or changed <= state.customers_seen_at)
        ):
            state.refreshed_at = timezone.now()
            state.save(update_fields=["refreshed_at"])
            return None
        daily = _customers()
        written = _replace(CustomerDaily, None, daily)
        _replace_cube(CustomerDaily, None, daily)
        state.refreshed_at = timezone.now()
        state.customers_seen_at = changed
        state.save(update_fields=["refreshed_at", "customers_seen_at"])
    return written


def rollups_refresh(*, since: dt.date | None = None) -> dict[str, int | None]:
    """Recompute the rollups from ``since`` on (every day when None); the rows written per
    rollup (None for customers when none changed)."""
    written = {
        "responses": _refresh("responses", ResponseDaily, since, _responses),
        "invitations": _refresh("invitations", InvitationDaily, since, _invitations),
        "conversations": _refresh("conversations", ConversationDaily, since, _conversations),
        "customers": _refresh_customers(force=since is None),
    }
    logger.info(
        "metrics.rollups.refreshed",
        extra={"since": since.isoformat() if since else "all", **written},
    )
    return written


def rollups_refresh_recent() -> dict[str, int | None]:
    """The beat task: the last ``METRICS_REFRESH_DAYS`` days."""
    from django.core.cache import cache

    cache.delete(REFRESH_PENDING)
    since = timezone.localdate() - dt.timedelta(days=settings.METRICS_REFRESH_DAYS - 1)
    return rollups_refresh(since=since)


def rollups_rebuild() -> dict[str, int | None]:
    """Every rollup from all the source rows (``manage.py rebuild_rollups``, nightly)."""
    return rollups_refresh(since=None)


def refresh_soon() -> None:
    """Ask for a refresh of the last days in a few seconds; many asks in that time make one."""
    from django.core.cache import cache

    from cxm.jobs import enqueue_on_commit

    if cache.add(REFRESH_PENDING, 1, timeout=settings.METRICS_REFRESH_DELAY * 4):
        enqueue_on_commit(Job.METRICS_REFRESH, countdown=settings.METRICS_REFRESH_DELAY)

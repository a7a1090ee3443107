"""Reading the metrics: every figure of the dashboards, the API and the report emails comes from
here, computed from the rollups with the formulas of ``metrics.formulas``.

Each function takes checked ``Filters``; a period's figures and the previous period's come from
one query per rollup. Support metrics (first response and handling time) are not tied to a
survey or a journey, and churn and retention only to the customer's language and attributes:
when a filter cannot apply, the figure says so in ``note`` instead of ignoring it silently.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import json
import operator
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings
from django.db import models
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from cxm.accounts.models import Team, User
from journeys import selectors as journey_selectors
from journeys.models import Journey, Stage, Touchpoint
from metrics import formulas, reads
from metrics.filters import CHANNELS, Filters
from metrics.models import (
    ConversationDaily,
    CustomerDaily,
    InvitationDaily,
    ResponseDaily,
    RollupState,
)
from metrics.reads import ALIAS, Statement
from surveys.models import Answer, Question, Survey

# What each figure is, for the tooltips (the same words as docs/metrics.md).
DEFINITIONS: dict[str, tuple[Any, Any, str]] = {
    # key: (label, explanation, unit)
    "nps": (
        gettext_lazy("NPS"),
        gettext_lazy(
            "Net Promoter Score: % promoters (9–10) − % detractors (0–6) of the answers to "
            "NPS surveys, from −100 to 100."
        ),
        "score",
    ),
    "csat": (
        gettext_lazy("CSAT"),
        gettext_lazy(
            # xgettext:no-python-format
            "Customer satisfaction: % of the answers to CSAT surveys in the top two "
            "(satisfied) of the scale."
        ),
        "percent",
    ),
    "ces": (
        gettext_lazy("CES"),
        gettext_lazy(
            # xgettext:no-python-format
            "Customer effort: % of the answers to CES surveys at the easy end of the scale "
            "(the mean, with easy high, is shown beside it)."
        ),
        "percent",
    ),
    "response_rate": (
        gettext_lazy("Response rate"),
        gettext_lazy("Responses to invitations ÷ invitations delivered in the period."),
        "percent",
    ),
    "frt": (
        gettext_lazy("First response time"),
        gettext_lazy(
            "Median (and mean) of first agent reply − first customer message, for the "
            "conversations first answered in the period."
        ),
        "duration",
    ),
    "handling": (
        gettext_lazy("Handling time"),
        gettext_lazy(
            "Median (and mean) of resolved − opened, for the conversations resolved in the period."
        ),
        "duration",
    ),
    "churn": (
        gettext_lazy("Churn rate"),
        gettext_lazy("Customers lost in the period ÷ customers at its start."),
        "percent",
    ),
    "retention": (
        gettext_lazy("Retention rate"),
        gettext_lazy(
            "(Customers at the end − new customers in the period) ÷ customers at its start."
        ),
        "percent",
    ),
}


@dataclass
class Figure:
    key: str
    value: float | None
    n: int
    margin: float | None = None
    median: float | None = None  # durations: the median (``value`` is the mean)
    mean_on_scale: float | None = None  # CES: the mean with the easy end high
    previous: float | None = None
    note: str = ""

    @property
    def label(self) -> str:
        return str(DEFINITIONS[self.key][0])

    @property
    def help(self) -> str:
        return str(DEFINITIONS[self.key][1])

    @property
    def unit(self) -> str:
        return DEFINITIONS[self.key][2]

    @property
    def headline(self) -> float | None:
        """The number shown large: the median for durations, the value otherwise."""
        return self.median if self.unit == "duration" else self.value

    @property
    def small_sample(self) -> bool:
        return 0 < self.n < formulas.SMALL_SAMPLE

    @property
    def change(self) -> float | None:
        if self.previous is None or self.headline is None:
            return None
        return self.headline - self.previous


@dataclass
class Overview:
    filters: Filters
    figures: list[Figure]
    responses: int
    as_of: dt.datetime | None

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)


# ------------------------------------------------------------------------------------------------
# Sums from the rollups
# ------------------------------------------------------------------------------------------------
def _both_periods(f: Filters) -> list[reads.Period]:
    previous = f.previous()
    return [(previous.start, previous.end), (f.start, f.end)]


class ResponseSums(NamedTuple):
    """The responses' counters of one key of a reading (a period, a day, a touchpoint…), those
    of the scores summed over the surveys of their kind (``_response_sums``)."""

    responses: int = 0
    invited: int = 0  # responses to an invitation
    promoters: int = 0  # NPS
    passives: int = 0
    detractors: int = 0
    satisfied: int = 0  # CSAT
    csat_answers: int = 0
    low_effort: int = 0  # CES
    ces_answers: int = 0
    ces_total: int = 0  # the answers turned so that high is good

    def plus(self, other: ResponseSums) -> ResponseSums:
        return ResponseSums._make(map(operator.add, self, other))


# The rollups' counters ``_response_sums`` sums, per key and survey kind.
RESPONSE_SUMS = ("responses", "invited", "scored", "positive", "neutral", "negative", "score_sum")


def _response_sums(
    src: reads.Source,
    key: str,
    key_params: Iterable[Any] = (),
    *,
    named: type[models.Model] | None = None,
) -> Statement:
    """``RESPONSE_SUMS`` of ``src``'s rows per ``key`` (an SQL expression on ``r``'s columns)
    and survey kind, read with ``_sums_by_key``. Each row also has the name of the ``named``
    row (a survey, a team, an agent) whose id the key is (``_LABEL_SQL``), or NULL."""
    sums = ", ".join(f"SUM({ALIAS}.{name}) AS c{i}" for i, name in enumerate(RESPONSE_SUMS))
    params = [*key_params, *src.params]

    def grouped(label: str) -> str:
        return (
            f"SELECT {key} AS k, s.kind AS kind, {label} AS label, {sums} FROM {src.from_} "  # noqa: S608 - our tables
            f"LEFT JOIN {Survey._meta.db_table} s ON s.id = {ALIAS}.survey_id WHERE {src.where} "
            "GROUP BY 1, 2"
        )

    if named is None:
        return grouped("NULL"), params
    if named is Survey:  # joined already, for the kind
        return grouped("MAX(s.name)"), params
    # The names joined to the sums, not to every row summed.
    counters = ", ".join(f"g.c{i}" for i in range(len(RESPONSE_SUMS)))
    return (
        f"SELECT g.k, g.kind, {_LABEL_SQL.get(named, 'n.name')}, {counters} FROM "  # noqa: S608 - our tables
        f"({grouped('NULL')}) g LEFT JOIN {named._meta.db_table} n ON n.id = g.k",
        params,
    )


def _sums_by_key(rows: Iterable[tuple[Any, ...]]) -> dict[Any, ResponseSums]:
    """``_response_sums``' rows (a row per key and survey kind) as key → ``ResponseSums``. The
    responses to other surveys (visit intent, blank, a deleted survey's) count, unscored."""
    nps, csat, ces = Survey.Kind.NPS, Survey.Kind.CSAT, Survey.Kind.CES
    out: dict[Any, ResponseSums] = {}
    for key, kind, _label, responses, invited, scored, positive, neutral, negative, total in rows:
        if kind == nps:
            sums = ResponseSums(responses, invited, positive, neutral, negative)
        elif kind == csat:
            sums = ResponseSums(responses, invited, satisfied=positive, csat_answers=scored)
        elif kind == ces:
            sums = ResponseSums(
                responses, invited, low_effort=positive, ces_answers=scored, ces_total=int(total)
            )
        else:
            sums = ResponseSums(responses, invited)
        before = out.get(key)
        out[key] = sums if before is None else before.plus(sums)
    return out


def _delivered_sums(src: reads.Source, key: str, key_params: Iterable[Any] = ()) -> Statement:
    """Invitations delivered of ``src``'s rows per ``key`` (read with ``_counts``)."""
    return (
        f"SELECT {key}, SUM({ALIAS}.delivered) FROM {src.from_} WHERE {src.where} GROUP BY 1",  # noqa: S608 - our tables
        [*key_params, *src.params],
    )


def _counts(rows: Iterable[tuple[Any, ...]]) -> dict[Any, int]:
    return {group: int(n or 0) for group, n in rows}


def _scores(sums: ResponseSums) -> dict[str, Figure]:
    """NPS, CSAT and CES from the counts of their surveys."""
    n_score = formulas.nps(
        promoters=sums.promoters, passives=sums.passives, detractors=sums.detractors
    )
    c_score = formulas.csat(satisfied=sums.satisfied, answers=sums.csat_answers)
    e_score = formulas.ces(good=sums.low_effort, answers=sums.ces_answers, total=sums.ces_total)
    return {
        "nps": Figure("nps", n_score.value, n_score.n, n_score.margin),
        "csat": Figure("csat", c_score.value, c_score.n, c_score.margin),
        "ces": Figure(
            "ces",
            e_score.top_boxes.value,
            e_score.top_boxes.n,
            e_score.top_boxes.margin,
            mean_on_scale=e_score.mean,
        ),
    }


# What ``_Durations.add`` takes from a conversations rollup row, in this order.
DURATION_COLUMNS = (
    "first_responses",
    "frt_sum",
    "frt_text",
    "resolved",
    "handling_sum",
    "handling_text",
)


class _Durations:
    """First response and handling time summed over conversations rollup rows.

    A period reads thousands of rows, and most hold one or two conversations, so their
    histograms repeat: each distinct histogram (its JSON text) is counted, and decoded and added
    once, which gives the sums ``formulas.histogram_add`` would give row by row."""

    def __init__(self) -> None:
        self.n = {"frt": 0, "handling": 0}
        self.total = {"frt": 0, "handling": 0}
        self.hists: dict[str, Counter[str]] = {"frt": Counter(), "handling": Counter()}

    def add(
        self,
        first_responses: int,
        frt_sum: int,
        frt_text: str,
        resolved: int,
        handling_sum: int,
        handling_text: str,
    ) -> None:
        if first_responses:
            self.n["frt"] += first_responses
            self.total["frt"] += frt_sum
            self.hists["frt"][frt_text] += 1
        if resolved:
            self.n["handling"] += resolved
            self.total["handling"] += handling_sum
            self.hists["handling"][handling_text] += 1

    def durations(self) -> dict[str, formulas.Duration]:
        out = {}
        for key, texts in self.hists.items():
            hist: list[int] = []
            for text, times in texts.items():
                counts = _histogram(text)
                width = len(counts)
                if width > len(hist):
                    hist.extend([0] * (width - len(hist)))
                weighted = (
                    map(operator.mul, counts, itertools.repeat(times)) if times > 1 else counts
                )
                hist[:width] = map(operator.add, hist, weighted)
            out[key] = formulas.duration_from_buckets(
                total=self.total[key], n=self.n[key], hist=hist
            )
        return out


@functools.lru_cache(maxsize=65536)
def _histogram(text: str) -> tuple[int, ...]:
    """A stored histogram's counts from its JSON text, decoded once per process (a trend's
    points and the next request see the same few thousand texts again)."""
    return tuple(json.loads(text))


def _conversation_rows(
    f: Filters,
    key: str,
    key_params: Iterable[Any] = (),
    *,
    needs: Iterable[str] = (),
    periods: Iterable[reads.Period] | None = None,
    months: bool = True,
) -> Statement:
    """The conversations rollup rows of the period (or ``periods``) with a first response or a
    resolution: ``key`` (an SQL expression) and ``DURATION_COLUMNS``, histograms as JSON text."""
    src = reads.source(ConversationDaily, f, *needs, periods=periods, months=months)
    r = ALIAS
    return (
        f"SELECT {key}, {r}.first_responses, {r}.frt_sum, CAST({r}.frt_hist AS text), "  # noqa: S608 - our tables
        f"{r}.resolved, {r}.handling_sum, CAST({r}.handling_hist AS text) FROM {src.from_} "
        f"WHERE {src.where} AND ({r}.first_responses > 0 OR {r}.resolved > 0)",
        [*key_params, *src.params],
    )


class _CustomerCounts:
    """Customers gained and lost per day, with running totals: churn and retention of any period
    in two binary searches (a trend asks for hundreds of periods)."""

    def __init__(self, rows: Iterable[tuple[Any, Any, Any]]) -> None:
        """``rows``: (day, gained, lost) in order of day, as ``_customer_sums`` reads them."""
        self.days: list[dt.date] = []
        self.gained, self.lost = [0], [0]  # totals before each day, and after the last
        for day, gained, lost in rows:
            self.days.append(reads.day(day))
            self.gained.append(self.gained[-1] + int(gained or 0))
            self.lost.append(self.lost[-1] + int(lost or 0))

    def rates(self, start: dt.date, end: dt.date) -> dict[str, formulas.Score]:
        first = bisect.bisect_left(self.days, start)
        after = bisect.bisect_right(self.days, end)
        at_start = self.gained[first] - self.lost[first]
        new = self.gained[after] - self.gained[first]
        lost = self.lost[after] - self.lost[first]
        at_end = at_start + new - lost
        return {
            "churn": formulas.churn_rate(lost=lost, at_start=at_start),
            "retention": formulas.retention_rate(at_end=at_end, new=new, at_start=at_start),
        }


def _customer_sums(f: Filters, periods: list[reads.Period], *, months: bool = False) -> Statement:
    """The counts for ``periods`` (oldest first), for rates over whole periods or days of them
    (over whole periods only with ``months``: a month row is dated its first day). The history
    before them comes summed in the database as one row dated the day before, from the month
    rows of its whole months, so a dashboard reads a row per day (or month) of its periods and
    one per month of the history, not one per day since the first customer."""
    opening = periods[0][0] - dt.timedelta(days=1)
    history = reads.source(CustomerDaily, f, periods=[(reads.BEGINNING, opening)])
    days = reads.source(CustomerDaily, f, periods=periods, months=months)
    sums = f"SUM({ALIAS}.gained), SUM({ALIAS}.lost)"
    return (
        f"SELECT %s, {sums} FROM {history.from_} WHERE {history.where} UNION ALL "  # noqa: S608 - our tables
        f"SELECT {ALIAS}.day, {sums} FROM {days.from_} WHERE {days.where} GROUP BY 1 ORDER BY 1",
        [opening, *history.params, *days.params],
    )


def _notes(f: Filters) -> dict[str, str]:
    support = ""
    if f.sliced_by_journey:
        support = _(
            "Conversations are not linked to a survey or a journey: these filters do not apply."
        )
    customers = ""
    if f.sliced_by_journey or f.channel or f.team is not None or f.agent is not None:
        customers = _("Churn and retention follow the customer's language and attributes only.")
    return {"frt": support, "handling": support, "churn": customers, "retention": customers}


# When the oldest of the rollups was last refreshed (the figures are at least that new).
AS_OF: Statement = (f"SELECT MIN(refreshed_at) FROM {RollupState._meta.db_table}", [])  # noqa: S608


def as_of() -> dt.datetime | None:
    return _as_of(reads.fetch_all(AS_OF)[0])


def _as_of(rows: list[tuple[Any, ...]]) -> dt.datetime | None:
    return reads.moment(rows[0][0])


# ------------------------------------------------------------------------------------------------
# Overview
# ------------------------------------------------------------------------------------------------
def overview(f: Filters) -> Overview:
    """Every headline figure for the period, with the previous period's value beside it."""
    previous = f.previous()
    both = _both_periods(f)
    current = f"{ALIAS}.day >= %s"  # the key of each sum: this period (true) or the one before
    response_rows, delivered_rows, conversation_rows, customer_rows, stamp = reads.fetch_all(
        _response_sums(
            reads.source(ResponseDaily, f, "survey_id", periods=both), current, [f.start]
        ),
        _delivered_sums(reads.source(InvitationDaily, f, periods=both), current, [f.start]),
        _conversation_rows(f, current, [f.start], periods=both),
        _customer_sums(f, both, months=True),
        AS_OF,
    )
    by_period = _sums_by_key(response_rows)
    now, then = by_period.get(True, ResponseSums()), by_period.get(False, ResponseSums())
    figures = _scores(now)
    before = _scores(then)
    delivered = _counts(delivered_rows)
    rate, rate_before = (
        formulas.response_rate(responses=counts.invited, delivered=delivered.get(key, 0))
        for key, counts in ((True, now), (False, then))
    )
    figures["response_rate"] = Figure(
        "response_rate", rate.value, rate.n, rate.margin, previous=rate_before.value
    )
    # Both periods in one read of the conversations rollup.
    support = {True: _Durations(), False: _Durations()}
    for in_current, *values in conversation_rows:
        support[bool(in_current)].add(*values)
    durations, durations_before = support[True].durations(), support[False].durations()
    for key in ("frt", "handling"):
        duration, duration_before = durations[key], durations_before[key]
        figures[key] = Figure(
            key, duration.mean, duration.n, median=duration.median, previous=duration_before.median
        )
    customers = _CustomerCounts(customer_rows)
    rates, rates_before = (
        customers.rates(f.start, f.end),
        customers.rates(previous.start, previous.end),
    )
    for key in ("churn", "retention"):
        figures[key] = Figure(key, rates[key].value, rates[key].n, previous=rates_before[key].value)
    for key in ("nps", "csat", "ces"):
        figures[key].previous = before[key].value
    for key, note in _notes(f).items():
        figures[key].note = note
    order = ("nps", "csat", "ces", "response_rate", "frt", "handling", "churn", "retention")
    return Overview(
        filters=f,
        figures=[figures[key] for key in order],
        responses=now.responses,
        as_of=_as_of(stamp),
    )


# ------------------------------------------------------------------------------------------------
# Trend lines
# ------------------------------------------------------------------------------------------------
def _bucket_start(day: dt.date, grain: str) -> dt.date:
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _buckets(f: Filters) -> list[dt.date]:
    out: list[dt.date] = []
    day = f.start
    while day <= f.end:
        start = _bucket_start(day, f.grain)
        if not out or out[-1] != start:
            out.append(start)
        day += dt.timedelta(days=1)
    return out


@dataclass
class TrendPoint:
    start: dt.date
    values: dict[str, float | None] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def trend(f: Filters) -> list[TrendPoint]:
    """Each metric per day, week or month of the period (the sparklines and trend charts)."""
    points = {start: TrendPoint(start) for start in _buckets(f)}

    def point_of(day: Any) -> TrendPoint | None:
        return points.get(_bucket_start(reads.day(day), f.grain))

    # Rows are summed per day (a month row's day is the month's first) and the days folded into
    # the points here. Month rows only serve monthly points.
    months = f.grain == "month"
    day = f"{ALIAS}.day"
    response_rows, delivered_rows, conversation_rows, customer_rows = reads.fetch_all(
        _response_sums(reads.source(ResponseDaily, f, "survey_id", months=months), day),
        _delivered_sums(reads.source(InvitationDaily, f, months=months), day),
        _conversation_rows(f, day, months=months),
        _customer_sums(f, [(f.start, f.end)], months=months),
    )
    per_point: dict[dt.date, ResponseSums] = defaultdict(ResponseSums)
    for on, sums in _sums_by_key(response_rows).items():
        point = point_of(on)
        if point is not None:
            per_point[point.start] = per_point[point.start].plus(sums)
    delivered: dict[dt.date, int] = defaultdict(int)
    for on, n in _counts(delivered_rows).items():
        point = point_of(on)
        if point is not None:
            delivered[point.start] += n
    conversations: dict[dt.date, _Durations] = defaultdict(_Durations)
    for on, *values in conversation_rows:
        point = point_of(on)
        if point is not None:
            conversations[point.start].add(*values)
    customers = _CustomerCounts(customer_rows)
    ordered = sorted(points)
    for index, start in enumerate(ordered):
        point = points[start]
        scores = _scores(per_point[start])
        for key in ("nps", "csat", "ces"):
            point.values[key], point.counts[key] = scores[key].value, scores[key].n
        rate = formulas.response_rate(
            responses=per_point[start].invited, delivered=delivered[start]
        )
        point.values["response_rate"], point.counts["response_rate"] = rate.value, rate.n
        durations = conversations[start].durations()
        for key in ("frt", "handling"):
            point.values[key], point.counts[key] = durations[key].median, durations[key].n
        last = ordered[index + 1] - dt.timedelta(days=1) if index + 1 < len(ordered) else f.end
        rates = customers.rates(max(start, f.start), last)
        for key in ("churn", "retention"):
            point.values[key], point.counts[key] = rates[key].value, rates[key].n
    return [points[start] for start in ordered]


# ------------------------------------------------------------------------------------------------
# Breakdowns
# ------------------------------------------------------------------------------------------------
BREAKDOWNS = {
    "channel": gettext_lazy("Channel"),
    "touchpoint": gettext_lazy("Touchpoint"),
    "team": gettext_lazy("Team"),
    "agent": gettext_lazy("Agent"),
    "language": gettext_lazy("Language"),
    "survey": gettext_lazy("Survey"),
}
_RESPONSE_FIELD = {
    "channel": "channel",
    "touchpoint": "touchpoint_id",
    "team": "team_id",
    "agent": "agent_id",
    "language": "language",
    "survey": "survey_id",
}
_CONVERSATION_FIELD = {
    "channel": "channel",
    "team": "team_id",
    "agent": "agent_id",
    "language": "language",
}


@dataclass
class BreakdownRow:
    key: Any
    label: str
    responses: int = 0
    figures: dict[str, Figure] = field(default_factory=dict)

    def figure(self, key: str) -> Figure | None:
        return self.figures.get(key)


_NAMED: dict[str, type[models.Model]] = {
    "survey": Survey,
    "journey": Journey,
    "stage": Stage,
    "touchpoint": Touchpoint,
    "team": Team,
    "agent": User,
}
# What a named row is called, in SQL on its row ``n`` when not its ``name``: as ``str()`` calls
# it (a user: their name, else their email).
_LABEL_SQL: dict[type[models.Model], str] = {User: "COALESCE(NULLIF(n.name, ''), n.email)"}


def labels(by: str, keys: Iterable[Any]) -> dict[Any, str]:
    """What to call each of ``keys`` of a dimension: the names of surveys, journeys, stages,
    touchpoints, teams or agents by id (one query), of channels or languages by code."""
    keys = [k for k in keys if k not in (0, "", None)]
    if by == "channel":
        return {k: str(CHANNELS.get(k, k)) for k in keys}
    if by == "language":
        names = dict(settings.LANGUAGES)
        return {k: str(names.get(k, k)) for k in keys}
    if by == "agent":
        return {u.pk: str(u) for u in User.objects.filter(pk__in=keys)}
    if by in _NAMED:
        return dict(_NAMED[by]._default_manager.filter(pk__in=keys).values_list("pk", "name"))
    return {k: str(k) for k in keys}


def _touchpoint_names(f: Filters) -> Statement:
    """The id and name of every touchpoint (of the filtered ones when the filters fix them),
    read beside a breakdown's sums in the same round trip: the touchpoints are short lists an
    admin keeps, and a breakdown by touchpoint has a row for most of them, which the database
    named faster from the list than by a join to the sums."""
    sql = f"SELECT id, name FROM {Touchpoint._meta.db_table}"  # noqa: S608 - our tables
    if f.touchpoints is None:
        return sql, []
    condition, ids = reads.among("id", f.touchpoints)
    return f"{sql} WHERE {condition}", ids


def breakdown(f: Filters, by: str) -> list[BreakdownRow]:
    """The figures per channel, touchpoint, team, agent, language or survey: NPS, CSAT, CES and
    responses, and for channel, team, agent and language the support times too."""
    if by not in BREAKDOWNS:
        raise ValueError(by)
    column = _RESPONSE_FIELD[by]
    conversation_column = None if f.sliced_by_journey else _CONVERSATION_FIELD.get(by)
    # Names: of touchpoints from their list; of surveys, teams and agents with the sums when
    # only the responses are read (a conversation may have a team or agent no response has);
    # else from ``labels``.
    named = None if conversation_column or by == "touchpoint" else _NAMED.get(by)
    statements = [
        _response_sums(
            reads.source(ResponseDaily, f, column, "survey_id"), f"{ALIAS}.{column}", named=named
        )
    ]
    if conversation_column:
        statements.append(
            _conversation_rows(f, f"{ALIAS}.{conversation_column}", needs=[conversation_column])
        )
    if by == "touchpoint":
        statements.append(_touchpoint_names(f))
    results = iter(reads.fetch_all(*statements))  # in the order of ``statements``
    response_rows = next(results)
    per_key = _sums_by_key(response_rows)
    support: dict[Any, _Durations] = defaultdict(_Durations)
    for key, *values in next(results) if conversation_column else ():
        support[key].add(*values)
    keys = per_key.keys() | support.keys()
    if by == "touchpoint":
        names = dict(next(results))
    elif named is not None:
        names = {key: label for key, _kind, label, *_sums in response_rows if label is not None}
    else:
        names = labels(by, keys)
    rows = []
    for key in keys:
        sums = per_key.get(key)
        figures = _scores(sums) if sums is not None else {}
        if key in support:
            for name, duration in support[key].durations().items():
                figures[name] = Figure(name, duration.mean, duration.n, median=duration.median)
        label = names.get(key) or (_("None") if key in (0, "", None) else str(key))
        rows.append(BreakdownRow(key, label, sums.responses if sums else 0, figures))
    rows.sort(key=lambda r: (-r.responses, r.label))
    return rows


@dataclass
class MapStage:
    name: str
    touchpoints: list[tuple[Touchpoint, BreakdownRow | None]]


def journey_map(f: Filters, journey: Journey) -> list[MapStage]:
    """The journey's stages and touchpoints, each touchpoint with its figures."""
    rows = {row.key: row for row in breakdown(f, "touchpoint")}
    stages = []
    for stage in journey.stages.filter(archived_at__isnull=True).prefetch_related("touchpoints"):
        touchpoints = [
            (tp, rows.get(tp.pk)) for tp in stage.touchpoints.all() if tp.archived_at is None
        ]
        stages.append(MapStage(stage.name, touchpoints))
    return stages


# ------------------------------------------------------------------------------------------------
# Visit intent
# ------------------------------------------------------------------------------------------------
@dataclass
class IntentRow:
    reason: str
    label: str
    visits: int
    share: float
    fulfilled: formulas.Score


def visit_intent(f: Filters) -> list[IntentRow]:
    """Share of each visit reason, and how often the visit got what it came for."""
    reasons: dict[str, int] = defaultdict(int)
    fulfilled: dict[str, int] = defaultdict(int)
    answered: dict[str, int] = defaultdict(int)
    src = reads.source(ResponseDaily, f, "reason")
    (rows,) = reads.fetch_all(
        (
            f"SELECT {ALIAS}.reason, SUM({ALIAS}.responses), SUM({ALIAS}.fulfilled), "  # noqa: S608 - our tables
            f"SUM({ALIAS}.fulfilment_answered) FROM {src.from_} WHERE {src.where} AND "
            f"{ALIAS}.reason <> %s GROUP BY 1",
            [*src.params, ""],
        )
    )
    for reason, n, yes, asked in rows:
        reasons[reason] += int(n or 0)
        fulfilled[reason] += int(yes or 0)
        answered[reason] += int(asked or 0)
    names = _reason_labels(f)
    return [
        IntentRow(
            row.reason,
            names.get(row.reason, row.reason),
            reasons[row.reason],
            row.share,
            row.fulfilled,
        )
        for row in formulas.visit_intent(reasons=reasons, fulfilled=fulfilled, answered=answered)
    ]


def _reason_labels(f: Filters) -> dict[str, str]:
    language = get_language() or "en"
    questions = Question.objects.filter(metric="visit_reason").select_related("survey")
    if f.survey is not None:
        questions = questions.filter(survey_id=f.survey)
    out: dict[str, str] = {}
    for question in questions:
        for choice in question.choices:
            out.setdefault(
                choice["key"],
                question.choice_label(choice, language, question.survey.default_language),
            )
    out.setdefault("other", _("Other"))
    return out


# ------------------------------------------------------------------------------------------------
# Verbatims
# ------------------------------------------------------------------------------------------------
BANDS = {
    "negative": gettext_lazy("Unhappy"),
    "neutral": gettext_lazy("Neutral"),
    "positive": gettext_lazy("Happy"),
}


@dataclass
class Verbatim:
    response_id: int
    customer_id: int | None
    customer_name: str
    survey_name: str
    score: int | None
    band: str
    text: str
    completed_at: dt.datetime
    agent_name: str


def verbatims(f: Filters, *, band: str = "", limit: int = 20) -> list[Verbatim]:
    """The latest open-text answers, newest first, with their response and customer."""
    answers = (
        Answer.objects.filter(f.raw_response_q("response__"))
        .exclude(text="")
        .select_related("response__survey", "response__customer", "response__agent")
        .order_by("-response__completed_at", "-id")
    )
    if band in BANDS:
        answers = answers.filter(response__band=band)
    return [_verbatim(answer) for answer in answers[:limit]]


# ------------------------------------------------------------------------------------------------
# The dashboard pages: the filter bar's choices, the journey to map, each agent's comments
# ------------------------------------------------------------------------------------------------
@dataclass
class FilterOptions:
    surveys: list[tuple[int, str]]
    journeys: list[tuple[int, str]]
    stages: list[tuple[str, list[tuple[int, str]]]]  # grouped by journey
    touchpoints: list[tuple[str, list[tuple[int, str]]]]  # grouped by journey · stage
    teams: list[tuple[int, str]]
    agents: list[tuple[int, str]]
    all_agents: bool  # False: the user sees their own figures only


def filter_options(*, user: User) -> FilterOptions:
    """What each select of the dashboards' filter bar offers this user (six small queries)."""
    stages: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for stage in Stage.objects.filter(
        archived_at__isnull=True, journey__archived_at__isnull=True
    ).select_related("journey"):
        stages[stage.journey.name].append((stage.pk, stage.name))
    touchpoints: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for touchpoint in Touchpoint.objects.filter(
        archived_at__isnull=True,
        stage__archived_at__isnull=True,
        stage__journey__archived_at__isnull=True,
    ).select_related("stage__journey"):
        group = f"{touchpoint.stage.journey.name} · {touchpoint.stage.name}"
        touchpoints[group].append((touchpoint.pk, touchpoint.name))
    all_agents = user.has_perm("metrics.view_all_metrics")
    agents = (
        User.objects.filter(is_active=True).order_by("name", "email")
        if all_agents
        else User.objects.filter(pk=user.pk)
    )
    return FilterOptions(
        surveys=list(
            Survey.objects.exclude(status=Survey.Status.DRAFT)
            .order_by("name", "id")
            .values_list("pk", "name")
        ),
        journeys=list(
            Journey.objects.filter(archived_at__isnull=True)
            .order_by("name", "id")
            .values_list("pk", "name")
        ),
        stages=list(stages.items()),
        touchpoints=list(touchpoints.items()),
        teams=list(Team.objects.order_by("name", "id").values_list("pk", "name")),
        agents=[(u.pk, str(u)) for u in agents.only("pk", "name", "email")],
        all_agents=all_agents,
    )


def journey_for_map(f: Filters) -> Journey | None:
    """The journey the touchpoints dashboard maps: the chosen one, else the first active one."""
    if f.journey is not None:
        return journey_selectors.journey_get(journey_id=f.journey)
    return Journey.objects.filter(archived_at__isnull=True).order_by("name", "id").first()


def _verbatim(answer: Answer) -> Verbatim:
    response = answer.response
    customer, agent = response.customer, response.agent
    return Verbatim(
        response_id=response.pk,
        customer_id=customer.pk if customer else None,
        customer_name=(customer.name or customer.email) if customer else "",
        survey_name=response.survey.name,
        score=response.score,
        band=response.band,
        text=answer.text,
        completed_at=response.completed_at,  # type: ignore[arg-type]
        agent_name=str(agent) if agent else "",
    )


def verbatims_by_agent(
    f: Filters, *, agents: Iterable[int], per_agent: int = 3
) -> dict[int, list[Verbatim]]:
    """Each agent's latest open-text answers (newest first), in one query for all of them."""
    wanted = [pk for pk in agents if pk]
    if not wanted:
        return {}
    answers = (
        Answer.objects.filter(f.raw_response_q("response__"), response__agent_id__in=wanted)
        .exclude(text="")
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("response__agent_id")],
                order_by=[F("response__completed_at").desc(), F("id").desc()],
            )
        )
        .filter(rank__lte=per_agent)
        .select_related("response__survey", "response__customer", "response__agent")
        .order_by("response__agent_id", "rank")
    )
    out: dict[int, list[Verbatim]] = defaultdict(list)
    for answer in answers:
        out[answer.response.agent_id].append(_verbatim(answer))  # type: ignore[index]
    return dict(out)

"""The metric formulas of ``shared/PRODUCT.md``, as small pure functions of counts.

Dashboards and rollups hand these counts (never raw rows); each result carries its sample size
and, for scores, a 95 % margin of error, so a score from a handful of answers is shown flagged
rather than hidden. Explained for users in ``docs/metrics.md``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

Z95 = 1.96
SMALL_SAMPLE = 30  # fewer answers than this: the score is flagged as unreliable


@dataclass(frozen=True)
class Score:
    value: float | None  # None when there is nothing to compute from
    n: int
    margin: float | None = None  # ± points at 95 % confidence

    @property
    def small_sample(self) -> bool:
        return self.n < SMALL_SAMPLE


NO_SCORE = Score(None, 0)  # nothing to compute from (a Score is immutable: one serves all)


def _proportion_margin(p: float, n: int) -> float | None:
    return Z95 * math.sqrt(p * (1 - p) / n) * 100 if n else None


def _proportion(hits: int, n: int) -> Score:
    """``hits`` of ``n`` as a percentage with its margin, at most 100 % (a period's responses
    can answer invitations delivered in the period before)."""
    if n == 0:
        return NO_SCORE
    p = min(hits / n, 1.0)
    return Score(p * 100, n, _proportion_margin(p, n))


def nps(*, promoters: int, passives: int, detractors: int) -> Score:
    """% promoters (9–10) − % detractors (0–6), from −100 to +100. The margin uses the variance
    of a variable that is +1 for a promoter, 0 for a passive and −1 for a detractor."""
    n = promoters + passives + detractors
    if n == 0:
        return NO_SCORE
    p_pro, p_det = promoters / n, detractors / n
    value = (p_pro - p_det) * 100
    variance = p_pro + p_det - (p_pro - p_det) ** 2
    return Score(value, n, Z95 * math.sqrt(variance / n) * 100)


def csat(*, satisfied: int, answers: int) -> Score:
    """Satisfied answers (the top two boxes) ÷ answers × 100."""
    return _proportion(satisfied, answers)


@dataclass(frozen=True)
class EffortScore:
    top_boxes: Score  # % of answers at the good end (5–7 of 7, 4–5 of 5)
    mean: float | None  # on the scale, with the good end high


NO_EFFORT_SCORE = EffortScore(NO_SCORE, None)


def ces(*, good: int, answers: int, total: float) -> EffortScore:
    """% of answers in the top boxes, and the mean. ``total`` is the sum of the answers already
    turned so that high is good (a survey whose low end is good is mirrored first)."""
    if answers == 0:
        return NO_EFFORT_SCORE
    return EffortScore(_proportion(good, answers), total / answers)


def mirrored(value: int, *, low: int, high: int, good_end: str) -> int:
    """A CES answer with the good end high, whichever end the wording made good."""
    return low + high - value if good_end == "low" else value


@dataclass(frozen=True)
class Duration:
    mean: float | None  # seconds
    median: float | None
    n: int


def duration(seconds: Sequence[float]) -> Duration:
    """Mean and median of per-conversation durations: first response time (first agent reply −
    first customer message) and handling time (resolved − opened)."""
    if not seconds:
        return Duration(None, None, 0)
    return Duration(statistics.fmean(seconds), statistics.median(seconds), len(seconds))


# Durations are rolled up as counts per bucket, so a median over any slice is read from a few
# hundred rows: 0–10 s, then edges growing by a fifth up to about 90 days, then one open bucket.
# The median found this way lies in the same bucket as the exact one, so it is off by less than
# a fifth of its value (docs/metrics.md).
BUCKET_EDGES: tuple[int, ...] = (0, *sorted({round(10 * 1.2**i) for i in range(75)}))


def bucket_of(seconds: float) -> int:
    """The bucket a duration falls in (negative durations count as 0)."""
    return max(bisect.bisect_right(BUCKET_EDGES, max(seconds, 0)) - 1, 0)


def histogram_add(hist: Sequence[int], other: Sequence[int]) -> list[int]:
    """Two bucket histograms (lists of counts; shorter ones are padded with zeros) summed."""
    size = max(len(hist), len(other))
    return [
        (hist[i] if i < len(hist) else 0) + (other[i] if i < len(other) else 0) for i in range(size)
    ]


def duration_from_buckets(*, total: float, n: int, hist: Sequence[int]) -> Duration:
    """Mean (exact, from the sum) and median (interpolated inside its bucket) of durations.

    The median of one or two durations is their mean, which the sum gives exactly."""
    if n == 0:
        return Duration(None, None, 0)
    if n <= 2:
        return Duration(total / n, total / n, n)
    counts = sum(hist)
    half = counts / 2
    seen = 0
    median: float | None = None
    for index, count in enumerate(hist):
        if count and seen + count >= half:
            low = BUCKET_EDGES[index]
            if index + 1 >= len(BUCKET_EDGES):
                median = float(low)
            else:
                high = BUCKET_EDGES[index + 1]
                median = low + (high - low) * (half - seen) / count
            break
        seen += count
    return Duration(total / n, median, n)


def churn_rate(*, lost: int, at_start: int) -> Score:
    """Customers lost in the period ÷ customers at its start × 100."""
    if at_start == 0:
        return NO_SCORE
    return Score(lost / at_start * 100, at_start)


def retention_rate(*, at_end: int, new: int, at_start: int) -> Score:
    """(Customers at the end − new customers in the period) ÷ customers at the start × 100."""
    if at_start == 0:
        return NO_SCORE
    return Score((at_end - new) / at_start * 100, at_start)


def response_rate(*, responses: int, delivered: int) -> Score:
    """Responses ÷ delivered invitations × 100."""
    return _proportion(responses, delivered)


@dataclass(frozen=True)
class IntentRow:
    reason: str
    share: float  # % of visits with this main reason
    fulfilled: Score  # % of those visits that got what they came for


def visit_intent(
    *, reasons: Mapping[str, int], fulfilled: Mapping[str, int], answered: Mapping[str, int]
) -> list[IntentRow]:
    """Share per reason, and its fulfilment rate: ``fulfilled[reason]`` yes answers of the
    ``answered[reason]`` visits that answered "did you get what you came for?"."""
    total = sum(reasons.values())
    rows = []
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        rate = _proportion(fulfilled.get(reason, 0), answered.get(reason, 0))
        rows.append(IntentRow(reason, count / total * 100 if total else 0.0, rate))
    return rows


def closed_loop_rate(*, closed_in_time: int, opened: int) -> Score:
    """Follow-ups closed within their deadline ÷ follow-ups opened × 100."""
    return _proportion(closed_in_time, opened)


# ------------------------------------------------------------------------------------------------
# Close the loop (follow-ups); see docs/metrics.md "Close the loop"
# ------------------------------------------------------------------------------------------------
def elapsed(pairs: Iterable[tuple[dt.datetime, dt.datetime | None]]) -> list[float]:
    """Seconds from each start to its end; pairs without an end are left out."""
    return [(end - start).total_seconds() for start, end in pairs if end is not None]


def recovery_rate(*, recovered: int, followed_up: int) -> Score:
    """Detractors whose customer later answered 7 or more on an NPS survey ÷ detractors
    followed up × 100."""
    return _proportion(recovered, followed_up)


@dataclass(frozen=True)
class Share:
    label: str
    count: int
    percent: float  # of the total


def shares(counts: Mapping[str, int]) -> list[Share]:
    """Each label's count and its % of the total, largest first (ties by label)."""
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [Share(label, n, n / total * 100 if total else 0.0) for label, n in ordered]


def revenue_at_risk(values: Iterable[Decimal | None]) -> Decimal:
    """The sum of the values of the customers given (each once); unknown values count as 0."""
    return sum((v for v in values if v is not None), Decimal("0"))

"""Every close-the-loop figure against values worked out by hand."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from django.utils import timezone

from metrics import formulas
from metrics.filters import filters_parse
from metrics.followup_selectors import loop_metrics
from metrics.models import FollowUp
from surveys.models import Response
from tests.followups.conftest import answer, detractor_rule, make_customer, make_survey

HOUR = dt.timedelta(hours=1)


# ------------------------------------------------------------------------------------------------
# The formulas
# ------------------------------------------------------------------------------------------------
def test_closed_loop_rate():
    assert formulas.closed_loop_rate(closed_in_time=2, opened=5).value == pytest.approx(40.0)
    assert formulas.closed_loop_rate(closed_in_time=0, opened=0).value is None


def test_recovery_rate_with_its_margin():
    score = formulas.recovery_rate(recovered=2, followed_up=5)
    assert score.value == pytest.approx(40.0) and score.n == 5
    assert score.margin == pytest.approx(1.96 * math.sqrt(0.4 * 0.6 / 5) * 100)
    assert formulas.recovery_rate(recovered=0, followed_up=0).value is None


def test_shares_largest_first_ties_by_label():
    rows = formulas.shares({"Price": 1, "Delivery › Late": 1, "Service": 2})
    assert [(r.label, r.count, round(r.percent, 1)) for r in rows] == [
        ("Service", 2, 50.0),
        ("Delivery › Late", 1, 25.0),
        ("Price", 1, 25.0),
    ]
    assert formulas.shares({}) == []


def test_revenue_at_risk_ignores_unknown_values():
    assert formulas.revenue_at_risk([Decimal("5000"), None, Decimal("250.50")]) == Decimal(
        "5250.50"
    )
    assert formulas.revenue_at_risk([]) == Decimal("0")


def test_elapsed_leaves_out_what_has_not_ended():
    start = timezone.now()
    assert formulas.elapsed([(start, start + HOUR), (start, None)]) == [3600.0]


# ------------------------------------------------------------------------------------------------
# The figures from follow-up rows
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def dataset(cx_lead, care, nps, channel_accounts, causes, captured_jobs):
    """Six NPS detractors followed up (A–E in the last 30 days, F 40 days ago):

    | | first contact | closed | deadline | root cause | value | later NPS |
    |---|---|---|---|---|---|---|
    | A | +1 h | resolved +5 h | +24 h | Delivery › Late | 1,000 | 8 (recovered) |
    | B | +3 h | resolved +30 h | +24 h | Price | — | 6 |
    | C | +2 h | unreachable +10 h | +24 h | — | — | 10 (recovered) |
    | D | +6 h | open, escalated | +24 h (past) | — | 5,000 | — |
    | E | — | open | in 10 h | — | 250 | — |
    | F | +1 h | resolved +2 h | +24 h | Price | — | — (40 days ago) |
    """
    detractor_rule(cx_lead, nps)
    values = [Decimal("1000"), None, None, Decimal("5000"), Decimal("250"), None]
    customers = [make_customer(value=v) for v in values]
    responses = [answer(nps, c, 3) for c in customers]
    captured_jobs.run_all()
    followups = {
        label: FollowUp.objects.get(response=r)
        for label, r in zip("ABCDEF", responses, strict=True)
    }
    now = timezone.now()
    t0 = now - dt.timedelta(days=2)
    rows = {
        "A": (t0, t0 + HOUR, t0 + 5 * HOUR, "resolved", causes["late"]),
        "B": (t0, t0 + 3 * HOUR, t0 + 30 * HOUR, "resolved", causes["price"]),
        "C": (t0, t0 + 2 * HOUR, t0 + 10 * HOUR, "unreachable", None),
        "D": (t0, t0 + 6 * HOUR, None, "contacted", None),
        "E": (now - 14 * HOUR, None, None, "new", None),
        "F": (now - dt.timedelta(days=40), None, None, "resolved", causes["price"]),
    }
    for label, (opened, contacted, closed, status, cause) in rows.items():
        if label == "F":
            contacted, closed = opened + HOUR, opened + 2 * HOUR
        FollowUp.objects.filter(pk=followups[label].pk).update(
            opened_at=opened,
            due_at=opened + 24 * HOUR,
            first_contacted_at=contacted,
            closed_at=closed,
            status=status,
            root_cause=cause,
            escalated_at=now if label == "D" else None,
        )
        Response.objects.filter(pk=followups[label].response_id).update(
            completed_at=opened - dt.timedelta(minutes=1)
        )
    other_nps = make_survey("nps", cx_lead)
    for label, score in (("A", 8), ("B", 6), ("C", 10)):
        later = answer(other_nps, customers["ABCDEF".index(label)], score)
        Response.objects.filter(pk=later.pk).update(completed_at=now - HOUR)
    captured_jobs.sent.clear()  # the later answers open nothing here
    return followups


def test_every_loop_metric_by_hand(dataset, cx_lead):
    loop = loop_metrics(filters_parse({"period": "30d"}, user=cx_lead))
    assert loop.opened == 5  # F was opened before the period
    assert loop.closed_in_time == 2  # A and C; B closed after its deadline
    assert loop.closed_loop.value == pytest.approx(40.0)
    # First contact: A 1 h, B 3 h, C 2 h, D 6 h → median 2.5 h, mean 3 h.
    assert loop.first_contact.n == 4
    assert loop.first_contact.median == pytest.approx(2.5 * 3600)
    assert loop.first_contact.mean == pytest.approx(3 * 3600)
    # Resolution: A 5 h, B 30 h.
    assert loop.resolution.n == 2 and loop.resolution.median == pytest.approx(17.5 * 3600)
    # Recovery: A (8) and C (10) of the five NPS detractors; B's later 6 is no recovery.
    assert (loop.recovered, loop.recovery.n) == (2, 5)
    assert loop.recovery.value == pytest.approx(40.0)
    assert [(r.label, r.count, r.percent) for r in loop.root_causes] == [
        ("Delivery › Late", 1, 50.0),
        ("Price", 1, 50.0),
    ]
    # At risk now: D and E are open detractors: 5,000 + 250.
    assert loop.revenue_at_risk == Decimal("5250") and loop.customers_at_risk == 2
    assert (loop.open_now, loop.overdue_now, loop.escalated) == (2, 1, 1)
    assert [card.key for card in loop.cards] == [
        "closed_loop", "first_contact", "resolution", "recovery", "revenue", "open",
    ]  # fmt: skip
    assert loop.cards[0].value == "40\u00a0%" and loop.cards[1].value == "2.5 h"
    assert loop.chart_data()["labels"] == ["Delivery › Late", "Price"]


def test_the_dashboard_filters_apply(dataset, cx_lead, care, nps):
    anna = care.members.order_by("id").first()
    mine = loop_metrics(filters_parse({"agent": str(anna.pk)}, user=cx_lead))
    owned = [label for label, fu in dataset.items() if fu.owner_id == anna.pk and label != "F"]
    assert mine.opened == len(owned) == 3  # round robin: A, C, E
    assert mine.closed_in_time == 2 and mine.customers_at_risk == 1
    other = make_survey("csat", cx_lead)
    none = loop_metrics(filters_parse({"survey": str(other.pk)}, user=cx_lead))
    assert none.opened == 0 and none.closed_loop.value is None and none.root_causes == []
    week = loop_metrics(filters_parse({"period": "7d", "channel": "sms"}, user=cx_lead))
    assert week.opened == 0  # they were answered by email


def test_an_agent_sees_their_own_figures(dataset, care):
    ben = care.members.order_by("id").last()
    loop = loop_metrics(filters_parse({}, user=ben))
    assert loop.opened == 2  # B and D
    assert loop.closed_in_time == 0 and loop.overdue_now == 1

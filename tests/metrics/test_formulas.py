"""Every formula against values worked out by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrics import formulas


def test_nps_with_promoters_passives_and_detractors():
    # 50 promoters, 30 passives, 20 detractors: 50 % − 20 % = +30.
    score = formulas.nps(promoters=50, passives=30, detractors=20)
    assert score.value == pytest.approx(30.0) and score.n == 100
    # Variance of (+1, 0, −1): 0.5 + 0.2 − 0.3² = 0.61; margin 1.96 × √(0.61/100) × 100 ≈ 15.3.
    assert score.margin == pytest.approx(1.96 * math.sqrt(0.61 / 100) * 100)
    assert not score.small_sample
    assert formulas.nps(promoters=0, passives=0, detractors=4).value == -100
    assert formulas.nps(promoters=3, passives=0, detractors=0).small_sample
    assert formulas.nps(promoters=0, passives=0, detractors=0).value is None


def test_csat_counts_the_top_two_boxes():
    score = formulas.csat(satisfied=42, answers=60)
    assert score.value == pytest.approx(70.0)
    assert score.margin == pytest.approx(1.96 * math.sqrt(0.7 * 0.3 / 60) * 100)


def test_ces_in_both_scale_directions():
    # 1–7, high is good: answers 7, 6, 5, 4, 2 → 3 in the top boxes (5–7) = 60 %, mean 4.8.
    high = [7, 6, 5, 4, 2]
    result = formulas.ces(good=sum(a >= 5 for a in high), answers=5, total=sum(high))
    assert result.top_boxes.value == pytest.approx(60.0) and result.mean == pytest.approx(4.8)
    # The same experiences on a survey worded so that 1 is good: 1, 2, 3, 4, 6.
    low = [1, 2, 3, 4, 6]
    turned = [formulas.mirrored(a, low=1, high=7, good_end="low") for a in low]
    assert turned == high
    again = formulas.ces(good=sum(a >= 5 for a in turned), answers=5, total=sum(turned))
    assert again == result


def test_first_response_and_handling_time():
    result = formulas.duration([60, 120, 600])
    assert result.mean == pytest.approx(260) and result.median == 120 and result.n == 3
    assert formulas.duration([]).mean is None


def test_churn_and_retention_with_new_customers_joining():
    # 200 at the start, 20 lost, 50 new: 230 at the end.
    assert formulas.churn_rate(lost=20, at_start=200).value == pytest.approx(10.0)
    assert formulas.retention_rate(at_end=230, new=50, at_start=200).value == pytest.approx(90.0)
    assert formulas.churn_rate(lost=1, at_start=0).value is None


def test_visit_intent_share_and_fulfilment():
    rows = formulas.visit_intent(
        reasons={"buy": 60, "support": 30, "browse": 10},
        fulfilled={"buy": 45, "support": 12},
        answered={"buy": 60, "support": 24, "browse": 0},
    )
    assert [(r.reason, r.share) for r in rows] == [
        ("buy", 60.0),
        ("support", 30.0),
        ("browse", 10.0),
    ]
    assert rows[0].fulfilled.value == pytest.approx(75.0)
    assert rows[1].fulfilled.value == pytest.approx(50.0)
    assert rows[2].fulfilled.value is None


def test_response_rate_and_closed_loop_rate():
    assert formulas.response_rate(responses=30, delivered=120).value == pytest.approx(25.0)
    assert formulas.closed_loop_rate(closed_in_time=9, opened=12).value == pytest.approx(75.0)


@given(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
)
def test_nps_stays_in_range(promoters, passives, detractors):
    score = formulas.nps(promoters=promoters, passives=passives, detractors=detractors)
    if score.value is not None:
        assert -100 <= score.value <= 100 and score.margin is not None and score.margin >= 0


@pytest.mark.parametrize("seconds", [[90], [90, 200], [5, 7_000_000]])
def test_the_median_of_one_or_two_durations_is_exact(seconds):
    hist: list[int] = []
    for value in seconds:
        hist = formulas.histogram_add(hist, [0] * formulas.bucket_of(value) + [1])
    got = formulas.duration_from_buckets(total=sum(seconds), n=len(seconds), hist=hist)
    assert got.median == got.mean == sum(seconds) / len(seconds)


def test_the_median_of_three_durations_lies_in_the_middle_ones_bucket():
    seconds = [60, 120, 600]
    hist: list[int] = []
    for value in seconds:
        hist = formulas.histogram_add(hist, [0] * formulas.bucket_of(value) + [1])
    got = formulas.duration_from_buckets(total=sum(seconds), n=3, hist=hist)
    index = formulas.bucket_of(120)
    assert formulas.BUCKET_EDGES[index] <= got.median <= formulas.BUCKET_EDGES[index + 1]

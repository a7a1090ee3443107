"""The rollups equal the raw rows: on random data, after a full rebuild and after a refresh of the
last days, for responses, conversations and customers."""

from __future__ import annotations

import datetime as dt
import statistics

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.models import Conversation
from journeys.models import Customer
from metrics import formulas, services
from metrics.models import ConversationDaily, CustomerDaily, ResponseDaily
from surveys.models import Response
from tests.metrics.conftest import TODAY, answer, conversation, make_customer, make_survey

pytestmark = pytest.mark.django_db

RAW_RESPONSES = """
    SELECT DATE(r.completed_at AT TIME ZONE 'UTC'), r.survey_id, r.channel, r.language,
           COALESCE(c.attributes ->> 'plan', ''),
           COUNT(*), COUNT(r.score),
           COUNT(*) FILTER (WHERE r.band = 'positive'), COUNT(*) FILTER (WHERE r.band = 'neutral'),
           COUNT(*) FILTER (WHERE r.band = 'negative'),
           COALESCE(SUM(CASE WHEN q.good_end = 'low' THEN q.scale_min + q.scale_max - r.score
                             ELSE r.score END), 0)
    FROM surveys_response r
    JOIN surveys_invitation i ON i.id = r.invitation_id
    JOIN journeys_customer c ON c.id = i.customer_id
    JOIN surveys_question q ON q.survey_id = r.survey_id AND q.position = 0
    WHERE r.completed_at IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
"""

RAW_CONVERSATIONS = """
    SELECT DATE(first_response_at AT TIME ZONE 'UTC'), channel,
           COUNT(*), SUM(ROUND(EXTRACT(EPOCH FROM first_response_at - first_customer_message_at)))
    FROM inbox_conversation
    WHERE first_response_at >= first_customer_message_at
    GROUP BY 1, 2
"""


def _raw(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return sorted(tuple(row) for row in cursor.fetchall())


def _rolled_responses() -> list[tuple]:
    """The same sums from the rollup: everybody, and each plan's slice."""
    counters = ("responses", "scored", "positive", "neutral", "negative", "score_sum")
    everybody = (
        ResponseDaily.objects.filter(attribute="")
        .values("day", "survey_id", "channel", "language")
        .annotate(**{c: Sum(c) for c in counters})
    )
    by_plan = {
        (r["day"], r["survey_id"], r["channel"], r["language"], r["value"]): r
        for r in ResponseDaily.objects.filter(attribute="plan")
        .values("day", "survey_id", "channel", "language", "value")
        .annotate(**{c: Sum(c) for c in counters})
    }
    rows = []
    for row in everybody:
        key = (row["day"], row["survey_id"], row["channel"], row["language"])
        planned = [r for k, r in by_plan.items() if k[:4] == key]
        unplanned = {c: row[c] - sum(r[c] for r in planned) for c in counters}
        for plan, sums in [("", unplanned), *((r["value"], r) for r in planned)]:
            if sums["responses"]:
                rows.append((*key, plan, *(sums[c] for c in counters)))
    return sorted(rows)


def _rolled_conversations() -> list[tuple]:
    rows = (
        ConversationDaily.objects.filter(attribute="", first_responses__gt=0)
        .values("day", "channel")
        .annotate(n=Sum("first_responses"), total=Sum("frt_sum"))
    )
    return sorted((r["day"], r["channel"], r["n"], r["total"]) for r in rows)


def _snapshot() -> dict[str, list]:
    return {
        name: sorted(
            tuple(v for k, v in row.items() if k != "id") for row in model.objects.values()
        )
        for name, model in (
            ("responses", ResponseDaily),
            ("conversations", ConversationDaily),
            ("customers", CustomerDaily),
        )
    }


ANSWERS = st.lists(
    st.tuples(
        st.sampled_from(["nps", "csat", "ces_high", "ces_low"]),
        st.integers(0, 10),
        st.sampled_from(["en", "nl"]),
        st.sampled_from(["email", "sms"]),
        st.sampled_from(["", "gold", "basic"]),
        st.integers(0, 8),
    ),
    max_size=14,
)
CONVERSATIONS = st.lists(
    st.tuples(
        st.sampled_from(["email", "sms"]),
        st.integers(0, 8),
        st.one_of(st.none(), st.integers(0, 5 * 86400)),
        st.one_of(st.none(), st.integers(0, 9 * 86400)),
        st.booleans(),
    ),
    max_size=10,
)
CUSTOMERS = st.lists(
    st.tuples(st.integers(0, 40), st.one_of(st.none(), st.integers(0, 40))), max_size=10
)


@pytest.fixture
def kinds(cx_lead):
    return {
        "nps": make_survey("nps", cx_lead),
        "csat": make_survey("csat", cx_lead),
        "ces_high": make_survey("ces", cx_lead),
        "ces_low": make_survey("ces", cx_lead, good_end="low"),
    }


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answers=ANSWERS, talks=CONVERSATIONS, joined=CUSTOMERS)
def test_rollups_equal_the_raw_rows(kinds, channel_accounts, answers, talks, joined):
    Response.objects.all().delete()
    Conversation.objects.all().delete()
    Customer.objects.all().delete()
    for kind, score, language, channel, plan, days_ago in answers:
        low, high = (1, 7) if kind.startswith("ces") else (1, 5) if kind == "csat" else (0, 10)
        customer = make_customer(attributes={"plan": plan} if plan else {})
        answer(
            kinds[kind],
            customer,
            min(max(score, low), high),
            TODAY - dt.timedelta(days=days_ago),
            language=language,
            channel=channel,
        )
    frts, handlings = [], []
    for channel, days_ago, frt, handling, agent_first in talks:
        conversation(
            channel_accounts[channel],
            make_customer(),
            TODAY - dt.timedelta(days=days_ago),
            first_response=frt,
            handling=handling,
            agent_first=agent_first,
        )
        if frt is not None and not agent_first:
            frts.append(frt)
        if handling is not None:
            handlings.append(handling)
    for became, churned in joined:
        make_customer(
            became_customer_on=TODAY - dt.timedelta(days=became + 1),
            churned_on=TODAY - dt.timedelta(days=churned) if churned is not None else None,
        )

    call_command("rebuild_rollups", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert _rolled_responses() == _raw(RAW_RESPONSES)
    assert _rolled_conversations() == _raw(RAW_CONVERSATIONS)
    # Durations: the histogram holds every one, the mean is exact, the median within its bucket.
    rows = list(ConversationDaily.objects.filter(attribute=""))
    for values, n_field, sum_field, hist_field in (
        (frts, "first_responses", "frt_sum", "frt_hist"),
        (handlings, "resolved", "handling_sum", "handling_hist"),
    ):
        hist: list[int] = []
        for row in rows:
            hist = formulas.histogram_add(hist, getattr(row, hist_field))
        total = sum(getattr(row, sum_field) for row in rows)
        got = formulas.duration_from_buckets(
            total=total, n=sum(getattr(r, n_field) for r in rows), hist=hist
        )
        assert sum(hist) == len(values) == got.n
        if values:
            assert got.mean == pytest.approx(statistics.mean(values), abs=0.5)
            # Between the bucket of the lower middle value and the end of the upper one's.
            edges = formulas.BUCKET_EDGES
            low = edges[formulas.bucket_of(statistics.median_low(values))]
            upper = formulas.bucket_of(statistics.median_high(values)) + 1
            high = edges[upper] if upper < len(edges) else float("inf")
            assert low <= got.median <= high, (got.median, values)
    # Customers: gained on the day they joined, lost on the day they left.
    gained = dict(
        CustomerDaily.objects.filter(attribute="").values_list("day").annotate(Sum("gained"))
    )
    expected: dict[dt.date, int] = {}
    for became, _churned in joined:
        day = TODAY - dt.timedelta(days=became + 1)
        expected[day] = expected.get(day, 0) + 1
    assert {d: n for d, n in gained.items() if n} == expected
    lost = sum(CustomerDaily.objects.filter(attribute="").values_list("lost", flat=True))
    assert lost == sum(1 for b, c in joined if c is not None and c <= b + 1)

    # A refresh of the last days gives the same rows as the rebuild.
    rebuilt = _snapshot()
    services.rollups_refresh(since=TODAY - dt.timedelta(days=3))
    assert _snapshot() == rebuilt


def test_a_new_response_reaches_the_rollups_through_the_refresh_its_signal_asks_for(
    cx_lead, captured_jobs, settings
):
    survey = make_survey("nps", cx_lead)
    answer(survey, make_customer(), 3, dt.date.today())
    assert not ResponseDaily.objects.exists()
    captured_jobs.run_all()
    row = ResponseDaily.objects.get(attribute="")
    assert (row.responses, row.negative, row.score_sum) == (1, 1, 3)


def test_many_responses_ask_for_one_refresh(cx_lead, captured_jobs):
    survey = make_survey("nps", cx_lead)
    for score in (1, 9, 10):
        answer(survey, make_customer(), score, dt.date.today())
    captured_jobs.commit()
    assert captured_jobs.names().count("metrics.refresh") == 1


def test_the_command_rebuilds_from_a_day(cx_lead, capsys):
    survey = make_survey("csat", cx_lead)
    answer(survey, make_customer(), 5, TODAY)
    answer(survey, make_customer(), 1, TODAY - dt.timedelta(days=10))
    call_command("rebuild_rollups")
    assert ResponseDaily.objects.filter(attribute="").count() == 2
    ResponseDaily.objects.all().delete()
    call_command("rebuild_rollups", "--since", TODAY.isoformat())
    assert list(ResponseDaily.objects.values_list("day", flat=True)) == [TODAY]
    assert "responses" in capsys.readouterr().out


def test_the_command_refuses_a_bad_date():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="date like"):
        call_command("rebuild_rollups", "--since", "yesterday")

"""Every dashboard figure on a known dataset, against values worked out by hand; and the filters'
answers to impossible periods and tampered values."""

from __future__ import annotations

import datetime as dt

import pytest

from inbox.models import Delivery
from metrics import selectors, services
from metrics.filters import filters_parse
from surveys import services as surveys
from tests.metrics.conftest import (
    TODAY,
    answer,
    at,
    conversation,
    make_customer,
    make_survey,
    reply,
)

pytestmark = pytest.mark.django_db
JUNE = {"from": "2026-06-01", "to": "2026-06-30"}
IN_JUNE = dt.date(2026, 6, 10)
IN_MAY = dt.date(2026, 5, 10)


def _delivered(invitation, day: dt.date, status: str = "delivered") -> None:
    delivery = Delivery.objects.create(
        channel="email", provider="dev", to_address="x@example.com", status=status
    )
    Delivery.objects.filter(pk=delivery.pk).update(created_at=at(day))
    invitation.delivery = delivery
    invitation.save(update_fields=["delivery"])


@pytest.fixture
def dataset(cx_lead, channel_accounts):
    nps, csat = make_survey("nps", cx_lead), make_survey("csat", cx_lead)
    ces_high, ces_low = make_survey("ces", cx_lead), make_survey("ces", cx_lead, good_end="low")
    someone = make_customer()
    # NPS in June: promoters 10, 10, 9, 9, 9; passives 8, 7; detractors 6, 3, 0 → (5 − 3)/10 = 20.
    for score in (10, 10, 9, 9, 9, 8, 7, 6, 3, 0):
        answer(nps, someone, score, IN_JUNE, invited=False, channel="link")
    # NPS in May: one promoter, one detractor → 0.
    for score in (10, 0):
        answer(nps, someone, score, IN_MAY, invited=False, channel="link")
    # CSAT (1–5) in June, each to a delivered invitation: 5, 4, 4 satisfied of 5 → 60 %.
    for score in (5, 4, 4, 3, 1):
        response = answer(csat, someone, score, IN_JUNE)
        _delivered(response.invitation, IN_JUNE)
    # Three more delivered invitations in June nobody answered, and one that failed:
    # response rate 5 / 8 = 62.5 %.
    for status in ("delivered", "sent", "opened", "failed"):
        invitation = surveys.invitation_create(survey=csat, customer=someone, channel="email")
        _delivered(invitation, IN_JUNE, status)
    # CES 1–7 "easy" high: 7, 6 easy, 2 hard. CES 1–7 with "easy" low: 1 easy (turned 7),
    # 4 neutral (4), 7 hard (1). Easy: 3 of 6 = 50 %; mean with easy high = (7+6+2+7+4+1)/6 = 4.5.
    for score in (7, 6, 2):
        answer(ces_high, someone, score, IN_JUNE, invited=False, channel="link")
    for score in (1, 4, 7):
        answer(ces_low, someone, score, IN_JUNE, invited=False, channel="link")
    # Conversations opened in June: first replies after 60, 120 and 600 s (mean 260); a
    # conversation the agent started has no first response time; resolved after 1 h and 2 h.
    mail = channel_accounts["email"]
    conversation(mail, someone, IN_JUNE, first_response=60, handling=3600)
    conversation(mail, someone, IN_JUNE, first_response=120, handling=7200)
    conversation(mail, someone, IN_JUNE, first_response=600)
    conversation(mail, someone, IN_JUNE, first_response=30, agent_first=True)
    # Customers: four at the start of June (A–D), E left in May; D leaves in June; F and G join
    # in June and G leaves again. Lost in June: D and G → churn 2 / 4 = 50 %. At the end: A, B,
    # C, F = 4; retention (4 − 2 new) / 4 = 50 %.
    for became, churned in (
        ("2026-01-01", None),
        ("2026-02-01", None),
        ("2026-03-01", None),
        ("2026-04-01", "2026-06-15"),
        ("2026-05-01", "2026-05-20"),
        ("2026-06-10", None),
        ("2026-06-12", "2026-06-20"),
    ):
        make_customer(
            became_customer_on=dt.date.fromisoformat(became),
            churned_on=dt.date.fromisoformat(churned) if churned else None,
        )
    services.rollups_rebuild()
    return {"nps": nps, "csat": csat, "ces_high": ces_high, "ces_low": ces_low}


def _june(**params):
    f = filters_parse({**JUNE, **params}, today=TODAY)
    assert not f.errors
    return f


def test_every_overview_figure_matches_the_hand_worked_value(dataset):
    overview = selectors.overview(_june())
    nps = overview.figure("nps")
    assert (nps.value, nps.n, nps.previous, nps.change) == (20, 10, 0, 20)
    assert nps.small_sample and nps.margin is not None
    csat = overview.figure("csat")
    assert (csat.value, csat.n) == (60, 5)
    ces = overview.figure("ces")
    assert (ces.value, ces.n, ces.mean_on_scale) == (50, 6, 4.5)
    rate = overview.figure("response_rate")
    assert (rate.value, rate.n) == (62.5, 8)
    frt = overview.figure("frt")
    assert (frt.value, frt.n) == (260, 3)
    assert 100 <= frt.median <= 144  # 120 s, read from its bucket (120–144 s)
    handling = overview.figure("handling")
    assert (handling.value, handling.n) == (5400, 2)
    churn, retention = overview.figure("churn"), overview.figure("retention")
    assert (churn.value, churn.n) == (50, 4)
    assert (retention.value, retention.n) == (50, 4)
    # The previous period, the 30 days before June (2–31 May): A–E at its start, E leaves →
    # churn 1 / 5; retention (4 − 0 new) / 5.
    assert (churn.previous, retention.previous) == (20, 80)


def test_the_same_answers_on_a_mirrored_effort_scale_give_the_same_ces(cx_lead):
    high, low = make_survey("ces", cx_lead), make_survey("ces", cx_lead, good_end="low")
    someone = make_customer()
    for score in (7, 5, 3):
        answer(high, someone, score, IN_JUNE, invited=False, channel="link")
        answer(low, someone, 8 - score, IN_JUNE, invited=False, channel="link")
    services.rollups_rebuild()
    one = selectors.overview(_june(survey=str(high.pk))).figure("ces")
    other = selectors.overview(_june(survey=str(low.pk))).figure("ces")
    assert (one.value, one.mean_on_scale) == (other.value, other.mean_on_scale)
    assert (one.value, one.mean_on_scale) == (pytest.approx(200 / 3), 5)


def test_the_trend_sums_to_the_period(dataset):
    points = selectors.trend(_june(grain="week"))
    assert sum(p.counts.get("nps", 0) for p in points) == 10


def test_the_trend_counts_customers_from_before_the_period(dataset):
    # Weeks from Monday 1 June: A–D at the start of the first; F (10th) and G (12th) join in
    # the second; D leaves on the 15th; G on the 20th.
    points = selectors.trend(_june(grain="week"))
    churn = [(p.start.isoformat(), p.values["churn"], p.counts["churn"]) for p in points]
    assert churn[:3] == [
        ("2026-06-01", 0, 4),
        ("2026-06-08", 0, 4),
        ("2026-06-15", pytest.approx(100 * 2 / 6), 6),
    ]


def test_a_breakdown_by_channel_splits_the_answers(dataset):
    rows = {row.key: row for row in selectors.breakdown(_june(), "channel")}
    assert rows["link"].figure("nps").value == 20
    assert rows["email"].figure("csat").value == 60


def test_breakdowns_name_their_rows_as_the_app_does(dataset, cx_lead, care_team, channel_accounts):
    """Touchpoints are named from their list, read beside the sums (only the filtered ones when
    a filter fixes them); surveys, teams and agents by the read of their sums when no
    conversations are read, and apart otherwise: the same names either way (an agent without a
    name is called by their email)."""
    from cxm.accounts.models import Team, User
    from journeys.services.journeys import journey_save, stage_save, touchpoint_save
    from surveys.models import Response

    nameless = User.objects.create_user(email="nameless@example.com", password="x" * 16)
    named = User.objects.create_user(email="bo@example.com", password="x" * 16, name="Bo Smit")
    Team.objects.create(name="Another team")
    journey = journey_save(name="Online shop")
    checkout = touchpoint_save(
        stage=stage_save(journey=journey, name="Buy"),
        name="Checkout",
        key="order.placed",
        channel="web",
    )
    csat = dataset["csat"]
    for who, response in zip(
        (nameless, named), Response.objects.filter(survey=csat)[:2], strict=True
    ):
        Response.objects.filter(pk=response.pk).update(agent=who, team=care_team)
    answer(dataset["nps"], make_customer(), 10, IN_JUNE, touchpoint=checkout)
    services.rollups_rebuild()
    for f in (_june(), _june(survey=str(csat.pk))):  # conversations read, then not
        agents = {row.key: row.label for row in selectors.breakdown(f, "agent")}
        assert agents[nameless.pk] == "nameless@example.com"
        assert agents[named.pk] == "Bo Smit"
        teams = {row.key: row.label for row in selectors.breakdown(f, "team")}
        assert teams[care_team.pk] == care_team.name
    teams = {
        row.key: row.label for row in selectors.breakdown(_june(team=str(care_team.pk)), "team")
    }
    assert teams == {care_team.pk: care_team.name}
    surveys_named = {row.key: row.label for row in selectors.breakdown(_june(), "survey")}
    assert surveys_named[csat.pk] == csat.name
    for f in (_june(), _june(journey=str(journey.pk))):
        touchpoints = {row.key: row.label for row in selectors.breakdown(f, "touchpoint")}
        assert touchpoints[checkout.pk] == "Checkout"
    assert touchpoints == {checkout.pk: "Checkout"}  # the journey's only touchpoint


def test_a_journey_without_touchpoints_breaks_down_into_nothing(dataset):
    from journeys.services.journeys import journey_save

    f = _june(journey=str(journey_save(name="Not mapped yet").pk))
    assert f.touchpoints == frozenset()
    assert selectors.breakdown(f, "touchpoint") == []
    assert selectors.breakdown(f, "survey") == []


def test_a_breakdown_counts_the_responses_no_score_is_taken_from(dataset, cx_lead):
    """A visit-intent survey's responses count in a row's responses, in none of its scores."""
    visit = make_survey("visit_intent", cx_lead)
    for got in ("yes", "no"):
        reply(
            visit, make_customer(), None, IN_JUNE, choices={"reason": ["buy"], "fulfilled": [got]}
        )
    services.rollups_rebuild()
    rows = {row.key: row for row in selectors.breakdown(_june(), "survey")}
    assert rows[visit.pk].responses == 2
    assert [rows[visit.pk].figures[key].n for key in ("nps", "csat", "ces")] == [0, 0, 0]
    nps = rows[dataset["nps"].pk]
    assert (nps.responses, nps.figures["nps"].value, nps.figures["csat"].n) == (10, 20, 0)


def test_a_filter_on_a_survey_keeps_its_answers_only(dataset):
    overview = selectors.overview(_june(survey=str(dataset["csat"].pk)))
    assert overview.figure("nps").n == 0
    assert overview.figure("csat").n == 5


def test_an_attribute_filter_reads_the_attribute_slice(cx_lead):
    survey = make_survey("nps", cx_lead)
    for plan, score in (("gold", 10), ("gold", 9), ("basic", 0)):
        answer(survey, make_customer(attributes={"plan": plan}), score, IN_JUNE)
    services.rollups_rebuild()
    gold = selectors.overview(_june(attribute="plan", value="gold")).figure("nps")
    everyone = selectors.overview(_june()).figure("nps")
    assert (gold.value, gold.n) == (100, 2)
    assert everyone.n == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-06-30", "to": "2026-06-01"}, "to"),
        ({"from": "2027-01-01", "to": "2027-02-01"}, "from"),
        ({"from": "not-a-date"}, "from"),
        ({"from": "2020-01-01", "to": "2026-06-01"}, "to"),
        ({"period": "forever"}, "period"),
        ({"grain": "hour"}, "grain"),
        ({"survey": "99999"}, "survey"),
        ({"survey": "1; DROP TABLE"}, "survey"),
        ({"channel": "pigeon"}, "channel"),
        ({"language": "xx"}, "language"),
        ({"attribute": "password", "value": "x"}, "attribute"),
        ({"attribute": "plan"}, "value"),
        ({"touchpoint": "-1"}, "touchpoint"),
        ({"survey": "²"}, "survey"),
        ({"attribute": "plan", "value": "gold\x00"}, "value"),
        ({"agent": "123456"}, "agent"),
    ],
)
def test_impossible_filters_name_the_field(db, params, field):
    f = filters_parse(params, today=TODAY)
    assert f.errors.get(field)
    assert not f.valid


def test_an_agent_sees_their_own_figures_whatever_the_url_says(agent, cx_lead):
    f = filters_parse({"agent": str(cx_lead.pk)}, user=agent, today=TODAY)
    assert f.agent == agent.pk
    assert filters_parse({"agent": str(agent.pk)}, user=cx_lead, today=TODAY).agent == agent.pk


def test_the_filters_round_trip_through_the_url(dataset):
    f = _june(survey=str(dataset["nps"].pk), channel="link", grain="week")
    from urllib.parse import parse_qsl

    again = filters_parse(dict(parse_qsl(f.query())), today=TODAY)
    assert again == f

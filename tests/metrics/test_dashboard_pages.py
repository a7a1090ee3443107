"""The dashboard pages: what a CX lead, a team lead and an agent see, the filter bar's answers
to tampered values, the CSV downloads, and that the page shows what the selectors compute."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from cxm.accounts.models import Role
from journeys.services import customer_create
from journeys.services.journeys import journey_save, stage_save, touchpoint_save
from metrics import presenters, selectors, services
from metrics.filters import filters_parse
from surveys.models import Response
from tests.conftest import make_user
from tests.metrics.conftest import conversation, make_survey, reply

pytestmark = pytest.mark.django_db

PAGES = [
    ("metrics:dashboard", "Overview"),
    ("metrics:dashboard-channels", "Channels"),
    ("metrics:dashboard-touchpoints", "Touchpoints"),
    ("metrics:dashboard-agents", "Agents"),
    ("metrics:dashboard-visits", "Visit intent"),
    ("metrics:dashboard-comments", "Comments"),
]


def days_ago(n: int) -> dt.date:
    return timezone.localdate() - dt.timedelta(days=n)


@pytest.fixture
def people(db: Any, care_team: Any) -> dict[str, Any]:
    return {
        "lead": make_user(Role.CX_LEAD, "lead@example.com", name="Lena Lead"),
        "alex": make_user(Role.AGENT, "alex@example.com", name="Alex Agent"),
        "bea": make_user(Role.AGENT, "bea@example.com", name="Bea Bakker"),
        "team": care_team,
    }


@pytest.fixture
def shop(db: Any) -> dict[str, Any]:
    journey = journey_save(name="Online shop")
    buy, deliver = (
        stage_save(journey=journey, name="Buy"),
        stage_save(journey=journey, name="Deliver"),
    )
    return {
        "journey": journey,
        "checkout": touchpoint_save(stage=buy, name="Checkout", key="order.placed", channel="web"),
        "delivery": touchpoint_save(
            stage=deliver, name="Delivery", key="order.delivered", channel="email"
        ),
    }


@pytest.fixture
def dataset(people: dict[str, Any], shop: dict[str, Any], channel_accounts: Any) -> dict[str, Any]:
    lead, alex, bea, team = people["lead"], people["alex"], people["bea"], people["team"]
    nps, csat = make_survey("nps", lead), make_survey("csat", lead)
    visit = make_survey("visit_intent", lead)
    ann = customer_create(name="Ann Smit", email="ann@example.com")
    recent = days_ago(3)
    # NPS at checkout by email: promoters 10, 10, 9, 9, 9; passives 8, 7; detractors 6, 3, 0
    # → (5 − 3) / 10 = 20.
    for score in (10, 10, 9, 9, 9, 8, 7, 6, 3, 0):
        reply(nps, ann, score, recent, touchpoint=shop["checkout"])
    reply(
        nps, ann, 2, recent, touchpoint=shop["delivery"], channel="sms", comment="Parcel was late"
    )
    # The previous period: one promoter → 100.
    reply(nps, ann, 10, days_ago(40), touchpoint=shop["checkout"])
    # CSAT credited to agents: Alex 5, 4, 2 (2 of 3 = 66.7 %), Bea 5 (100 %).
    reply(csat, ann, 5, recent, agent=alex, team=team, comment="Alex was great")
    reply(csat, ann, 4, recent, agent=alex, team=team, comment="Quick answer")
    reply(csat, ann, 2, recent, agent=alex, team=team, comment='=HYPERLINK("http://x")')
    reply(csat, ann, 5, recent, agent=bea, team=team, comment="Bea solved it")
    # Visit intent: 3 came to buy (2 got it), 1 for support (did not).
    for reason, got in (("buy", "yes"), ("buy", "yes"), ("buy", "no"), ("support", "no")):
        reply(visit, ann, None, recent, choices={"reason": [reason], "fulfilled": [got]})
    # Conversations: Alex first replied after 60 s and 180 s.
    mail = channel_accounts["email"]
    conversation(mail, ann, recent, first_response=60, handling=3600, team=team, assignee=alex)
    conversation(mail, ann, recent, first_response=180, handling=7200, team=team, assignee=alex)
    services.rollups_rebuild()
    return {**people, **shop, "nps": nps, "csat": csat, "ann": ann}


def _page(client: Any, user: Any, name: str, **params: str) -> Any:
    client.force_login(user)
    return client.get(reverse(name), params)


def _card(body: str, key: str) -> str:
    found = re.search(rf'id="card-{key}".*?</li>', body, re.S)
    assert found, key
    return found.group(0)


def _text(fragment: str, marker: str) -> str:
    found = re.search(rf"{marker}[^>]*>([^<]*)<", fragment)
    assert found, marker
    return html.unescape(found.group(1)).strip()


def _csv(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


# ------------------------------------------------------------------------------------------------
# Every page renders
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "title"), PAGES)
def test_every_dashboard_renders_for_a_lead_with_data(client, dataset, name, title):
    response = _page(client, dataset["lead"], name)
    assert response.status_code == 200
    body = response.content.decode()
    assert f"<h1>{title}</h1>" in body
    assert 'aria-current="page"' in body  # the sub-navigation marks this dashboard
    assert "Figures as of" in body
    assert "format=csv" in body
    assert "text/javascript" not in body and "<script>" not in body  # no inline script (CSP)


@pytest.mark.parametrize(("name", "title"), PAGES)
def test_every_dashboard_renders_empty(client, people, name, title):
    response = _page(client, people["lead"], name)
    assert response.status_code == 200
    assert f"<h1>{title}</h1>" in response.content.decode()


def test_overview_shows_the_selectors_figures(client, dataset, django_assert_max_num_queries):
    lead = dataset["lead"]
    client.force_login(lead)
    with django_assert_max_num_queries(30):
        response = client.get(reverse("metrics:dashboard"))
    body = response.content.decode()
    f = filters_parse({}, user=lead)
    for figure in selectors.overview(f).figures:
        card = _card(body, figure.key)
        assert _text(card, "data-value") == presenters.value_text(figure.headline, figure.unit)
        if figure.n:
            assert presenters.number(figure.n) in _text(card, "data-n")
        assert figure.help in html.unescape(card)
    nps = _card(body, "nps")
    assert _text(nps, "data-value") == "9.1"  # (5 − 4) / 11 with the late parcel
    assert "n = 11 answers" in _text(nps, "data-n")
    assert _text(nps, "data-margin").startswith("±")
    assert "Small sample" in nps  # 11 < 30: flagged, not hidden
    assert "▼" in nps and "−90.9" in nps and "worse" in nps  # 100 before
    csat = _card(body, "csat")
    assert _text(csat, "data-value") == "75%"
    frt = _card(body, "frt")
    assert _text(frt, "data-value") == presenters.duration(
        selectors.overview(f).figure("frt").median
    )
    assert "mean 2 min" in _text(frt, "data-aside")


def test_filters_narrow_the_figures_and_a_note_says_what_does_not_apply(client, dataset):
    response = _page(
        client,
        dataset["lead"],
        "metrics:dashboard",
        touchpoint=str(dataset["delivery"].pk),
        channel="sms",
    )
    body = response.content.decode()
    nps = _card(body, "nps")
    assert _text(nps, "data-value") == "−100"
    assert "n = 1 answer" in _text(nps, "data-n")
    assert "these filters do not apply" in _text(_card(body, "frt"), "data-note")
    # The sub-navigation and the CSV links keep the filters.
    assert (
        f"touchpoint={dataset['delivery'].pk}" in body.split('class="subnav')[1].split("</nav>")[0]
    )
    assert "channel=sms&amp;format=csv&amp;table=trend" in body


def test_trend_by_week_has_one_row_per_week(client, dataset):
    response = _page(client, dataset["lead"], "metrics:dashboard", grain="week", period="30d")
    rows = _csv(
        _page(
            client, dataset["lead"], "metrics:dashboard", grain="week", format="csv", table="trend"
        )
    )
    f = filters_parse({"grain": "week"}, user=dataset["lead"])
    assert len(rows) == 1 + len(selectors.trend(f))
    assert rows[0][:4] == ["Period starting", "NPS", "NPS n", "CSAT"]
    points = selectors.trend(f)
    for row, point in zip(rows[1:], points, strict=True):
        assert row[0] == point.start.isoformat()
        assert row[1] == str(presenters.csv_number(point.values["nps"]))
        assert row[2] == str(point.counts["nps"])
    assert any(row[1] == "9.09" for row in rows[1:])
    assert "Week of" in response.content.decode()


# ------------------------------------------------------------------------------------------------
# Who sees what
# ------------------------------------------------------------------------------------------------
def test_an_agent_sees_only_their_own_figures_even_when_asking_for_another(client, dataset):
    alex, bea = dataset["alex"], dataset["bea"]
    response = _page(client, alex, "metrics:dashboard-agents", agent=str(bea.pk))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Alex Agent" in body and "Alex was great" in body
    assert "Bea Bakker" not in body and "Bea solved it" not in body
    assert "You see your own figures." in body
    overview = _page(client, alex, "metrics:dashboard", agent=str(bea.pk)).content.decode()
    mine = selectors.overview(filters_parse({}, user=alex)).figure("csat")
    assert _text(_card(overview, "csat"), "data-value") == presenters.value_text(
        mine.value, "percent"
    )
    assert _text(_card(overview, "csat"), "data-value") == "66.7%"
    rows = _csv(
        _page(
            client,
            alex,
            "metrics:dashboard-agents",
            agent=str(bea.pk),
            format="csv",
            table="agents",
        )
    )
    assert [row[0] for row in rows[1:]] == ["Alex Agent"]


def test_a_lead_sees_every_agent_and_coaches_one(client, dataset):
    lead, bea = dataset["lead"], dataset["bea"]
    body = _page(client, lead, "metrics:dashboard-agents").content.decode()
    assert "Alex Agent" in body and "Bea Bakker" in body
    assert "Alex was great" in body and "Bea solved it" in body
    one = _page(client, lead, "metrics:dashboard-agents", agent=str(bea.pk)).content.decode()
    assert "Bea solved it" in one and "Alex was great" not in one


def test_a_user_without_the_permission_gets_403(client, dataset):
    nobody = make_user(None, "nobody@example.com")
    client.force_login(nobody)
    for name, _title in PAGES:
        assert client.get(reverse(name)).status_code == 403
        assert client.get(reverse(name), {"format": "csv", "table": "trend"}).status_code == 403


# ------------------------------------------------------------------------------------------------
# Tampered filters
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"survey": "abc"}, "survey", "Not a valid id."),
        ({"from": "2026-13-01", "to": "2026-12-01"}, "from", "Enter a date like 2026-01-31."),
        ({"period": "forever"}, "period", "Choose one of the periods offered."),
        ({"channel": "fax"}, "channel", "There is no such channel."),
        ({"touchpoint": "999999"}, "touchpoint", "There is no such touchpoint."),
        ({"attribute": "plan"}, "value", "Enter the value of the attribute."),
        ({"grain": "hour"}, "grain", "Choose day, week or month."),
    ],
)
@pytest.mark.parametrize("name", [name for name, _title in PAGES])
def test_tampered_filters_show_the_fields_message_and_no_figures(
    client, dataset, params, field, message, name
):
    response = _page(client, dataset["lead"], name, **params)
    assert response.status_code == 400
    body = response.content.decode()
    assert f'id="f-{field}-error">{message}</small>' in body
    assert f'aria-describedby="f-{field}-error"' in body
    assert "No figures for these filters" in body
    assert "data-value" not in body and "<table" not in body
    csv_response = _page(client, dataset["lead"], name, format="csv", table="trend", **params)
    assert csv_response.status_code == 400
    assert message in csv_response.content.decode()


def test_an_unknown_csv_table_is_not_found(client, dataset):
    response = _page(client, dataset["lead"], "metrics:dashboard", format="csv", table="nope")
    assert response.status_code == 404


# ------------------------------------------------------------------------------------------------
# CSV downloads
# ------------------------------------------------------------------------------------------------
def test_channels_csv_has_a_row_per_channel(client, dataset):
    response = _page(
        client, dataset["lead"], "metrics:dashboard-channels", format="csv", table="channels"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith(
        'attachment; filename="cxm-channels-channels-'
    )
    rows = _csv(response)
    header, body = rows[0], {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert header[:5] == ["Channel", "Responses", "NPS", "NPS n", "NPS margin"]
    assert set(body) == {"Email", "SMS"}
    assert body["SMS"]["NPS"] == "-100" and body["SMS"]["NPS n"] == "1"
    f = filters_parse({}, user=dataset["lead"])
    email = next(row for row in selectors.breakdown(f, "channel") if row.key == "email")
    assert body["Email"]["Responses"] == str(email.responses)
    assert body["Email"]["First response time median (s)"] == str(
        presenters.csv_number(email.figure("frt").median, 0)
    )


def test_comments_csv_cannot_run_a_formula_and_links_each_comment(client, dataset):
    lead = dataset["lead"]
    rows = _csv(
        _page(
            client,
            lead,
            "metrics:dashboard-comments",
            format="csv",
            table="comments",
            band="negative",
        )
    )
    comments = [row[rows[0].index("Comment")] for row in rows[1:]]
    assert '\'=HYPERLINK("http://x")' in comments
    assert "Alex was great" not in comments  # a happy one
    body = _page(client, lead, "metrics:dashboard-comments", band="negative").content.decode()
    late = Response.objects.get(answers__text="Parcel was late")
    assert reverse("surveys:response-detail", args=[late.pk]) in body
    assert reverse("journeys:customer-detail", args=[dataset["ann"].pk]) in body
    assert "Bea solved it" not in body
    assert "band=negative" in body  # the band stays in the CSV link and the filter form


# ------------------------------------------------------------------------------------------------
# Touchpoints and visit intent
# ------------------------------------------------------------------------------------------------
def test_touchpoints_map_colours_each_touchpoint_with_words_beside_the_colour(client, dataset):
    body = _page(client, dataset["lead"], "metrics:dashboard-touchpoints").content.decode()
    assert "Journey map: Online shop" in body
    checkout = re.search(rf'data-touchpoint-id="{dataset["checkout"].pk}" data-band="(\w+)"', body)
    delivery = re.search(rf'data-touchpoint-id="{dataset["delivery"].pk}" data-band="(\w+)"', body)
    assert checkout.group(1) == "fair"  # NPS 20
    assert delivery.group(1) == "poor"  # NPS −100
    assert "NPS ≥ 30" in body  # the legend says what each colour means
    rows = _csv(
        _page(
            client,
            dataset["lead"],
            "metrics:dashboard-touchpoints",
            format="csv",
            table="touchpoints",
        )
    )
    assert {row[0]: row[2] for row in rows[1:]} == {"Checkout": "20", "Delivery": "-100"}


def test_visit_intent_shows_share_and_fulfilment(client, dataset):
    body = _page(client, dataset["lead"], "metrics:dashboard-visits").content.decode()
    assert "To buy something" in body
    rows = _csv(
        _page(client, dataset["lead"], "metrics:dashboard-visits", format="csv", table="visits")
    )
    by_reason = {row[0]: row for row in rows[1:]}
    assert by_reason["buy"][2:6] == ["3", "75", "66.67", "3"]
    assert by_reason["support"][2:6] == ["1", "25", "0", "1"]


def test_numbers_follow_the_readers_language(client, dataset):
    lead = dataset["lead"]
    lead.language = "nl"
    lead.save(update_fields=["language"])
    body = _page(client, lead, "metrics:dashboard").content.decode()
    assert _text(_card(body, "nps"), "data-value") == "9,1"

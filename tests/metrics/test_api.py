"""``/api/v1/metrics/…``: every endpoint gives the selectors' numbers; bad filters are a 400
naming each parameter; agents get their own figures; report subscriptions of the user only."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from cxm.accounts import services as account_services
from journeys.services import customer_create
from journeys.services.journeys import journey_save, stage_save, touchpoint_save
from metrics import reports, selectors, services
from metrics.filters import filters_parse
from metrics.models import ReportSubscription
from tests.conftest import make_user
from tests.metrics.conftest import conversation, make_survey, reply

pytestmark = pytest.mark.django_db

API = "/api/v1/metrics/"
FIGURE_FIELDS = (
    "value",
    "n",
    "margin",
    "median",
    "mean_on_scale",
    "previous",
    "change",
    "small_sample",
    "note",
)


def days_ago(n: int) -> dt.date:
    return timezone.localdate() - dt.timedelta(days=n)


def _as_client(api_client: Any, user: Any) -> Any:
    secret = account_services.api_token_create(user=user, name="test").secret
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api_client


@pytest.fixture
def data(cx_lead, agent, channel_accounts):
    journey = journey_save(name="Online shop")
    buy, deliver = stage_save(journey=journey, name="Buy"), stage_save(journey=journey, name="Get")
    checkout = touchpoint_save(stage=buy, name="Checkout", key="order.placed", channel="web")
    delivery = touchpoint_save(
        stage=deliver, name="Delivery", key="order.delivered", channel="email"
    )
    other = journey_save(name="Support")
    helpdesk = touchpoint_save(
        stage=stage_save(journey=other, name="Ask"), name="Help", key="help", channel="email"
    )
    nps, csat = make_survey("nps", cx_lead), make_survey("csat", cx_lead)
    visit = make_survey("visit_intent", cx_lead)
    ann = customer_create(name="Ann Smit", email="ann@example.com")
    recent = days_ago(3)
    for score in (10, 10, 9, 9, 8, 6, 3):
        reply(nps, ann, score, recent, touchpoint=checkout)
    reply(nps, ann, 2, recent, touchpoint=delivery, channel="sms", comment="Parcel was late")
    reply(nps, ann, 10, days_ago(40), touchpoint=checkout)
    reply(csat, ann, 5, recent, agent=agent, comment="Alex was great")
    reply(csat, ann, 2, recent, agent=agent, comment="Slow")
    reply(csat, ann, 4, recent, agent=cx_lead, comment="Fine")
    for reason, got in (("buy", "yes"), ("buy", "no"), ("support", "no")):
        reply(visit, ann, None, recent, choices={"reason": [reason], "fulfilled": [got]})
    conversation(channel_accounts["email"], ann, recent, first_response=60, handling=3600)
    services.rollups_rebuild()
    return {
        "journey": journey,
        "other": other,
        "checkout": checkout,
        "helpdesk": helpdesk,
        "nps": nps,
    }


@pytest.fixture
def lead_api(api_client, cx_lead):
    return _as_client(api_client, cx_lead)


def _figures_equal(body: list[dict], figures: list[selectors.Figure]) -> None:
    assert [item["key"] for item in body] == [figure.key for figure in figures]
    for item, figure in zip(body, figures, strict=True):
        for name in FIGURE_FIELDS:
            expected = getattr(figure, name)
            assert item[name] == (
                pytest.approx(expected) if isinstance(expected, float) else expected
            )
        assert (item["label"], item["unit"]) == (figure.label, figure.unit)


# ------------------------------------------------------------------------------------------------
# The selectors' numbers
# ------------------------------------------------------------------------------------------------
def test_overview_gives_the_selectors_figures(
    lead_api, cx_lead, data, django_assert_max_num_queries
):
    lead_api.get(f"{API}overview/")  # warm the token's user and permission caches
    with django_assert_max_num_queries(15):
        response = lead_api.get(f"{API}overview/", {"channel": "email"})
    assert response.status_code == 200
    body = response.json()
    expected = selectors.overview(filters_parse({"channel": "email"}, user=cx_lead))
    _figures_equal(body["figures"], expected.figures)
    assert body["responses"] == expected.responses
    assert body["filters"]["channel"] == "email" and body["filters"]["period"] == "30d"
    nps = next(item for item in body["figures"] if item["key"] == "nps")
    assert nps["n"] == 7 and nps["small_sample"] is True


def test_trend_gives_the_selectors_points(lead_api, cx_lead, data):
    body = lead_api.get(f"{API}trend/", {"grain": "week", "period": "90d"}).json()
    points = selectors.trend(filters_parse({"grain": "week", "period": "90d"}, user=cx_lead))
    assert [p["start"] for p in body["points"]] == [p.start.isoformat() for p in points]
    for item, point in zip(body["points"], points, strict=True):
        assert item["values"] == {k: pytest.approx(v) for k, v in point.values.items()}
        assert item["counts"] == point.counts
    assert sum(p["counts"]["nps"] for p in body["points"]) == 9


@pytest.mark.parametrize("by", list(selectors.BREAKDOWNS))
def test_each_breakdown_gives_the_selectors_rows(lead_api, cx_lead, data, by):
    response = lead_api.get(f"{API}breakdown/{by}/")
    assert response.status_code == 200
    body = response.json()
    rows = selectors.breakdown(filters_parse({}, user=cx_lead), by)
    assert body["by"] == by
    assert [(r["key"], r["label"], r["responses"]) for r in body["rows"]] == [
        (row.key, row.label, row.responses) for row in rows
    ]
    for item, row in zip(body["rows"], rows, strict=True):
        _figures_equal(item["figures"], list(row.figures.values()))


def test_the_journey_map_gives_each_touchpoints_figures(lead_api, cx_lead, data):
    journey = data["journey"]
    body = lead_api.get(f"{API}journey-map/{journey.pk}/").json()
    stages = selectors.journey_map(filters_parse({}, user=cx_lead), journey)
    assert body["journey"] == {"id": journey.pk, "name": "Online shop"}
    assert [s["name"] for s in body["stages"]] == [stage.name for stage in stages]
    for item, stage in zip(body["stages"], stages, strict=True):
        for tp_item, (touchpoint, row) in zip(item["touchpoints"], stage.touchpoints, strict=True):
            assert (tp_item["id"], tp_item["key"]) == (touchpoint.pk, touchpoint.key)
            assert tp_item["responses"] == (row.responses if row else 0)
            _figures_equal(tp_item["figures"], list(row.figures.values()) if row else [])
    checkout = body["stages"][0]["touchpoints"][0]
    assert next(f for f in checkout["figures"] if f["key"] == "nps")["n"] == 7


def test_visit_intent_gives_the_selectors_rows(lead_api, cx_lead, data):
    body = lead_api.get(f"{API}visit-intent/").json()
    rows = selectors.visit_intent(filters_parse({}, user=cx_lead))
    assert [(r["reason"], r["visits"], r["share"]) for r in body["reasons"]] == [
        (row.reason, row.visits, pytest.approx(row.share)) for row in rows
    ]
    buy = next(r for r in body["reasons"] if r["reason"] == "buy")
    assert buy["fulfilled"]["value"] == 50 and buy["fulfilled"]["n"] == 2


def test_verbatims_give_the_latest_comments(lead_api, cx_lead, data):
    body = lead_api.get(f"{API}verbatims/", {"band": "negative", "limit": "5"}).json()
    expected = selectors.verbatims(filters_parse({}, user=cx_lead), band="negative", limit=5)
    assert [v["response_id"] for v in body["results"]] == [v.response_id for v in expected]
    assert {v["text"] for v in body["results"]} == {"Parcel was late", "Slow"}


# ------------------------------------------------------------------------------------------------
# Bad filters: a 400 naming each parameter
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("overview/", {"period": "forever"}, "period"),
        ("overview/", {"from": "2026-06-30", "to": "2026-06-01"}, "to"),
        ("trend/", {"grain": "hour"}, "grain"),
        ("overview/", {"survey": "999999"}, "survey"),
        ("overview/", {"survey": "abc"}, "survey"),
        ("overview/", {"survey": "²"}, "survey"),
        ("overview/", {"attribute": "plan", "value": "a\x00b"}, "value"),
        ("visit-intent/", {"channel": "pigeon"}, "channel"),
        ("breakdown/bogus/", {}, "by"),
        ("verbatims/", {"band": "angry"}, "band"),
        ("verbatims/", {"limit": "0"}, "limit"),
        ("verbatims/", {"limit": "1000"}, "limit"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(lead_api, data, path, params, field):
    response = lead_api.get(f"{API}{path}", params)
    assert response.status_code == 400
    body = response.json()
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0]["code"] == "invalid"
    assert body["detail"] == body["errors"][0]["message"]


def test_a_touchpoint_of_another_journey_is_refused(lead_api, data):
    response = lead_api.get(
        f"{API}overview/",
        {"journey": data["journey"].pk, "touchpoint": data["helpdesk"].pk},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "touchpoint"


def test_several_bad_filters_are_all_named(lead_api, data):
    response = lead_api.get(f"{API}breakdown/bogus/", {"period": "forever", "survey": "x"})
    body = response.json()
    assert response.status_code == 400
    assert body["detail"] == "The request has invalid fields."
    assert sorted(e["field"] for e in body["errors"]) == ["by", "period", "survey"]


def test_the_journey_map_of_no_journey_is_not_found(lead_api, data):
    response = lead_api.get(f"{API}journey-map/999999/")
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "journey_id"
    other = lead_api.get(f"{API}journey-map/{data['journey'].pk}/", {"journey": data["other"].pk})
    assert other.status_code == 400 and other.json()["errors"][0]["field"] == "journey"


# ------------------------------------------------------------------------------------------------
# Who may see what
# ------------------------------------------------------------------------------------------------
def test_without_credentials_or_permission_nothing_is_shown(api_client, db):
    assert api_client.get(f"{API}overview/").status_code == 401
    _as_client(api_client, make_user(None))
    for path in (
        "overview/",
        "trend/",
        "breakdown/channel/",
        "verbatims/",
        "report-subscriptions/",
    ):
        response = api_client.get(f"{API}{path}")
        assert response.status_code == 403, path
        assert response.json()["errors"][0]["code"] == "permission_denied"


def test_an_agent_gets_their_own_figures_whatever_they_ask(api_client, agent, cx_lead, data):
    _as_client(api_client, agent)
    body = api_client.get(f"{API}overview/", {"agent": cx_lead.pk}).json()
    assert body["filters"]["agent"] == agent.pk
    own = selectors.overview(filters_parse({}, user=agent))
    _figures_equal(body["figures"], own.figures)
    csat = next(f for f in body["figures"] if f["key"] == "csat")
    assert (csat["value"], csat["n"]) == (50, 2)
    rows = api_client.get(f"{API}breakdown/agent/").json()["rows"]
    assert [row["key"] for row in rows] == [agent.pk]
    comments = api_client.get(f"{API}verbatims/").json()["results"]
    assert {c["text"] for c in comments} == {"Alex was great", "Slow"}


# ------------------------------------------------------------------------------------------------
# Report subscriptions
# ------------------------------------------------------------------------------------------------
def test_subscribing_through_the_api(lead_api, cx_lead, data):
    url = f"{API}report-subscriptions/"
    body = {"dashboard": "overview", "frequency": "weekly", "query": "period=7d&channel=email"}
    created = lead_api.post(url, body, format="json")
    assert created.status_code == 201
    assert created.json()["query"] == "channel=email"
    again = lead_api.post(url, {**body, "frequency": "monthly"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert again.json()["frequency"] == "monthly"
    plain = lead_api.post(url, {"dashboard": "visits", "frequency": "weekly"}, format="json")
    assert plain.status_code == 201 and plain.json()["query"] == ""
    listed = lead_api.get(url).json()
    assert sorted(s["id"] for s in listed["results"]) == [created.json()["id"], plain.json()["id"]]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"dashboard": "overview", "frequency": "weekly", "query": "survey=999999"},
            ["query.survey"],
        ),
        (
            {"dashboard": "overview", "frequency": "weekly", "query": "survey=²&team=x"},
            ["query.survey", "query.team"],
        ),
        ({"dashboard": "nope", "frequency": "hourly"}, ["dashboard", "frequency"]),
        ({"dashboard": "overview", "frequency": "weekly", "nmae": "x"}, ["nmae"]),
    ],
)
def test_a_bad_subscription_is_a_400_naming_the_field(lead_api, data, body, fields):
    response = lead_api.post(f"{API}report-subscriptions/", body, format="json")
    assert response.status_code == 400
    assert sorted(e["field"] for e in response.json()["errors"]) == fields
    assert not ReportSubscription.objects.exists()


def test_only_ones_own_subscriptions_are_listed_and_deleted(
    api_client, agent, cx_lead, django_assert_max_num_queries
):
    mine, _ = reports.report_subscribe(user=agent, dashboard="agents", frequency="weekly", query="")
    theirs, _ = reports.report_subscribe(
        user=cx_lead, dashboard="overview", frequency="weekly", query=""
    )
    _as_client(api_client, agent)
    url = f"{API}report-subscriptions/"
    api_client.get(url)
    with django_assert_max_num_queries(5):
        listed = api_client.get(url).json()["results"]
    assert [s["id"] for s in listed] == [mine.pk]
    assert api_client.get(f"{url}{theirs.pk}/").status_code == 404
    assert api_client.delete(f"{url}{theirs.pk}/").status_code == 404
    assert api_client.delete(f"{url}{mine.pk}/").status_code == 204
    assert list(ReportSubscription.objects.values_list("pk", flat=True)) == [theirs.pk]


# ------------------------------------------------------------------------------------------------
# The schema
# ------------------------------------------------------------------------------------------------
def test_the_schema_documents_the_metrics_endpoints_without_warnings(client, tmp_path):
    text = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content
    schema = json.loads(text)
    for path in (
        "/api/v1/metrics/overview/",
        "/api/v1/metrics/trend/",
        "/api/v1/metrics/breakdown/{by}/",
        "/api/v1/metrics/journey-map/{journey_id}/",
        "/api/v1/metrics/visit-intent/",
        "/api/v1/metrics/verbatims/",
        "/api/v1/metrics/report-subscriptions/",
        "/api/v1/metrics/report-subscriptions/{id}/",
    ):
        assert path in schema["paths"], path
    overview = schema["paths"]["/api/v1/metrics/overview/"]["get"]
    names = {p["name"] for p in overview["parameters"]}
    assert {"period", "from", "to", "survey", "touchpoint", "agent", "attribute"} <= names
    assert "400" in overview["responses"]
    # The same check as CI's: a valid OpenAPI document, and no generator warnings.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))

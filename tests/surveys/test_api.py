from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cxm.accounts import services as account_services
from cxm.accounts.models import Role
from journeys import services as journey_services
from journeys.services import customer_create
from surveys import services
from surveys.answers import AnswerValue
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _token_client(api_client, user):
    secret = account_services.api_token_create(user=user, name="test").secret
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api_client


@pytest.fixture
def lead_api(api_client, cx_lead):
    return _token_client(api_client, cx_lead)


@pytest.fixture
def agent_api(api_client, agent):
    return _token_client(api_client, agent)


def _fields(response):
    return {e["field"] for e in response.json()["errors"]}


def _respond(
    survey, customer, *, score, comment="", channel="email", complete=True, touchpoint=None
):
    """A customer answers through the services the respondent page uses."""
    invitation = services.invitation_create(
        survey=survey, customer=customer, channel=channel, touchpoint=touchpoint
    )
    response = services.response_start(
        survey=survey, language=invitation.language, invitation=invitation
    )
    questions = list(survey.questions.all())
    by_key = {q.key: q for q in questions}
    values = {by_key["recommend"]: AnswerValue(number=score)}
    if comment:
        follow_up = "improve" if score <= 6 else "ten" if score <= 8 else "liked"
        values[by_key[follow_up]] = AnswerValue(text=comment)
    services.answers_record(response=response, values=values)
    if complete:
        services.response_complete(response=response, questions=questions)
    return response


@pytest.fixture
def other_customer(db):
    return customer_create(name="Ioana Rusu", email="ioana@example.ro", language="en")


@pytest.fixture
def answered(nps_survey, customer, other_customer):
    """Three responses: a detractor (nl, email), a promoter (en, sms), one started only (nl)."""
    return {
        "detractor": _respond(nps_survey, customer, score=3, comment="Too slow"),
        "promoter": _respond(
            nps_survey, other_customer, score=10, comment="Friendly staff", channel="sms"
        ),
        "partial": _respond(nps_survey, customer, score=8, complete=False),
    }


# ------------------------------------------------------------------------------------------------
# Surveys
# ------------------------------------------------------------------------------------------------
def test_surveys_are_listed_with_their_completed_count(lead_api, nps_survey, answered):
    body = lead_api.get("/api/v1/surveys/").json()
    assert body["next"] is None
    [survey] = body["results"]
    assert survey["id"] == nps_survey.pk
    assert survey["status"] == "active" and survey["kind"] == "nps"
    assert survey["languages"] == ["en", "nl"]
    assert survey["completed_responses"] == 2


def test_survey_list_filters_by_status(
    lead_api, cx_lead, nps_survey, django_assert_max_num_queries
):
    for kind in ("csat", "ces", "blank"):
        services.survey_create(
            name=f"Draft {kind.upper()}", kind=kind, default_language="en", languages=[], by=cx_lead
        )
    lead_api.get("/api/v1/surveys/")
    with django_assert_max_num_queries(3):
        drafts = lead_api.get("/api/v1/surveys/", {"status": "draft"}).json()["results"]
    assert [s["name"] for s in drafts] == ["Draft BLANK", "Draft CES", "Draft CSAT"]
    active = lead_api.get("/api/v1/surveys/", {"status": "active"}).json()["results"]
    assert [s["id"] for s in active] == [nps_survey.pk]


def test_unknown_survey_status_is_a_400(lead_api, nps_survey):
    response = lead_api.get("/api/v1/surveys/", {"status": "live"})
    assert response.status_code == 400
    assert _fields(response) == {"status"}


def test_survey_detail_has_its_questions_in_order(lead_api, nps_survey):
    response = lead_api.get(f"/api/v1/surveys/{nps_survey.pk}/")
    assert response.status_code == 200
    questions = response.json()["questions"]
    assert [q["key"] for q in questions] == ["recommend", "improve", "ten", "liked"]
    recommend = questions[0]
    assert (recommend["type"], recommend["required"], recommend["metric"]) == ("nps", True, "nps")
    assert (recommend["scale_min"], recommend["scale_max"], recommend["good_end"]) == (
        0,
        10,
        "high",
    )
    assert set(recommend["texts"]) == {"en", "nl"} and recommend["texts"]["en"]["text"]
    assert questions[1]["condition"] == {"question": "recommend", "min": 0, "max": 6}
    assert lead_api.get("/api/v1/surveys/999999/").status_code == 404


# ------------------------------------------------------------------------------------------------
# Responses
# ------------------------------------------------------------------------------------------------
def test_responses_carry_their_answers(lead_api, nps_survey, customer, answered):
    body = lead_api.get("/api/v1/responses/", {"survey": nps_survey.pk}).json()
    by_id = {r["id"]: r for r in body["results"]}
    assert list(by_id) == sorted(by_id, reverse=True)
    detractor = by_id[answered["detractor"].pk]
    assert detractor["survey"] == nps_survey.pk and detractor["customer"] == customer.pk
    assert (detractor["score"], detractor["band"], detractor["language"]) == (3, "negative", "nl")
    assert detractor["channel"] == "email" and detractor["survey_version"] == nps_survey.version
    assert detractor["completed_at"] is not None
    assert detractor["answers"] == [
        {"question": "recommend", "number": 3, "choices": [], "text": ""},
        {"question": "improve", "number": None, "choices": [], "text": "Too slow"},
    ]
    assert by_id[answered["partial"].pk]["completed_at"] is None


def test_response_list_costs_the_same_however_many_answers(
    lead_api, nps_survey, customer, django_assert_max_num_queries
):
    def count_for_page() -> int:
        lead_api.get("/api/v1/responses/")  # the token's last-used time is written once
        with CaptureQueriesContext(connection) as queries:
            body = lead_api.get("/api/v1/responses/", {"survey": nps_survey.pk}).json()
        assert all(r["answers"] for r in body["results"])
        return len(queries)

    for i in range(3):
        _respond(nps_survey, customer, score=i, comment=f"Comment {i}")
    few = count_for_page()
    stage = journey_services.stage_save(
        journey=journey_services.journey_save(name="Orders"), name="Delivery"
    )
    delivered = journey_services.touchpoint_save(
        stage=stage, name="Order delivered", key="order.delivered", channel="email"
    )
    for i in range(30):
        _respond(nps_survey, customer, score=i % 11, comment=f"Comment {i}", touchpoint=delivered)
    assert count_for_page() == few
    with django_assert_max_num_queries(4):
        page = lead_api.get("/api/v1/responses/", {"page_size": 20}).json()
    assert len(page["results"]) == 20 and page["next"]
    assert page["results"][0]["touchpoint"] == "order.delivered"


def test_responses_page_by_cursor(lead_api, nps_survey, customer):
    for i in range(5):
        _respond(nps_survey, customer, score=i)
    first = lead_api.get("/api/v1/responses/", {"page_size": 3}).json()
    second = lead_api.get(first["next"]).json()
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert len(ids) == len(set(ids)) == 5 and ids == sorted(ids, reverse=True)
    assert second["next"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"band": "negative"}, {"detractor"}),
        ({"band": "positive"}, {"promoter"}),
        ({"state": "complete"}, {"detractor", "promoter"}),
        ({"state": "partial"}, {"partial"}),
        ({"channel": "sms"}, {"promoter"}),
        ({"language": "en"}, {"promoter"}),
        ({"state": "complete", "language": "nl"}, {"detractor"}),
    ],
)
def test_response_filters(lead_api, nps_survey, answered, params, expected):
    response = lead_api.get("/api/v1/responses/", {"survey": nps_survey.pk, **params})
    assert response.status_code == 200, response.json()
    got = {r["id"] for r in response.json()["results"]}
    assert got == {answered[name].pk for name in expected}


def test_response_filters_by_customer_and_dates(lead_api, customer, other_customer, answered):
    mine = lead_api.get("/api/v1/responses/", {"customer": customer.pk}).json()["results"]
    assert {r["id"] for r in mine} == {answered["detractor"].pk, answered["partial"].pk}
    today = timezone.localdate()
    tomorrow = today + dt.timedelta(days=1)
    in_range = lead_api.get("/api/v1/responses/", {"since": today.isoformat(), "until": today})
    assert len(in_range.json()["results"]) == 3
    later = lead_api.get("/api/v1/responses/", {"since": tomorrow.isoformat()}).json()
    assert later["results"] == []


def test_responses_of_other_surveys_are_left_out(lead_api, cx_lead, nps_survey, customer):
    _respond(nps_survey, customer, score=9)
    other = services.survey_duplicate(survey=nps_survey, by=cx_lead)
    other = services.survey_status_change(survey=other, status="active", by=cx_lead)
    theirs = _respond(other, customer, score=2)
    body = lead_api.get("/api/v1/responses/", {"survey": other.pk}).json()
    assert [r["id"] for r in body["results"]] == [theirs.pk]
    assert len(lead_api.get("/api/v1/responses/").json()["results"]) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"band": "great"}, "band"),
        ({"state": "done"}, "state"),
        ({"channel": "fax"}, "channel"),
        ({"language": "ro"}, "language"),  # offered by cxm, not by this survey
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
        ({"until": "9999-12-31"}, "until"),
        ({"customer": "dirk"}, "customer"),
        ({"customer": "0"}, "customer"),
        ({"customer": "²"}, "customer"),
        ({"customer": "9" * 30}, "customer"),
        ({"survey": "abc"}, "survey"),
        ({"survey": "999999"}, "survey"),
    ],
)
def test_a_bad_response_filter_is_a_400_naming_it(lead_api, nps_survey, answered, params, field):
    query = {"survey": nps_survey.pk, **params}
    response = lead_api.get("/api/v1/responses/", query)
    assert response.status_code == 400, response.content
    assert _fields(response) == {field}


def test_every_bad_filter_is_named_at_once(lead_api, nps_survey):
    response = lead_api.get("/api/v1/responses/", {"band": "great", "state": "x", "since": "y"})
    assert response.status_code == 400
    assert response.json()["detail"] == "The request has invalid fields."
    assert _fields(response) == {"band", "state", "since"}


def test_without_a_survey_any_language_of_cxm_is_a_valid_filter(lead_api, answered):
    assert lead_api.get("/api/v1/responses/", {"language": "ro"}).json()["results"] == []
    assert _fields(lead_api.get("/api/v1/responses/", {"language": "de"})) == {"language"}


def test_response_detail(lead_api, answered):
    promoter = answered["promoter"]
    body = lead_api.get(f"/api/v1/responses/{promoter.pk}/").json()
    assert body["id"] == promoter.pk and body["band"] == "positive"
    assert [a["question"] for a in body["answers"]] == ["recommend", "liked"]
    missing = lead_api.get("/api/v1/responses/999999/")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"


# ------------------------------------------------------------------------------------------------
# The CSV export
# ------------------------------------------------------------------------------------------------
def _csv(response):
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_streams_the_filtered_responses(lead_api, nps_survey, answered):
    response = lead_api.get(
        "/api/v1/responses/export/", {"survey": nps_survey.pk, "state": "complete"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="survey-{nps_survey.pk}-responses-' in response["Content-Disposition"]
    header, *rows = _csv(response)
    assert header[0] == "response_id" and header[-4:] == [
        "q.recommend",
        "q.improve",
        "q.ten",
        "q.liked",
    ]
    assert [int(r[0]) for r in rows] == [answered["promoter"].pk, answered["detractor"].pk]
    detractor = dict(zip(header, rows[1], strict=True))
    assert (detractor["score"], detractor["band"], detractor["q.improve"]) == (
        "3",
        "negative",
        "Too slow",
    )


def test_export_answers_csv_even_when_csv_is_asked_for(lead_api, nps_survey, answered):
    response = lead_api.get(
        "/api/v1/responses/export/", {"survey": nps_survey.pk}, HTTP_ACCEPT="text/csv"
    )
    assert response.status_code == 200
    assert len(_csv(response)) == 4


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "survey"),
        ({"survey": "999999"}, "survey"),
        ({"survey": "{survey}", "band": "great"}, "band"),
    ],
)
def test_export_refuses_a_missing_survey_or_bad_filter(lead_api, nps_survey, params, field):
    params = {k: v.format(survey=nps_survey.pk) for k, v in params.items()}
    response = lead_api.get("/api/v1/responses/export/", params, HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert _fields(response) == {field}


# ------------------------------------------------------------------------------------------------
# Answers
# ------------------------------------------------------------------------------------------------
def test_answers_filter_by_survey_response_and_question(lead_api, nps_survey, answered):
    everything = lead_api.get("/api/v1/answers/", {"survey": nps_survey.pk}).json()["results"]
    assert len(everything) == 5
    assert all(a["survey"] == nps_survey.pk for a in everything)
    detractor = answered["detractor"].pk
    theirs = lead_api.get("/api/v1/answers/", {"response": detractor}).json()["results"]
    assert {(a["question"], a["response"]) for a in theirs} == {
        ("recommend", detractor),
        ("improve", detractor),
    }
    scores = lead_api.get(
        "/api/v1/answers/", {"survey": nps_survey.pk, "question": "recommend"}
    ).json()["results"]
    assert sorted(a["number"] for a in scores) == [3, 8, 10]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"question": "recommend"}, "question"),  # a key means nothing without its survey
        ({"survey": "{survey}", "question": "nope"}, "question"),
        ({"survey": "x"}, "survey"),
        ({"response": "first"}, "response"),
    ],
)
def test_a_bad_answer_filter_is_a_400_naming_it(lead_api, nps_survey, params, field):
    params = {k: v.format(survey=nps_survey.pk) for k, v in params.items()}
    response = lead_api.get("/api/v1/answers/", params)
    assert response.status_code == 400
    assert _fields(response) == {field}


def test_answer_list_queries_are_bounded(
    lead_api, nps_survey, customer, django_assert_max_num_queries
):
    for i in range(20):
        _respond(nps_survey, customer, score=i % 11, comment=f"Comment {i}")
    lead_api.get("/api/v1/answers/")
    with django_assert_max_num_queries(3):
        body = lead_api.get("/api/v1/answers/", {"page_size": 30}).json()
    assert len(body["results"]) == 30


# ------------------------------------------------------------------------------------------------
# Who may read
# ------------------------------------------------------------------------------------------------
def test_agents_read_but_cannot_export(agent_api, nps_survey, answered):
    assert agent_api.get("/api/v1/surveys/").status_code == 200
    assert agent_api.get(f"/api/v1/surveys/{nps_survey.pk}/").status_code == 200
    assert agent_api.get("/api/v1/responses/").status_code == 200
    assert agent_api.get(f"/api/v1/responses/{answered['promoter'].pk}/").status_code == 200
    assert agent_api.get("/api/v1/answers/").status_code == 200
    refused = agent_api.get("/api/v1/responses/export/", {"survey": nps_survey.pk})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "permission_denied"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/surveys/",
        "/api/v1/surveys/1/",
        "/api/v1/responses/",
        "/api/v1/responses/1/",
        "/api/v1/responses/export/?survey=1",
        "/api/v1/answers/",
    ],
)
def test_anonymous_gets_401(api_client, db, url):
    response = api_client.get(url)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"


def test_a_user_without_role_sees_nothing(api_client, nps_survey):
    _token_client(api_client, make_user(None))
    for url in ("/api/v1/surveys/", "/api/v1/responses/", "/api/v1/answers/"):
        assert api_client.get(url).status_code == 403


def test_a_revoked_token_is_refused(api_client, agent, nps_survey):
    issued = account_services.api_token_create(user=agent, name="ci")
    account_services.api_token_revoke(token=issued.token)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert api_client.get("/api/v1/surveys/").status_code == 401


def test_the_schema_documents_the_survey_endpoints(client):
    text = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content
    for path in ("/api/v1/surveys/", "/api/v1/responses/export/", "/api/v1/answers/"):
        assert path.encode() in text


def test_admins_may_export(api_client, nps_survey):
    _token_client(api_client, make_user(Role.ADMIN))
    assert api_client.get("/api/v1/responses/export/", {"survey": nps_survey.pk}).status_code == 200

"""Data for the follow-up tests: a care team that owns a touchpoint, surveys on it, channel
accounts, and a helper that answers a survey the way a customer does (through the services)."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from cxm.accounts import services as account_services
from cxm.accounts.models import Role
from inbox.models import ChannelAccount
from journeys.models import Journey, Stage, Touchpoint
from journeys.services import customer_create
from metrics import followup_services as services
from metrics.models import FollowUpRule, RootCause
from surveys import services as surveys
from surveys.answers import AnswerValue
from surveys.models import Response, Survey
from tests.conftest import make_user
from tests.inbox.conftest import twilio_stub  # noqa: F401 - a fixture the tests here use

SERIAL = itertools.count(1)


@pytest.fixture
def care(db: Any) -> Any:
    """The "Care" team: two agents (Anna, Ben) and a lead (Lena, a CX lead)."""
    anna = make_user(Role.AGENT, "anna@example.com", name="Anna Agent")
    ben = make_user(Role.AGENT, "ben@example.com", name="Ben Agent")
    lena = make_user(Role.CX_LEAD, "lena@example.com", name="Lena Lead")
    team = account_services.team_save(
        team=None, name="Care", description="", members=[anna, ben], lead=lena
    )
    return team


@pytest.fixture
def delivery_touchpoint(care: Any) -> Touchpoint:
    journey = Journey.objects.create(name="Buying")
    stage = Stage.objects.create(journey=journey, name="Delivery")
    return Touchpoint.objects.create(
        stage=stage, name="Sofa delivered", key="order.delivered", channel="web", owner_team=care
    )


@pytest.fixture
def channel_accounts(db: Any, care: Any) -> dict[str, ChannelAccount]:
    return {
        kind: ChannelAccount.objects.create(
            kind=kind, name=kind, address=address, provider=provider, team=care
        )
        for kind, address, provider in (
            ("email", "help@shop.example", "postmark"),
            ("sms", "+3197010000000", "twilio"),
            ("whatsapp", "+3197010000001", "twilio"),
        )
    }


def make_survey(kind: str, by: Any, touchpoint: Touchpoint | None = None) -> Survey:
    survey = surveys.survey_create(
        name=f"{kind.upper()} survey {next(SERIAL)}",
        kind=kind,
        default_language="en",
        languages=[],
        by=by,
    )
    if touchpoint is not None:
        Survey.objects.filter(pk=survey.pk).update(touchpoint=touchpoint)
        survey.refresh_from_db()
    return surveys.survey_status_change(survey=survey, status="active", by=by)


@pytest.fixture
def nps(cx_lead: Any, delivery_touchpoint: Touchpoint) -> Survey:
    return make_survey("nps", cx_lead, delivery_touchpoint)


def make_customer(**fields: Any) -> Any:
    n = next(SERIAL)
    fields.setdefault("name", f"Customer {n}")
    fields.setdefault("email", f"c{n}@example.com")
    return customer_create(**fields)


def answer(
    survey: Survey,
    customer: Any,
    score: int | None,
    *,
    text: str = "",
    channel: str = "email",
    touchpoint: Any = None,
) -> Response:
    """The customer answers the survey's first question (and the text question shown next)."""
    invitation = surveys.invitation_create(
        survey=survey, customer=customer, channel=channel, touchpoint=touchpoint
    )
    response = surveys.response_start(
        survey=survey, language="en", invitation=invitation, channel=channel
    )
    questions = list(survey.questions.all())
    values = {questions[0]: AnswerValue(number=score)} if score is not None else {}
    if text:
        from surveys.scoring import visible_questions

        given = {questions[0].key: score}
        shown = [q for q in visible_questions(questions, given) if q.is_text]
        values[shown[0]] = AnswerValue(text=text)
    surveys.response_submit(response=response, questions=questions, values=values)
    response.refresh_from_db()
    return response


def rule(by: Any, **fields: Any) -> FollowUpRule:
    fields.setdefault("name", f"Rule {next(SERIAL)}")
    return services.rule_save(rule=None, by=by, **fields)


def detractor_rule(by: Any, survey: Survey, **fields: Any) -> FollowUpRule:
    return rule(by, survey=survey, score_op="lte", score=6, due_hours=24, **fields)


@pytest.fixture
def causes(db: Any) -> dict[str, RootCause]:
    delivery = services.root_cause_save(cause=None, name="Delivery", parent=None)
    late = services.root_cause_save(cause=None, name="Late", parent=delivery)
    damaged = services.root_cause_save(cause=None, name="Damaged", parent=delivery)
    price = services.root_cause_save(cause=None, name="Price", parent=None)
    return {"delivery": delivery, "late": late, "damaged": damaged, "price": price}


VALUE = Decimal

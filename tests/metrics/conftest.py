"""Data for the metrics tests: surveys of each kind, answers and conversations placed on a day."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from django.utils import timezone

from cxm.accounts import services as account_services
from inbox.models import ChannelAccount, Conversation
from journeys.services import customer_create
from surveys import services as surveys
from surveys.answers import AnswerValue
from surveys.models import Question, Response, Survey

SERIAL = itertools.count()
TODAY = dt.date(2026, 6, 30)
NOON = dt.time(12, 0)


def at(day: dt.date, seconds: float = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, NOON)) + dt.timedelta(seconds=seconds)


def make_survey(kind: str, by: Any, *, good_end: str = "high") -> Survey:
    survey = surveys.survey_create(
        name=f"{kind} {next(SERIAL)}", kind=kind, default_language="en", languages=["nl"], by=by
    )
    if good_end == "low":
        Question.objects.filter(survey=survey, type="ces").update(good_end="low")
    return surveys.survey_status_change(survey=survey, status="active", by=by)


def make_customer(**fields: Any) -> Any:
    n = next(SERIAL)
    return customer_create(name=f"Customer {n}", email=f"c{n}@example.com", **fields)


def answer(
    survey: Survey,
    customer: Any,
    score: int | None,
    day: dt.date,
    *,
    language: str = "en",
    channel: str = "email",
    touchpoint: Any = None,
    invited: bool = True,
) -> Response:
    invitation = (
        surveys.invitation_create(
            survey=survey,
            customer=customer,
            language=language,
            channel=channel,
            touchpoint=touchpoint,
        )
        if invited
        else None
    )
    response = surveys.response_start(
        survey=survey, language=language, invitation=invitation, channel=channel
    )
    questions = list(survey.questions.all())
    values = {questions[0]: AnswerValue(number=score)} if score is not None else {}
    surveys.response_submit(response=response, questions=questions, values=values)
    Response.objects.filter(pk=response.pk).update(completed_at=at(day))
    response.refresh_from_db()
    return response


@pytest.fixture
def care_team(db: Any) -> Any:
    return account_services.team_save(team=None, name="Care", description="", members=[])


@pytest.fixture
def channel_accounts(db: Any, care_team: Any) -> dict[str, ChannelAccount]:
    return {
        "email": ChannelAccount.objects.create(
            kind="email", name="Mail", address="help@shop.example", provider="postmark"
        ),
        "sms": ChannelAccount.objects.create(
            kind="sms", name="SMS", address="+3197010000000", provider="twilio"
        ),
    }


def conversation(
    account: ChannelAccount,
    customer: Any,
    opened: dt.date,
    *,
    first_response: float | None = None,
    handling: float | None = None,
    agent_first: bool = False,
    team: Any = None,
    assignee: Any = None,
) -> Conversation:
    """A conversation opened at noon on ``opened``: answered ``first_response`` seconds after the
    customer's first message, resolved ``handling`` seconds after it was opened."""
    start = at(opened)
    made = Conversation.objects.create(
        customer=customer,
        channel_account=account,
        channel=account.kind,
        team=team,
        assignee=assignee,
    )
    Conversation.objects.filter(pk=made.pk).update(
        created_at=start,
        first_customer_message_at=None if agent_first else start,
        first_response_at=start + dt.timedelta(seconds=first_response)
        if first_response is not None
        else None,
        resolved_at=start + dt.timedelta(seconds=handling) if handling is not None else None,
        status="resolved" if handling is not None else "open",
    )
    made.refresh_from_db()
    return made


def reply(
    survey: Any,
    customer: Any,
    score: int | None,
    day: dt.date,
    *,
    comment: str = "",
    channel: str = "email",
    touchpoint: Any = None,
    agent: Any = None,
    team: Any = None,
    choices: dict[str, list[str]] | None = None,
) -> Response:
    """A completed response to an invitation: the score, an open comment where the survey asks
    for one after that score, and the agent and team it is credited to."""
    invitation = surveys.invitation_create(
        survey=survey, customer=customer, language="en", channel=channel, touchpoint=touchpoint
    )
    response = surveys.response_start(
        survey=survey, language="en", invitation=invitation, channel=channel
    )
    questions = list(survey.questions.all())
    values: dict[Question, AnswerValue] = {}
    for question in questions:
        if question.metric in ("nps", "csat", "ces") and score is not None:
            values[question] = AnswerValue(number=score)
        elif choices and question.key in choices:
            values[question] = AnswerValue(choices=choices[question.key])
    if comment:
        for question in questions:
            condition = question.condition or {}
            if question.type == Question.Type.LONG_TEXT and (
                "min" not in condition or condition["min"] <= (score or 0) <= condition["max"]
            ):
                values[question] = AnswerValue(text=comment)
                break
    surveys.response_submit(response=response, questions=questions, values=values)
    Response.objects.filter(pk=response.pk).update(completed_at=at(day), agent=agent, team=team)
    response.refresh_from_db()
    return response

"""The rollups equal the raw answers: incrementally, after a rebuild, on random data."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.services import customer_create
from metrics import services
from metrics.models import ResponseDaily
from surveys import services as surveys
from surveys.answers import AnswerValue
from surveys.models import Response, Survey

pytestmark = pytest.mark.django_db
SERIAL = itertools.count()

RAW = """
    SELECT DATE(completed_at AT TIME ZONE 'UTC'), survey_id, COALESCE(touchpoint_id, 0), channel,
           language, COUNT(*), COUNT(score),
           COUNT(*) FILTER (WHERE band = 'positive'), COUNT(*) FILTER (WHERE band = 'neutral'),
           COUNT(*) FILTER (WHERE band = 'negative'), COALESCE(SUM(score), 0)
    FROM surveys_response WHERE completed_at IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
"""


def _rolled() -> list[tuple]:
    return sorted(
        ResponseDaily.objects.values_list(
            "day",
            "survey_id",
            "touchpoint_id",
            "channel",
            "language",
            "responses",
            "scored",
            "positive",
            "neutral",
            "negative",
            "score_sum",
        )
    )


def _raw() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(RAW)
        return [tuple(row) for row in cursor.fetchall()]


@pytest.fixture
def survey(cx_lead):
    made = surveys.survey_create(
        name="NPS", kind="nps", default_language="en", languages=["nl"], by=cx_lead
    )
    return surveys.survey_status_change(survey=made, status="active", by=cx_lead)


def _answer(survey: Survey, customer, score: int, language: str, days_ago: int) -> Response:
    invitation = surveys.invitation_create(survey=survey, customer=customer, language=language)
    response = surveys.response_start(survey=survey, language=language, invitation=invitation)
    questions = list(survey.questions.all())
    surveys.response_submit(
        response=response, questions=questions, values={questions[0]: AnswerValue(number=score)}
    )
    Response.objects.filter(pk=response.pk).update(
        completed_at=response.completed_at - dt.timedelta(days=days_ago)
    )
    return response


def test_a_response_counts_once_even_if_the_task_runs_twice(survey, captured_jobs):
    customer = customer_create(name="A", email="a@example.com")
    response = _answer(survey, customer, 9, "en", 0)
    assert services.response_rollup(response_id=response.pk) is True
    assert services.response_rollup(response_id=response.pk) is False
    row = ResponseDaily.objects.get()
    assert (row.responses, row.positive, row.score_sum) == (1, 1, 9)


def test_a_completed_response_reaches_the_rollup_through_its_signal(survey, captured_jobs):
    customer = customer_create(name="B", email="b@example.com")
    _answer(survey, customer, 3, "nl", 0)
    captured_jobs.run_all()
    assert ResponseDaily.objects.get().negative == 1


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 10), st.sampled_from(["en", "nl"]), st.integers(0, 3)), max_size=12
    )
)
def test_rollups_equal_the_raw_answers(survey, captured_jobs, answers):
    Response.objects.all().delete()
    ResponseDaily.objects.all().delete()
    made = []
    for n, (score, language, days_ago) in enumerate(answers):
        customer = customer_create(name=f"C{n}", email=f"c{next(SERIAL)}@example.com")
        made.append(_answer(survey, customer, score, language, days_ago))
    call_command("rebuild_rollups", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert _rolled() == _raw()
    # Incrementally: the same counts.
    ResponseDaily.objects.all().delete()
    from metrics.models import RolledUpResponse

    RolledUpResponse.objects.all().delete()
    for response in made:
        services.response_rollup(response_id=response.pk)
    assert _rolled() == _raw()
    captured_jobs.sent.clear()

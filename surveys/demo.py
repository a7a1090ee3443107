"""The surveys' demo data: three live surveys on the demo journey's touchpoints and two months of
answers from demo customers, written through the same services a respondent's answers go through.
Safe to run again: a survey that exists is left alone."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.db import transaction
from django.utils import timezone

from cxm.accounts.models import User
from journeys.models import Customer, Interaction, Touchpoint
from surveys import services
from surveys.answers import AnswerValue
from surveys.models import Response, Survey
from surveys.scoring import band_for, visible_questions

# (name, template, touchpoint key, display, public link)
SURVEYS = [
    ("Relationship NPS", "nps", "order.delivered", "one", True),
    ("Support CSAT", "csat", "support.question", "one", False),
    ("Showroom visit", "visit_intent", "store.visit", "all", True),
]
NPS_WEIGHTS = (3, 2, 2, 3, 4, 6, 8, 12, 18, 20, 22)  # scores 0–10
COMMENTS = {
    "negative": [
        "Delivery was two days late.",
        "Nobody called back.",
        "Too expensive for the quality.",
    ],
    "neutral": ["Fine, but the website was slow.", "OK overall.", "The fitter was late."],
    "positive": [
        "Great service from the delivery team!",
        "Lovely sofa, fast delivery.",
        "Friendly staff.",
    ],
}


class SurveysDemo:
    def __init__(self, stdout: Any, stderr: Any):
        self.stdout = stdout
        self.stderr = stderr

    def handle(self) -> None:
        rng = random.Random(7)
        lead = User.objects.filter(email="lead@demo.cxm.test").first()
        customers = list(Customer.objects.order_by("id")[:300])
        made = 0
        for name, kind, touchpoint_key, display, public in SURVEYS:
            if Survey.objects.filter(name=name).exists():
                continue
            with transaction.atomic():
                survey = services.survey_create(
                    name=name,
                    kind=kind,
                    default_language="en",
                    languages=["nl", "ro", "fy"],
                    by=lead,
                )
                Survey.objects.filter(pk=survey.pk).update(
                    touchpoint=Touchpoint.objects.filter(key=touchpoint_key).first(),
                    display=display,
                    public_enabled=public,
                )
                survey.refresh_from_db()
                survey = services.survey_status_change(survey=survey, status="active", by=lead)
            made += self._answers(survey, rng, rng.sample(customers, k=min(len(customers), 120)))
        self.stdout.write(f"demo surveys: {made} responses")

    def _answers(self, survey: Survey, rng: random.Random, customers: list[Customer]) -> int:
        questions = list(survey.questions.all())
        now = timezone.now()
        count = 0
        for customer in customers:
            invitation = services.invitation_create(survey=survey, customer=customer)
            if rng.random() < 0.3:
                continue  # invited, no answer yet
            response = services.response_start(
                survey=survey, language=invitation.language, invitation=invitation
            )
            values = self._values(questions, rng)
            services.answers_record(response=response, values=values, language=response.language)
            when = now - dt.timedelta(days=rng.uniform(0, 60))
            if rng.random() < 0.9:
                services.response_complete(response=response, questions=questions)
                Interaction.objects.filter(
                    source_type="surveys.response", source_id=str(response.pk)
                ).update(occurred_at=when)
            Response.objects.filter(pk=response.pk).update(
                started_at=when - dt.timedelta(minutes=2),
                completed_at=when if response.completed_at else None,
            )
            count += 1
        return count

    def _values(self, questions: list[Any], rng: random.Random) -> dict[Any, AnswerValue]:
        values: dict[Any, AnswerValue] = {}
        band = "neutral"
        for question in questions:
            if question.is_scored:
                low, high = question.scale_min, question.scale_max
                if question.type == "nps":
                    # About 42 % promoters and 28 % detractors: an NPS in the low teens.
                    number = rng.choices(range(11), weights=NPS_WEIGHTS)[0]
                else:
                    number = min(high, max(low, round(rng.triangular(low, high, high - 1))))
                values[question] = AnswerValue(number=number)
                band = band_for(question, number)
            elif question.type == "yes_no":
                values[question] = AnswerValue(choices=["yes" if rng.random() < 0.7 else "no"])
            elif question.is_choice:
                values[question] = AnswerValue(choices=[rng.choice(question.choices)["key"]])
        given = {q.key: v.comparable(q) for q, v in values.items()}
        for question in visible_questions(questions, given):
            if question.is_text and rng.random() < 0.6:
                values[question] = AnswerValue(text=rng.choice(COMMENTS[band]))
        return values

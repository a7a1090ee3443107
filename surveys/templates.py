"""Starting points for a new survey. Texts are gettext messages, written into the survey once in
each of its languages, so a Dutch survey starts in Dutch and the CX lead edits from there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from surveys.models import Question, Survey


@dataclass(frozen=True)
class QuestionTemplate:
    key: str
    type: str
    texts: dict[str, Any]
    required: bool = False
    metric: str = ""
    scale: tuple[int, int] | None = None
    choices: tuple[tuple[str, Any], ...] = ()
    condition: dict[str, Any] = field(default_factory=dict)


WHY_BETTER = _("What could we do better?")

SURVEY_TEXTS = {
    "title": _("Tell us about your experience"),
    "intro": _("It takes less than a minute."),
    "thank_you": _("Thank you for your feedback!"),
    "review_label": _("Leave us a review"),
}

TEMPLATES: dict[str, list[QuestionTemplate]] = {
    Survey.Kind.NPS: [
        QuestionTemplate(
            key="recommend",
            type=Question.Type.NPS,
            required=True,
            metric=Question.Metric.NPS,
            scale=(0, 10),
            texts={
                "text": _("How likely are you to recommend us to a friend or colleague?"),
                "low_label": _("Not at all likely"),
                "high_label": _("Extremely likely"),
            },
        ),
        QuestionTemplate(
            key="improve",
            type=Question.Type.LONG_TEXT,
            texts={"text": WHY_BETTER},
            condition={"question": "recommend", "min": 0, "max": 6},
        ),
        QuestionTemplate(
            key="ten",
            type=Question.Type.LONG_TEXT,
            texts={"text": _("What would make it a 10 for you?")},
            condition={"question": "recommend", "min": 7, "max": 8},
        ),
        QuestionTemplate(
            key="liked",
            type=Question.Type.LONG_TEXT,
            texts={"text": _("What did you like most?")},
            condition={"question": "recommend", "min": 9, "max": 10},
        ),
    ],
    Survey.Kind.CSAT: [
        QuestionTemplate(
            key="satisfaction",
            type=Question.Type.RATING,
            required=True,
            metric=Question.Metric.CSAT,
            scale=(1, 5),
            texts={
                "text": _("How satisfied were you with your experience?"),
                "low_label": _("Very dissatisfied"),
                "high_label": _("Very satisfied"),
            },
        ),
        QuestionTemplate(
            key="why",
            type=Question.Type.LONG_TEXT,
            texts={"text": _("What is the main reason for your score?")},
        ),
    ],
    Survey.Kind.CES: [
        QuestionTemplate(
            key="effort",
            type=Question.Type.CES,
            required=True,
            metric=Question.Metric.CES,
            scale=(1, 7),
            texts={
                "text": _("The company made it easy for me to handle my request."),
                "low_label": _("Strongly disagree"),
                "high_label": _("Strongly agree"),
            },
        ),
        QuestionTemplate(
            key="easier",
            type=Question.Type.LONG_TEXT,
            texts={"text": _("What could we have made easier?")},
            condition={"question": "effort", "min": 1, "max": 4},
        ),
    ],
    Survey.Kind.VISIT_INTENT: [
        QuestionTemplate(
            key="reason",
            type=Question.Type.SINGLE_OTHER,
            required=True,
            metric=Question.Metric.VISIT_REASON,
            texts={
                "text": _("What was the main reason for your visit today?"),
                "other_label": _("Something else"),
            },
            choices=(
                ("buy", _("To buy something")),
                ("information", _("To find information")),
                ("support", _("To get help with an order or product")),
                ("browse", _("Just looking around")),
            ),
        ),
        QuestionTemplate(
            key="fulfilled",
            type=Question.Type.YES_NO,
            required=True,
            metric=Question.Metric.VISIT_FULFILLED,
            texts={"text": _("Did you get what you came for?")},
        ),
        QuestionTemplate(
            key="missing",
            type=Question.Type.LONG_TEXT,
            texts={"text": _("What stopped you?")},
            condition={"question": "fulfilled", "values": ["no"]},
        ),
    ],
    Survey.Kind.BLANK: [],
}


def in_languages(texts: dict[str, Any], languages: list[str]) -> dict[str, dict[str, str]]:
    """``{"nl": {"text": "…"}, "en": {…}}`` from lazy messages, rendered once per language."""
    out: dict[str, dict[str, str]] = {}
    for language in languages:
        with translation.override(language):
            out[language] = {key: str(value) for key, value in texts.items()}
    return out


def choices_in_languages(
    choices: tuple[tuple[str, Any], ...], languages: list[str]
) -> list[dict[str, Any]]:
    out = []
    for key, label in choices:
        labels = {}
        for language in languages:
            with translation.override(language):
                labels[language] = str(label)
        out.append({"key": key, "labels": labels})
    return out

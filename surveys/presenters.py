"""Questions shaped for the respondent page in one language (call inside
``translation.override(language)`` so the page's own words match)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from surveys.answers import AnswerValue
from surveys.models import Question, Survey


@dataclass
class QuestionView:
    key: str
    type: str
    text: str
    help: str
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)
    low_label: str = ""
    high_label: str = ""
    other_label: str = ""
    condition_json: str = ""
    condition_note: str = ""
    value: Any = None  # a number/choice key as str, a list of keys, or text
    other_text: str = ""
    error: str = ""
    number: int = 0

    @property
    def widget(self) -> str:
        if self.type in ("nps", "rating", "ces"):
            return "scale"
        if self.type == "multiple":
            return "checkboxes"
        if self.type in ("single", "single_other", "yes_no"):
            return "radios"
        return "long" if self.type == "long_text" else "short"

    @property
    def values(self) -> list[str]:
        if isinstance(self.value, list):
            return [str(v) for v in self.value]
        return [] if self.value in (None, "") else [str(self.value)]

    @property
    def maxlength(self) -> int:
        return 5000 if self.type == "long_text" else 500


def condition_note(question: Question) -> str:
    """The display condition in words, for the builder and the preview."""
    condition = question.condition
    if not condition:
        return ""
    if "values" in condition:
        return _("Shown when “%(key)s” is %(values)s") % {
            "key": condition["question"],
            "values": ", ".join(condition["values"]),
        }
    return _("Shown when “%(key)s” is %(low)s–%(high)s") % {
        "key": condition["question"],
        "low": condition.get("min"),
        "high": condition.get("max"),
    }


def question_view(question: Question, survey: Survey, language: str) -> QuestionView:
    default = survey.default_language
    view = QuestionView(
        key=question.key,
        type=question.type,
        text=question.text("text", language, default),
        help=question.text("help", language, default),
        required=question.required,
        low_label=question.text("low_label", language, default),
        high_label=question.text("high_label", language, default),
        other_label=question.text("other_label", language, default) or _("Other"),
    )
    if question.is_scored:
        low, high = question.scale_min or 0, question.scale_max or 10
        view.options = [(str(n), str(n)) for n in range(low, high + 1)]
    elif question.type == Question.Type.YES_NO:
        view.options = [("yes", _("Yes")), ("no", _("No"))]
    elif question.is_choice:
        view.options = [
            (c["key"], question.choice_label(c, language, default)) for c in question.choices
        ]
    if question.condition:
        view.condition_json = json.dumps(question.condition)
        view.condition_note = condition_note(question)
    return view


def question_views(
    questions: list[Question], survey: Survey, language: str, answers: dict[int, Any] | None = None
) -> list[QuestionView]:
    """``answers`` maps question id → an Answer row, to show what was given."""
    views = []
    for number, question in enumerate(questions, start=1):
        view = question_view(question, survey, language)
        view.number = number
        answer = (answers or {}).get(question.pk)
        if answer is not None:
            view.value = _answer_value(question, answer)
            view.other_text = answer.text if "other" in answer.choices else ""
        views.append(view)
    return views


def _answer_value(question: Question, answer: Any) -> Any:
    return AnswerValue(number=answer.number, choices=answer.choices, text=answer.text).comparable(
        question
    )

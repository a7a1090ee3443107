"""Turning what a respondent submitted into an answer, with a message they understand when it
does not fit the question. No ORM: the respondent page and the API both call ``answer_parse``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from cxm.errors import ApplicationError
from surveys.models import Question

SHORT_TEXT_MAX = 500
LONG_TEXT_MAX = 5000
OTHER_TEXT_MAX = 200


@dataclass(frozen=True)
class AnswerValue:
    number: int | None = None
    choices: list[str] = field(default_factory=list)
    text: str = ""

    @property
    def is_empty(self) -> bool:
        return self.number is None and not self.choices and not self.text

    def comparable(self, question: Question) -> Any:
        """The value display conditions test: a score, a choice key, a list of keys, or text."""
        if question.is_scored:
            return self.number
        if question.type == Question.Type.MULTIPLE:
            return list(self.choices)
        if self.choices:
            return self.choices[0]
        return self.text


def answer_parse(question: Question, data: Mapping[str, Any]) -> AnswerValue:
    """Read ``q-<key>`` (and ``q-<key>-other``) from submitted data. An empty answer is valid
    here; whether it may stay empty is decided when the response completes."""
    name = f"q-{question.key}"
    getlist = getattr(data, "getlist", None)
    if question.type == Question.Type.MULTIPLE:
        raw_list = getlist(name) if getlist else data.get(name) or []
        if isinstance(raw_list, str):
            raw_list = [raw_list]
        keys = {c["key"] for c in question.choices}
        picked = [str(v) for v in raw_list if str(v)]
        if not set(picked) <= keys:
            raise ApplicationError(_("Choose from the options shown."), field=question.key)
        return AnswerValue(choices=[c["key"] for c in question.choices if c["key"] in picked])
    raw = data.get(name)
    raw = "" if raw is None else str(raw).strip()
    if question.is_scored:
        if raw == "":
            return AnswerValue()
        try:
            number = int(raw)
        except ValueError:
            number = None
        low, high = question.scale_min, question.scale_max
        if number is None or not (low <= number <= high):  # type: ignore[operator]
            raise ApplicationError(
                _("Choose a number from %(low)d to %(high)d.") % {"low": low, "high": high},
                field=question.key,
            )
        return AnswerValue(number=number)
    if question.type == Question.Type.YES_NO:
        if raw == "":
            return AnswerValue()
        if raw not in ("yes", "no"):
            raise ApplicationError(_("Answer yes or no."), field=question.key)
        return AnswerValue(choices=[raw])
    if question.is_choice:
        if raw == "":
            return AnswerValue()
        keys = {c["key"] for c in question.choices}
        if question.type == Question.Type.SINGLE_OTHER and raw == "other":
            other = str(data.get(f"{name}-other") or "").strip()
            if not other:
                raise ApplicationError(_("Tell us what it was."), field=question.key)
            if len(other) > OTHER_TEXT_MAX:
                raise ApplicationError(
                    _("Keep it under %(limit)d characters.") % {"limit": OTHER_TEXT_MAX},
                    field=question.key,
                )
            return AnswerValue(choices=["other"], text=other)
        if raw not in keys:
            raise ApplicationError(_("Choose from the options shown."), field=question.key)
        return AnswerValue(choices=[raw])
    limit = SHORT_TEXT_MAX if question.type == Question.Type.SHORT_TEXT else LONG_TEXT_MAX
    if len(raw) > limit:
        raise ApplicationError(
            _("Keep your answer under %(limit)d characters (it has %(count)d).")
            % {"limit": limit, "count": len(raw)},
            field=question.key,
        )
    return AnswerValue(text=raw.replace("\x00", ""))

"""Which band a score falls in, and which questions a respondent sees. Pure functions, no ORM.

Bands follow ``shared/PRODUCT.md``: NPS promoters 9–10, passives 7–8, detractors 0–6; CSAT
satisfied = the top two boxes; CES good = the top boxes at the good end (5–7 of 7, 4–5 of 5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar


class ScoredQuestion(Protocol):
    type: str
    scale_min: int | None
    scale_max: int | None
    good_end: str


def band_for(question: ScoredQuestion, value: int) -> str:
    """``positive``, ``neutral`` or ``negative`` for a score on this question's scale."""
    low = question.scale_min if question.scale_min is not None else 0
    high = question.scale_max if question.scale_max is not None else 10
    if question.type == "nps":
        return "positive" if value >= 9 else "neutral" if value >= 7 else "negative"
    if question.type == "ces" and question.good_end == "low":
        value = low + high - value  # mirror: the low end is the good one
    if question.type == "ces":
        # 5–7 of 1–7 and 4–5 of 1–5 are "easy": the boxes above the midpoint.
        middle = (low + high) / 2
        return "positive" if value > middle else "neutral" if value == middle else "negative"
    # Rating (CSAT): the top two boxes are satisfied; below the midpoint is dissatisfied.
    if value >= high - 1:
        return "positive"
    return "negative" if value < (low + high) / 2 else "neutral"


class ConditionalQuestion(Protocol):
    key: str
    condition: dict[str, Any]


def condition_met(condition: Mapping[str, Any], answers: Mapping[str, Any]) -> bool:
    """Whether a question with this display condition is shown, given the answers so far
    (question key → number, list of choice keys, or text)."""
    if not condition:
        return True
    given = answers.get(condition.get("question", ""))
    if given is None or given == "" or given == []:
        return False
    if "values" in condition:
        wanted = set(condition["values"])
        if isinstance(given, list):
            return bool(wanted & set(given))
        return str(given) in wanted
    if isinstance(given, bool) or not isinstance(given, int):
        return False
    low = condition.get("min")
    high = condition.get("max")
    return (low is None or given >= low) and (high is None or given <= high)


Q = TypeVar("Q", bound=ConditionalQuestion)


def visible_questions(questions: Iterable[Q], answers: Mapping[str, Any]) -> list[Q]:
    """The questions shown, in order: a question whose condition refers to a hidden question is
    hidden too (its answer no longer counts)."""
    shown: list[Q] = []
    seen: dict[str, Any] = {}
    for question in questions:
        if condition_met(question.condition, seen):
            shown.append(question)
            if question.key in answers:
                seen[question.key] = answers[question.key]
    return shown


def possible_questions(questions: Iterable[Q], answers: Mapping[str, Any]) -> list[Q]:
    """The questions that are shown or may still be: a condition on a question not answered yet
    is undecided. For the progress count and for whether "Next" or "Send" ends the page."""
    possible: list[Q] = []
    decided: dict[str, Any] = {}  # answered (a skip counts as answered, with nothing)
    undecided: set[str] = set()  # may be shown, not answered yet
    for question in questions:
        source = question.condition.get("question") if question.condition else None
        if source in undecided:
            possible.append(question)
            undecided.add(question.key)
            continue
        if source is not None and not condition_met(question.condition, decided):
            continue
        possible.append(question)
        if question.key in answers:
            decided[question.key] = answers[question.key]
        else:
            undecided.add(question.key)
    return possible

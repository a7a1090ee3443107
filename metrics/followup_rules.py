"""Matching a completed response against the follow-up rules: pure functions of plain data, so
the worker evaluates cached rules without a query per rule, and tests need no database.

Rules are tried in order (``position``, then id) and the **first rule that matches wins**: its
action is the one taken, and no later rule is looked at. A rule matches when every condition it
sets holds:

* survey — the response is to that survey;
* score — the answer to the rule's question (or, without one, the survey's main score) lies in
  ``score_min``…``score_max`` (either end may be open);
* band — the response's band (``negative``: detractor, dissatisfied or high effort; ``positive``:
  promoter, satisfied or low effort; as ``surveys.scoring.band_for`` decides);
* touchpoint — the response's touchpoint;
* customer value — the customer's value is known and at least the minimum;
* customer attributes — every ``key = value`` pair equals the customer's attribute (compared as
  text, ignoring case and surrounding spaces);
* keywords — at least one keyword starts a word in one of the text answers, ignoring case
  ("refund" finds "Refunds" but not "prefund").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the matcher needs it (what the cache keeps)."""

    id: int
    name: str
    survey_id: int | None = None
    question_id: int | None = None
    score_min: int | None = None
    score_max: int | None = None
    band: str = ""
    touchpoint_id: int | None = None
    min_customer_value: Decimal | None = None
    customer_attributes: Mapping[str, str] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()
    action: str = "followup"
    owner_kind: str = "touchpoint"
    owner_team_id: int | None = None
    owner_user_id: int | None = None
    priority: int = 3
    due_hours: int = 24
    review_link: str = ""
    review_message: str = ""

    @property
    def has_score(self) -> bool:
        return self.score_min is not None or self.score_max is not None


@dataclass(frozen=True)
class ResponseFacts:
    """What a rule can look at in one completed response."""

    survey_id: int
    touchpoint_id: int | None
    score: int | None  # the main score
    band: str
    numbers: Mapping[int, int]  # question id → number answered
    texts: Sequence[str]  # the text answers (and "other" texts)
    customer_value: Decimal | None
    customer_attributes: Mapping[str, Any]


@lru_cache(maxsize=512)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(keyword.strip()), re.IGNORECASE)


def keyword_found(keywords: Iterable[str], texts: Iterable[str]) -> bool:
    """Whether any keyword starts a word of any text, ignoring case."""
    texts = [t for t in texts if t]
    return any(_keyword_pattern(k).search(t) for k in keywords if k.strip() for t in texts)


def _same(left: Any, right: str) -> bool:
    return str(left if left is not None else "").strip().casefold() == right.strip().casefold()


def rule_matches(rule: RuleSpec, facts: ResponseFacts) -> bool:
    if rule.survey_id is not None and rule.survey_id != facts.survey_id:
        return False
    if rule.touchpoint_id is not None and rule.touchpoint_id != facts.touchpoint_id:
        return False
    if rule.band and rule.band != facts.band:
        return False
    if rule.has_score:
        number = facts.numbers.get(rule.question_id) if rule.question_id else facts.score
        if number is None:
            return False
        if rule.score_min is not None and number < rule.score_min:
            return False
        if rule.score_max is not None and number > rule.score_max:
            return False
    if rule.min_customer_value is not None and (
        facts.customer_value is None or facts.customer_value < rule.min_customer_value
    ):
        return False
    if any(
        not _same(facts.customer_attributes.get(key), value)
        for key, value in rule.customer_attributes.items()
    ):
        return False
    return not rule.keywords or keyword_found(rule.keywords, facts.texts)


def first_match(rules: Iterable[RuleSpec], facts: ResponseFacts) -> RuleSpec | None:
    """The first rule, in order, that the response matches (first match wins)."""
    return next((rule for rule in rules if rule_matches(rule, facts)), None)


def surveys_targeted(rules: Iterable[RuleSpec]) -> frozenset[int] | None:
    """The surveys some rule can match; None when a rule matches any survey."""
    ids: set[int] = set()
    for rule in rules:
        if rule.survey_id is None:
            return None
        ids.add(rule.survey_id)
    return frozenset(ids)


# ------------------------------------------------------------------------------------------------
# What the rule form's free-text fields mean
# ------------------------------------------------------------------------------------------------
def keywords_split(text: str) -> list[str]:
    """ "refund, cancel" → ["refund", "cancel"]; empty entries are kept, for the check to name."""
    if not text.strip():
        return []
    return [part.strip() for part in text.strip().split(",")]


def attributes_text(attributes: Mapping[str, str]) -> str:
    return "\n".join(f"{key} = {value}" for key, value in attributes.items())

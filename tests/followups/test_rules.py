"""Follow-up rules: what a CX lead is told when a rule is wrong, and which answers a rule matches."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cxm.accounts.models import Role
from cxm.errors import ApplicationError
from metrics import followup_services as services
from metrics.followup_rules import ResponseFacts, RuleSpec, first_match, keyword_found, rule_matches
from metrics.models import FollowUpRule
from surveys.models import Question
from tests.conftest import make_user
from tests.followups.conftest import make_survey, rule

pytestmark = pytest.mark.django_db


def _errors(**fields) -> dict:
    by = fields.pop("by")
    with pytest.raises(ApplicationError) as caught:
        rule(by, **fields)
    return caught.value.extra["errors"]


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------
def test_a_rule_without_any_condition_is_refused(cx_lead, care):
    errors = _errors(by=cx_lead, owner_kind="team", owner_team=care)
    assert errors[None].startswith("Add at least one condition")


def test_a_score_range_that_is_empty_or_off_the_scale_is_named(cx_lead, nps):
    errors = _errors(by=cx_lead, survey=nps, score_op="between", score=8, score_to=3)
    assert errors["score_to"] == "The range is empty: 8 is above 3. Put the lower score first."
    errors = _errors(by=cx_lead, survey=nps, score_op="lte", score=11)
    assert errors["score"] == ("11 is outside the scale of “recommend”, which goes from 0 to 10.")
    csat = make_survey("csat", cx_lead)
    errors = _errors(by=cx_lead, survey=csat, score_op="lte", score=0)
    assert "outside the scale of “satisfaction”, which goes from 1 to 5" in errors["score"]


def test_a_score_needs_a_survey_and_an_operator(cx_lead):
    errors = _errors(by=cx_lead, score_op="lte", score=6)
    assert errors["score"].startswith("Choose a survey: its scale says what a score means.")
    errors = _errors(by=cx_lead, band="negative", score=6)
    assert errors["score_op"] == "Choose ≤, ≥ or between for this score."


def test_a_question_must_be_a_scored_question_of_the_chosen_survey(cx_lead, nps):
    other = make_survey("csat", cx_lead)
    foreign = other.questions.get(key="satisfaction")
    errors = _errors(by=cx_lead, survey=nps, question=foreign, score_op="lte", score=2)
    assert errors["question"] == f"This question is not in the survey “{nps.name}”."
    errors = _errors(by=cx_lead, question=foreign, score_op="lte", score=2)
    assert errors["question"] == "Choose the survey this question is in first."
    text = nps.questions.get(key="improve")
    errors = _errors(by=cx_lead, survey=nps, question=text, score_op="lte", score=2)
    assert "has no score" in errors["question"]


def test_contradictory_band_and_score_are_refused(cx_lead, nps):
    errors = _errors(by=cx_lead, survey=nps, score_op="gte", score=9, band="negative")
    assert errors["band"].startswith("No score in this range is a “detractor")


def test_keywords_with_an_empty_entry_are_refused(cx_lead, nps):
    errors = _errors(by=cx_lead, survey=nps, keywords=["refund", "", "late"])
    assert errors["keywords"].startswith("One of the keywords is empty")


def test_a_named_owner_without_permission_is_refused(cx_lead, nps):
    outsider = make_user(None, "nobody@example.com", name="Nora Norole")
    errors = _errors(
        by=cx_lead, survey=nps, band="negative", owner_kind="person", owner_user=outsider
    )
    assert errors["owner_user"] == (
        "Nora Norole cannot work follow-ups: give them the agent, CX lead or admin role first."
    )
    errors = _errors(by=cx_lead, survey=nps, band="negative", owner_kind="person")
    assert errors["owner_user"] == "Choose the person."


def test_a_team_without_workers_and_a_touchpoint_without_team_are_refused(
    cx_lead, nps, delivery_touchpoint
):
    from cxm.accounts import services as account_services

    empty = account_services.team_save(team=None, name="Empty", description="", members=[])
    errors = _errors(by=cx_lead, survey=nps, band="negative", owner_kind="team", owner_team=empty)
    assert "has nobody who can work follow-ups" in errors["owner_team"]
    delivery_touchpoint.owner_team = None
    delivery_touchpoint.save()
    errors = _errors(by=cx_lead, touchpoint=delivery_touchpoint, band="negative")
    assert "has no owner team" in errors["owner_kind"]


def test_every_problem_is_reported_at_once_and_the_deadline_is_bounded(cx_lead, nps):
    errors = _errors(
        by=cx_lead, name=" ", survey=nps, score_op="lte", score=42, due_hours=0, keywords=[""]
    )
    assert set(errors) >= {"name", "score", "due_hours", "keywords"}
    assert errors["due_hours"] == "Give a deadline between 1 hour and 30 days (720 hours)."


def test_a_review_rule_needs_a_link_and_promoters(cx_lead, nps):
    errors = _errors(by=cx_lead, survey=nps, band="negative", action="review")
    assert errors["review_link"] == "Enter the link where customers write their review."
    assert errors["band"].startswith("This rule only matches unhappy customers")
    errors = _errors(
        by=cx_lead,
        survey=nps,
        band="positive",
        action="review",
        review_link="https://reviews.example.com/shop",
        review_message="Thanks {name}!",
    )
    assert errors["review_message"] == "Unknown field {name}: use {first_name} and {link}."


def test_a_valid_rule_is_saved_at_the_end_of_the_order(cx_lead, nps, care):
    first = rule(cx_lead, survey=nps, band="negative")
    second = rule(
        cx_lead,
        survey=nps,
        score_op="between",
        score=0,
        score_to=3,
        keywords=["Refund", "refund", "late"],
        customer_attributes={"plan": "gold"},
        min_customer_value=Decimal("1000"),
        owner_kind="team",
        owner_team=care,
        priority=4,
        due_hours=4,
    )
    assert (first.position, second.position) == (1, 2)
    assert (second.score_min, second.score_max) == (0, 3)
    assert second.keywords == ["Refund", "late"]  # the same word twice counts once
    services.rule_move(rule=second, direction="up")
    assert list(FollowUpRule.objects.values_list("id", flat=True)) == [second.pk, first.pk]


def test_root_causes_stay_two_levels_deep_and_unique(db):
    delivery = services.root_cause_save(cause=None, name="Delivery", parent=None)
    late = services.root_cause_save(cause=None, name="Late", parent=delivery)
    with pytest.raises(ApplicationError, match="Choose a category"):
        services.root_cause_save(cause=None, name="Very late", parent=late)
    with pytest.raises(ApplicationError, match="already in this list"):
        services.root_cause_save(cause=None, name="late", parent=delivery)
    with pytest.raises(ApplicationError, match="already in this list"):
        services.root_cause_save(cause=None, name="DELIVERY", parent=None)
    other = services.root_cause_save(cause=None, name="Service", parent=None)
    with pytest.raises(ApplicationError, match="stays a category"):
        services.root_cause_save(cause=delivery, name="Delivery", parent=other)


# ------------------------------------------------------------------------------------------------
# Matching (pure)
# ------------------------------------------------------------------------------------------------
def _facts(**fields) -> ResponseFacts:
    base = {
        "survey_id": 1,
        "touchpoint_id": 7,
        "score": 4,
        "band": "negative",
        "numbers": {10: 4, 11: 2},
        "texts": ["The sofa came three days late, I want a refund."],
        "customer_value": Decimal("2500"),
        "customer_attributes": {"plan": "Gold", "city": "Utrecht"},
    }
    return ResponseFacts(**{**base, **fields})


@pytest.mark.parametrize(
    ("spec", "matches"),
    [
        (RuleSpec(1, "survey", survey_id=1), True),
        (RuleSpec(1, "other survey", survey_id=2), False),
        (RuleSpec(1, "main ≤ 6", survey_id=1, score_max=6), True),
        (RuleSpec(1, "main ≥ 5", survey_id=1, score_min=5), False),
        (RuleSpec(1, "between", survey_id=1, score_min=4, score_max=4), True),
        (RuleSpec(1, "question 11 ≤ 2", survey_id=1, question_id=11, score_max=2), True),
        (RuleSpec(1, "question 11 ≥ 3", survey_id=1, question_id=11, score_min=3), False),
        (RuleSpec(1, "unanswered question", survey_id=1, question_id=12, score_max=10), False),
        (RuleSpec(1, "band", band="negative"), True),
        (RuleSpec(1, "promoters", band="positive"), False),
        (RuleSpec(1, "touchpoint", touchpoint_id=7), True),
        (RuleSpec(1, "other touchpoint", touchpoint_id=8), False),
        (RuleSpec(1, "valuable", min_customer_value=Decimal("2500")), True),
        (RuleSpec(1, "very valuable", min_customer_value=Decimal("2500.01")), False),
        (RuleSpec(1, "gold", customer_attributes={"plan": " gold "}), True),
        (
            RuleSpec(1, "gold in Delft", customer_attributes={"plan": "gold", "city": "Delft"}),
            False,
        ),
        (RuleSpec(1, "no such attribute", customer_attributes={"tier": "1"}), False),
        (RuleSpec(1, "refund", keywords=("REFUND", "cancel")), True),
        (RuleSpec(1, "word start", keywords=("fund",)), False),
        (RuleSpec(1, "two words", keywords=("days late",)), True),
        (RuleSpec(1, "nothing", keywords=("broken",)), False),
    ],
    ids=lambda value: value.name if isinstance(value, RuleSpec) else str(value),
)
def test_each_condition_matches(spec, matches):
    assert rule_matches(spec, _facts()) is matches


def test_unknown_value_never_meets_a_minimum():
    spec = RuleSpec(1, "valuable", min_customer_value=Decimal("0"))
    assert not rule_matches(spec, _facts(customer_value=None))


def test_the_first_matching_rule_wins():
    rules = [
        RuleSpec(1, "refunds", keywords=("refund",)),
        RuleSpec(2, "detractors", band="negative"),
    ]
    assert first_match(rules, _facts()).id == 1
    assert first_match(rules, _facts(texts=[])).id == 2
    assert first_match(rules, _facts(texts=[], band="positive")) is None


def test_keywords_ignore_case_and_empty_texts():
    assert keyword_found(["Late"], ["", "It was LATE."])
    assert not keyword_found(["late"], ["chocolate"])
    assert not keyword_found([""], ["anything"])


def test_ces_band_follows_the_good_end(cx_lead):
    """High effort on a survey worded with low numbers good is still the negative band."""
    from surveys.scoring import band_for

    ces = make_survey("ces", cx_lead)
    question = ces.questions.get(type=Question.Type.CES)
    question.good_end = "low"
    assert band_for(question, question.scale_max) == "negative"
    assert band_for(question, question.scale_min) == "positive"


def test_nobody_without_a_role_can_own(db):
    assert not services.can_own(make_user(None, "x@example.com"))
    assert services.can_own(make_user(Role.AGENT, "y@example.com"))

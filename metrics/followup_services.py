"""Every write of close the loop: rules and root causes (CX leads), opening a follow-up for a
matching response (the worker), and each step of its workflow (owners, leads, beat).

Opening (``followup_open_for_response``) is the hot path: a burst of thousands of detractors must
each reach a person within a minute. It reads the cached rules, one response with its answers,
bumps the team's round-robin counter in one statement outside the transaction, and then writes
everything in one short transaction: the conversation (found or created on the customer's
channel), the note with the answers, the follow-up (unique per response: a rerun does nothing),
its history, two timeline entries and the owner's notification. Webhooks and signals go out
after commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from cxm.accounts.models import Role, Team, User
from cxm.core.services import notification_send
from cxm.errors import ApplicationError
from cxm.jobs import Job, enqueue_on_commit
from cxm.webhooks.payloads import customer_summary
from inbox import services as inbox
from inbox.models import ChannelAccount, Conversation, Message, Suppression
from journeys.models import Customer, Touchpoint, TouchpointChannel
from journeys.services import interaction_record
from metrics.followup_rules import (
    ResponseFacts,
    RuleSpec,
    first_match,
    surveys_targeted,
)
from metrics.followup_selectors import shown_question_ids, workers_of
from metrics.models import (
    FollowUp,
    FollowUpEvent,
    FollowUpPending,
    FollowUpRoundRobin,
    FollowUpRule,
    RootCause,
)
from metrics.signals import followup_closed, followup_opened
from surveys.models import Answer, Question, Response, Survey
from surveys.scoring import band_for
from surveys.selectors import answer_display

logger = logging.getLogger(__name__)

RULES_CACHE = "metrics:followup-rules"
RULES_TTL = 60
CANDIDATES_TTL = 15  # seconds a team's available members are cached while opening follow-ups
ACCOUNTS_CACHE = "metrics:followup-accounts"
ACCOUNTS_TTL = 60
MAIL_THROTTLE = 600  # at most one "assigned to you" email per owner in this many seconds
REPLY_CHANNELS = ("email", "sms", "whatsapp")
MAX_DUE_HOURS = 720
MAX_KEYWORDS = 50
MAX_ATTRIBUTES = 20
REVIEW_FIELDS = re.compile(r"\{(\w*)\}")
# Logged calls that did not reach the customer are not a contact.
NO_CONTACT_OUTCOMES = {"no_answer", "voicemail"}


def _band_word(band: str) -> str:
    words = {
        "negative": _("detractor / dissatisfied / high effort"),
        "neutral": _("passive / neutral"),
        "positive": _("promoter / satisfied / low effort"),
    }
    return words.get(band, band)


# ------------------------------------------------------------------------------------------------
# Rules
# ------------------------------------------------------------------------------------------------
def _spec(rule: FollowUpRule) -> RuleSpec:
    return RuleSpec(
        id=rule.pk,
        name=rule.name,
        survey_id=rule.survey_id,
        question_id=rule.question_id,
        score_min=rule.score_min,
        score_max=rule.score_max,
        band=rule.band,
        touchpoint_id=rule.touchpoint_id,
        min_customer_value=rule.min_customer_value,
        customer_attributes=dict(rule.customer_attributes or {}),
        keywords=tuple(rule.keywords or ()),
        action=rule.action,
        owner_kind=rule.owner_kind,
        owner_team_id=rule.owner_team_id,
        owner_user_id=rule.owner_user_id,
        priority=rule.priority,
        due_hours=rule.due_hours,
        review_link=rule.review_link,
        review_message=rule.review_message,
    )


def rules_active() -> list[RuleSpec]:
    """The enabled rules in order, from the cache (60 s; every change to a rule clears it)."""
    rules = cache.get(RULES_CACHE)
    if rules is None:
        rules = [
            _spec(rule)
            for rule in FollowUpRule.objects.filter(is_active=True).order_by("position", "id")
        ]
        cache.set(RULES_CACHE, rules, RULES_TTL)
    return rules


def rules_target_surveys() -> frozenset[int] | None:
    """The surveys a rule can match (None: any survey); empty when no rule is enabled."""
    return surveys_targeted(rules_active())


def _rules_changed() -> None:
    cache.delete(RULES_CACHE)
    transaction.on_commit(lambda: cache.delete(RULES_CACHE))


def _main_question(survey: Survey) -> Question | None:
    from surveys.services.responding import main_question

    return main_question(list(survey.questions.all()))


def _scale_bounds(question: Question) -> tuple[int, int]:
    """The lowest and highest score of a scored question (0–10 when the scale leaves it open)."""
    low = question.scale_min if question.scale_min is not None else 0
    high = question.scale_max if question.scale_max is not None else 10
    return low, high


def _range_bands(question: Question, low: int, high: int) -> set[str]:
    return {band_for(question, value) for value in range(low, high + 1)}


def _score_check(
    errors: dict[str | None, str],
    *,
    survey: Survey | None,
    question: Question | None,
    score_op: str,
    score: int | None,
    score_to: int | None,
) -> tuple[int | None, int | None, Question | None]:
    """The score range of a rule, checked against the scale; the question it applies to."""
    if question is not None and survey is None:
        errors["question"] = _("Choose the survey this question is in first.")
        return None, None, None
    if question is not None and survey is not None and question.survey_id != survey.pk:
        errors["question"] = _("This question is not in the survey “%(survey)s”.") % {
            "survey": survey.name
        }
        return None, None, None
    if question is not None and not question.is_scored:
        errors["question"] = _(
            "“%(question)s” has no score: choose an NPS, rating or effort question."
        ) % {"question": question.key}
        return None, None, None
    if not score_op:
        if score is not None or score_to is not None:
            errors["score_op"] = _("Choose ≤, ≥ or between for this score.")
        elif question is not None:
            errors["score_op"] = _("Set a score for this question, or leave the question empty.")
        return None, None, question
    if score_op not in ("lte", "gte", "between"):
        errors["score_op"] = _("Choose ≤, ≥ or between.")
        return None, None, question
    if score is None:
        errors["score"] = _("Enter the score.")
        return None, None, question
    if score_op == "between" and score_to is None:
        errors["score_to"] = _("Enter the upper end of the range.")
        return None, None, question
    if survey is None:
        errors["score"] = _(
            "Choose a survey: its scale says what a score means. For every survey at once, "
            "use the answer shortcut (detractor, dissatisfied or high effort) instead."
        )
        return None, None, question
    scale = question or _main_question(survey)
    if scale is None:
        errors["score"] = _("The survey “%(survey)s” has no scored question.") % {
            "survey": survey.name
        }
        return None, None, None
    low, high = _scale_bounds(scale)
    low_score, high_score = {
        "lte": (None, score),
        "gte": (score, None),
        "between": (score, score_to),
    }[score_op]
    for name, value in (("score", score), ("score_to", score_to)):
        if value is not None and not low <= value <= high:
            errors[name] = _(
                "%(value)s is outside the scale of “%(question)s”, which goes from %(low)s to "
                "%(high)s."
            ) % {"value": value, "question": scale.key, "low": low, "high": high}
    if (
        low_score is not None
        and high_score is not None
        and low_score > high_score
        and "score_to" not in errors
    ):
        errors["score_to"] = _(
            "The range is empty: %(low)s is above %(high)s. Put the lower score first."
        ) % {"low": low_score, "high": high_score}
    return low_score, high_score, scale


def _owner_check(
    errors: dict[str | None, str],
    *,
    owner_kind: str,
    owner_team: Team | None,
    owner_user: User | None,
    touchpoint: Touchpoint | None,
) -> None:
    if owner_kind not in FollowUpRule.Owner.values:
        errors["owner_kind"] = _("Choose who gets the follow-ups.")
    elif owner_kind == FollowUpRule.Owner.TOUCHPOINT_TEAM:
        if touchpoint is not None and touchpoint.owner_team_id is None:
            errors["owner_kind"] = _(
                "The touchpoint “%(touchpoint)s” has no owner team: give it one on the journey "
                "map, or choose a team here."
            ) % {"touchpoint": touchpoint.name}
    elif owner_kind == FollowUpRule.Owner.TEAM:
        if owner_team is None:
            errors["owner_team"] = _("Choose the team.")
        elif not workers_of(owner_team.members.filter(is_active=True)).exists():
            errors["owner_team"] = _(
                "“%(team)s” has nobody who can work follow-ups: add members with the agent, "
                "CX lead or admin role."
            ) % {"team": owner_team.name}
    elif owner_user is None:
        errors["owner_user"] = _("Choose the person.")
    elif not can_own(owner_user):
        errors["owner_user"] = _cannot_own(owner_user)


def can_own(user: User) -> bool:
    """Whether follow-ups may be given to this person: active, and allowed to work them."""
    return (
        user.is_active
        and user.has_perm("metrics.change_followup")
        and user.has_perm("inbox.view_conversation")
    )


def _cannot_own(user: User) -> str:
    return _(
        "%(name)s cannot work follow-ups: give them the agent, CX lead or admin role first."
    ) % {"name": str(user)}


def _review_check(
    errors: dict[str | None, str],
    *,
    review_link: str,
    review_message: str,
    band: str,
    bands: set[str] | None,
) -> None:
    if not review_link.strip():
        errors["review_link"] = _("Enter the link where customers write their review.")
    elif not review_link.startswith(("https://", "http://")):
        errors["review_link"] = _("Enter a web address starting with https://.")
    if review_message.strip():
        fields = set(REVIEW_FIELDS.findall(review_message))
        unknown = sorted(fields - {"link", "first_name"})
        if unknown:
            errors["review_message"] = _(
                "Unknown field {%(field)s}: use {first_name} and {link}."
            ) % {"field": unknown[0]}
        elif "link" not in fields:
            errors["review_message"] = _("Put {link} where the review link goes.")
    if band == "negative" or (bands is not None and bands == {"negative"}):
        errors["band"] = _(
            "This rule only matches unhappy customers: ask promoters for reviews, and open a "
            "follow-up for detractors."
        )


def rule_save(
    *,
    rule: FollowUpRule | None,
    by: Any,
    name: str,
    survey: Survey | None = None,
    question: Question | None = None,
    score_op: str = "",
    score: int | None = None,
    score_to: int | None = None,
    band: str = "",
    touchpoint: Touchpoint | None = None,
    min_customer_value: Decimal | None = None,
    customer_attributes: dict[str, str] | None = None,
    keywords: list[str] | None = None,
    action: str = FollowUpRule.Action.FOLLOW_UP,
    owner_kind: str = FollowUpRule.Owner.TOUCHPOINT_TEAM,
    owner_team: Team | None = None,
    owner_user: User | None = None,
    priority: int = 3,
    due_hours: int = 24,
    review_link: str = "",
    review_message: str = "",
    is_active: bool = True,
) -> FollowUpRule:
    """Create or change a rule. Everything wrong is reported at once: the ApplicationError
    names the first problem, and ``extra["errors"]`` maps every field at fault to its message
    (``None`` for the rule as a whole)."""
    errors: dict[str | None, str] = {}
    name = name.strip()
    if not name:
        errors["name"] = _("Name the rule.")
    attributes = {str(k).strip(): str(v).strip() for k, v in (customer_attributes or {}).items()}
    if any(not k or not v for k, v in attributes.items()):
        errors["customer_attributes"] = _("Each attribute needs a key and a value.")
    elif len(attributes) > MAX_ATTRIBUTES:
        errors["customer_attributes"] = _("At most %(n)d attributes.") % {"n": MAX_ATTRIBUTES}
    words = [k.strip() for k in (keywords or [])]
    if any(not k for k in words):
        errors["keywords"] = _(
            "One of the keywords is empty: remove the extra comma (between two commas, or at "
            "the start or end)."
        )
    elif len(words) > MAX_KEYWORDS:
        errors["keywords"] = _("At most %(n)d keywords.") % {"n": MAX_KEYWORDS}
    elif any(len(k) > 100 for k in words):
        errors["keywords"] = _("A keyword can be at most 100 characters.")
    unique: dict[str, str] = {}
    for word in words:
        unique.setdefault(word.casefold(), word)  # the same keyword twice counts once
    words = list(unique.values())
    if band and band not in FollowUpRule.Band.values:
        errors["band"] = _("Choose one of the answers offered.")
    if min_customer_value is not None and min_customer_value < 0:
        errors["min_customer_value"] = _("A customer value cannot be negative.")
    score_min, score_max, scale = _score_check(
        errors, survey=survey, question=question, score_op=score_op, score=score, score_to=score_to
    )
    bands = None
    if scale is not None and (score_min is not None or score_max is not None):
        low, high = _scale_bounds(scale)
        bands = _range_bands(
            scale,
            score_min if score_min is not None else low,
            score_max if score_max is not None else high,
        )
        main = _main_question(scale.survey) if question is not None else scale
        if (
            band
            and main is not None
            and main.pk == scale.pk
            and band not in bands
            and not errors.keys() & {"score", "score_to"}
        ):
            errors["band"] = _(
                "No score in this range is a “%(band)s” answer, so the rule could never match. "
                "Change the score or the answer."
            ) % {"band": _band_word(band)}
    has_condition = any(
        [
            survey is not None,
            question is not None,
            score_min is not None or score_max is not None or bool(score_op),
            bool(band),
            touchpoint is not None,
            min_customer_value is not None,
            bool(attributes),
            bool(words),
        ]
    )
    if not has_condition and "keywords" not in errors and "customer_attributes" not in errors:
        errors[None] = _(
            "Add at least one condition: a rule without conditions would act on every answer."
        )
    if action == FollowUpRule.Action.FOLLOW_UP:
        _owner_check(
            errors,
            owner_kind=owner_kind,
            owner_team=owner_team,
            owner_user=owner_user,
            touchpoint=touchpoint,
        )
        if priority not in (1, 2, 3, 4):
            errors["priority"] = _("Choose a priority.")
        if not 1 <= due_hours <= MAX_DUE_HOURS:
            errors["due_hours"] = _("Give a deadline between 1 hour and 30 days (720 hours).")
    elif action == FollowUpRule.Action.REVIEW:
        _review_check(
            errors,
            review_link=review_link,
            review_message=review_message,
            band=band,
            bands=bands,
        )
    else:
        errors["action"] = _("Choose what the rule does.")
    if errors:
        field, message = next(iter(errors.items()))
        raise ApplicationError(message, field=field, extra={"errors": errors})

    with transaction.atomic():
        if rule is None:
            rule = FollowUpRule(created_by=by if getattr(by, "pk", None) else None)
            top = FollowUpRule.objects.aggregate(top=Max("position"))["top"]
            rule.position = (top or 0) + 1
        rule.name = name[:120]
        rule.survey = survey
        rule.question = question if score_min is not None or score_max is not None else None
        rule.score_min, rule.score_max = score_min, score_max
        rule.band = band
        rule.touchpoint = touchpoint
        rule.min_customer_value = min_customer_value
        rule.customer_attributes = attributes
        rule.keywords = words
        rule.action = action
        following = action == FollowUpRule.Action.FOLLOW_UP
        rule.owner_kind = owner_kind if following else FollowUpRule.Owner.TOUCHPOINT_TEAM
        rule.owner_team = owner_team if following and owner_kind == "team" else None
        rule.owner_user = owner_user if following and owner_kind == "person" else None
        rule.priority = priority
        rule.due_hours = due_hours
        rule.review_link = review_link.strip() if not following else ""
        rule.review_message = review_message.strip() if not following else ""
        rule.is_active = is_active
        rule.save()
        _rules_changed()
    logger.info("metrics.followup_rule.saved", extra={"rule_id": rule.pk})
    return rule


def rule_set_active(*, rule: FollowUpRule, active: bool) -> FollowUpRule:
    FollowUpRule.objects.filter(pk=rule.pk).update(is_active=active, updated_at=timezone.now())
    rule.is_active = active
    _rules_changed()
    return rule


def rule_move(*, rule: FollowUpRule, direction: str) -> None:
    """One place up or down the order (the order decides which rule wins)."""
    with transaction.atomic():
        ordered = list(FollowUpRule.objects.select_for_update().order_by("position", "id"))
        index = next(i for i, r in enumerate(ordered) if r.pk == rule.pk)
        target = index - 1 if direction == "up" else index + 1
        if 0 <= target < len(ordered):
            ordered[index], ordered[target] = ordered[target], ordered[index]
        for position, item in enumerate(ordered, start=1):
            if item.position != position:
                FollowUpRule.objects.filter(pk=item.pk).update(position=position)
        _rules_changed()


def rule_delete(*, rule: FollowUpRule) -> None:
    rule.delete()
    _rules_changed()


# ------------------------------------------------------------------------------------------------
# Root causes
# ------------------------------------------------------------------------------------------------
def root_cause_save(
    *, cause: RootCause | None, name: str, parent: RootCause | None, is_active: bool = True
) -> RootCause:
    name = name.strip()
    if not name:
        raise ApplicationError(_("Name the root cause."), field="name")
    if len(name) > 100:
        raise ApplicationError(_("At most 100 characters."), field="name")
    if parent is not None:
        if cause is not None and parent.pk == cause.pk:
            raise ApplicationError(_("A category cannot sit inside itself."), field="parent")
        if parent.parent_id is not None:
            raise ApplicationError(
                _("Choose a category (a cause at the top level), not a cause inside one."),
                field="parent",
            )
        if cause is not None and cause.pk and cause.children.exists():
            raise ApplicationError(
                _("“%(name)s” holds causes of its own, so it stays a category.")
                % {"name": cause.name},
                field="parent",
            )
    clash = RootCause.objects.filter(name__iexact=name, parent=parent)
    if cause is not None and cause.pk:
        clash = clash.exclude(pk=cause.pk)
    if clash.exists():
        raise ApplicationError(
            _("“%(name)s” is already in this list.") % {"name": name}, field="name"
        )
    cause = cause or RootCause()
    cause.name, cause.parent, cause.is_active = name, parent, is_active
    cause.save()
    return cause


# ------------------------------------------------------------------------------------------------
# Opening a follow-up
# ------------------------------------------------------------------------------------------------
_QUESTIONS: dict[tuple[int, int], list[Question]] = {}


def _questions(survey: Survey) -> list[Question]:
    """A survey's questions, per process, per version: a live survey's structure is fixed and
    every change to its texts raises its version."""
    key = (survey.pk, survey.version)
    found = _QUESTIONS.get(key)
    if found is None:
        if len(_QUESTIONS) > 500:
            _QUESTIONS.clear()
        found = list(Question.objects.filter(survey_id=survey.pk).order_by("position", "id"))
        for question in found:
            question.survey = survey
        _QUESTIONS[key] = found
    return found


def _facts(response: Response, answers: list[Answer]) -> ResponseFacts:
    customer = response.customer
    assert customer is not None
    return ResponseFacts(
        survey_id=response.survey_id,
        touchpoint_id=response.touchpoint_id,
        score=response.score,
        band=response.band,
        numbers={a.question_id: a.number for a in answers if a.number is not None},
        texts=[a.text for a in answers if a.text],
        customer_value=customer.value,
        customer_attributes=customer.attributes or {},
    )


def team_candidates(*, team_id: int) -> list[int]:
    """The members follow-ups of this team go to, in round-robin order (by id): active, allowed
    to work follow-ups, and available (the inbox's "available for new conversations"); when
    nobody is available, all of them, since a follow-up must reach a person."""
    key = f"metrics:followup-candidates:{team_id}"
    ids = cache.get(key)
    if ids is None:
        members = workers_of(User.objects.filter(teams=team_id, is_active=True))
        rows = list(members.values_list("id", "inbox_setting__available").order_by("id").distinct())
        everyone = sorted({user_id for user_id, _available in rows})
        available = sorted({user_id for user_id, flag in rows if flag is not False})
        ids = available or everyone
        cache.set(key, ids, CANDIDATES_TTL)
    return list(ids)


def round_robin_take(*, team_id: int, count: int = 1) -> list[int | None]:
    """The next ``count`` owners of a team's follow-ups, in turn. The team's counter moves on
    by ``count`` in one statement outside any transaction (its row lock lasts that statement),
    and each slot is the member at that place. The inbox's ``auto_assign`` is not reused: it
    holds the team's routing row locked until the caller's transaction ends (which serialises
    a burst), skips members at their cap of open conversations, and only runs for teams that
    auto-assign conversations."""
    candidates = team_candidates(team_id=team_id)
    if not candidates:
        return [None] * count
    table = FollowUpRoundRobin._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (team_id, position) VALUES (%s, %s) "  # noqa: S608 - our table
            f"ON CONFLICT (team_id) DO UPDATE SET position = {table}.position + excluded.position "
            "RETURNING position",
            [team_id, count],
        )
        end = cursor.fetchone()[0]
    return [candidates[(slot - 1) % len(candidates)] for slot in range(end - count + 1, end + 1)]


def _accounts() -> dict[str, list[tuple[int, int | None]]]:
    """Active channel accounts we can reply from: kind → [(id, team id)], by id."""
    found = cache.get(ACCOUNTS_CACHE)
    if found is None:
        found = defaultdict(list)
        for pk, kind, team_id in (
            ChannelAccount.objects.filter(is_active=True, kind__in=REPLY_CHANNELS)
            .order_by("id")
            .values_list("id", "kind", "team_id")
        ):
            found[kind].append((pk, team_id))
        found = dict(found)
        cache.set(ACCOUNTS_CACHE, found, ACCOUNTS_TTL)
    return found


def _address(customer: Customer, channel: str) -> str:
    return customer.email if channel == "email" else customer.phone


def _channels_for(customer: Customer, answered_on: str) -> list[str]:
    order = [answered_on, customer.preferred_channel, "email", "sms"]
    return [c for c in dict.fromkeys(order) if c in REPLY_CHANNELS and _address(customer, c)]


def reach_many(
    wanted: list[tuple[Customer, str, int | None]],
) -> list[tuple[str, int] | None]:
    """For each (customer, channel answered on, team): the channel to answer on and the account
    to answer from: the channel the survey was answered on, then the customer's preferred
    channel, then email, then SMS; the first with an address that is not on the suppression
    list and an active account of ours (the team's own account first). One query for all."""
    options = [_channels_for(customer, answered_on) for customer, answered_on, _team in wanted]
    pairs = {
        (channel, _address(customer, channel).lower())
        for (customer, _a, _t), channels in zip(wanted, options, strict=True)
        for channel in channels
    }
    suppressed: set[tuple[str, str]] = set()
    if pairs:
        # Both lists on the (channel, address) unique index, then the exact pairs here: an OR
        # of hundreds of pairs costs more to build and plan than it saves.
        listed = Suppression.objects.filter(
            channel__in={channel for channel, _a in pairs},
            address__in={address for _c, address in pairs},
        )
        suppressed = set(listed.values_list("channel", "address")) & pairs
    accounts = _accounts()
    found: list[tuple[str, int] | None] = []
    for (customer, _answered_on, team_id), channels in zip(wanted, options, strict=True):
        choice = None
        for channel in channels:
            if (channel, _address(customer, channel).lower()) in suppressed or not accounts.get(
                channel
            ):
                continue
            mine = accounts[channel]
            choice = (channel, next((pk for pk, team in mine if team == team_id), mine[0][0]))
            break
        found.append(choice)
    return found


def reach_for(
    *, customer: Customer, answered_on: str, team_id: int | None
) -> tuple[str, int] | None:
    """``reach_many`` for one customer."""
    return reach_many([(customer, answered_on, team_id)])[0]


def _timeline_channel(channel: str) -> str:
    return channel if channel in TouchpointChannel.values else TouchpointChannel.OTHER


def _when(moment: dt.datetime) -> str:
    return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def followup_url(followup_id: int) -> str:
    return reverse("followups:followup-detail", args=[followup_id])


def answers_note(
    *, response: Response, questions: list[Question], answers: list[Answer], followup: FollowUp
) -> str:
    """The internal note that carries the survey answers into the conversation: every question,
    with the answer, "not answered" (shown, skipped) or "not asked" (its condition hid it)."""
    survey = response.survey
    by_question = {a.question_id: a for a in answers}
    shown_ids = shown_question_ids(questions, answers)
    language = survey.default_language
    lines = [
        _("Survey answers: %(survey)s (answered %(when)s)")
        % {"survey": survey.name, "when": _when(response.completed_at or timezone.now())}
    ]
    if response.score is not None:
        lines.append(
            _("Score: %(score)s (%(band)s)")
            % {"score": response.score, "band": _band_word(response.band)}
        )
    lines.append("")
    for question in questions:
        answer = by_question.get(question.pk)
        text = question.text("text", language, survey.default_language) or question.key
        shown = answer_display(question, answer, response.language) if answer else ""
        lines.append(f"• {text}")
        if shown:
            lines.append(f"  {shown}")
        else:
            missing = _("(not answered)") if question.pk in shown_ids else _("(not asked)")
            lines.append(f"  {missing}")
    lines.append("")
    lines.append(
        _("The response: %(url)s")
        % {"url": settings.PUBLIC_BASE_URL + reverse("surveys:response-detail", args=[response.pk])}
    )
    lines.append(
        _("The follow-up, due %(when)s: %(url)s")
        % {
            "when": _when(followup.due_at),
            "url": settings.PUBLIC_BASE_URL + followup_url(followup.pk),
        }
    )
    return "\n".join(lines)


def payload(followup: FollowUp) -> dict[str, Any]:
    """What the ``followup.opened`` and ``followup.closed`` webhooks carry."""
    owner = followup.owner
    cause = followup.root_cause
    base = settings.PUBLIC_BASE_URL
    return {
        "id": followup.pk,
        "url": base + followup_url(followup.pk),
        "status": followup.status,
        "response_id": followup.response_id,
        "response_url": base + reverse("surveys:response-detail", args=[followup.response_id])
        if followup.response_id
        else None,
        "survey_id": followup.survey_id,
        "score": followup.score,
        "band": followup.band,
        "conversation_id": followup.conversation_id,
        "customer_id": followup.customer_id,
        "customer": customer_summary(followup.customer),
        "owner": {"id": owner.pk, "name": owner.name, "email": owner.email} if owner else None,
        "team_id": followup.team_id,
        "priority": followup.priority,
        "opened_at": followup.opened_at.isoformat(),
        "due_at": followup.due_at.isoformat(),
        "first_contacted_at": followup.first_contacted_at.isoformat()
        if followup.first_contacted_at
        else None,
        "closed_at": followup.closed_at.isoformat() if followup.closed_at else None,
        "root_cause": str(cause) if cause is not None else None,
        "recovered": followup.recovered,
    }


def _publish(event: str, followup: FollowUp) -> None:
    from cxm.webhooks.services import event_publish

    event_publish(event, payload(followup))


def _announce(signal: Any, followup_id: int) -> None:
    transaction.on_commit(lambda: signal.send(sender=FollowUp, followup_id=followup_id))


def _record(
    followup: FollowUp,
    kind: str,
    summary: str,
    *,
    at: dt.datetime | None = None,
    key: str | None = None,
) -> None:
    """One step of the follow-up on the customer's timeline."""
    conversation = followup.conversation
    interaction_record(
        customer=followup.customer,
        kind=f"followup.{kind}",
        channel=_timeline_channel(conversation.channel if conversation else ""),
        occurred_at=at or timezone.now(),
        summary=summary,
        source_type="metrics.followup",
        source_id=followup.pk,
        data={"followup_id": followup.pk, "status": followup.status},
        idempotency_key=key,
        likely_new=key is not None,
    )


def _assigned_notice(followups: list[FollowUp], *, by: Any = None) -> None:
    """The owner hears of follow-ups given to them: in the app, and by email unless they had one
    of these in the last ten minutes."""
    owner = followups[0].owner
    assert owner is not None
    if by is not None and getattr(by, "pk", None) == owner.pk:
        return
    first = min(followups, key=lambda f: f.due_at)
    with translation.override(owner.language or settings.LANGUAGE_CODE):
        if len(followups) == 1:
            text = _(
                "Follow-up for %(customer)s (%(survey)s, score %(score)s) is yours, due %(due)s"
            ) % {
                "customer": first.customer,
                "survey": first.survey.name,
                "score": "—" if first.score is None else first.score,
                "due": _when(first.due_at),
            }
            url = followup_url(first.pk)
        else:
            text = _("%(count)d new follow-ups are yours; the first is due %(due)s") % {
                "count": len(followups),
                "due": _when(first.due_at),
            }
            url = reverse("followups:queue") + "?scope=mine"
    email = bool(owner.email) and cache.add(f"metrics:followup-mailed:{owner.pk}", 1, MAIL_THROTTLE)
    notification_send(user=owner, text=text, url=url, email=email)


def _cx_leads() -> list[User]:
    return list(User.objects.filter(is_active=True, groups__name=Role.CX_LEAD).distinct())


# ------------------------------------------------------------------------------------------------
# Opening: completed responses wait in FollowUpPending; drains take them in batches
# ------------------------------------------------------------------------------------------------
BATCH = 200
CLAIM = dt.timedelta(minutes=2)  # a drain that died lets go of its batch after this long
DRAIN_SECONDS = 20.0  # one drain task works this long, then hands over to a new task
KICK = "metrics:followups:kick"


def followup_candidate_add(*, response_id: int) -> None:
    """A completed response a rule may match waits in the database until a drain has looked at
    it; a drain task is queued at most once a second, so a burst of answers costs a few tasks
    (each task costs a broker message and, since Celery closes Django's connections around
    every task, a new database connection), not one per answer."""
    FollowUpPending.objects.bulk_create(
        [FollowUpPending(response_id=response_id)], ignore_conflicts=True
    )
    kick(response_id=response_id)


def kick(*, response_id: int | None = None) -> None:
    if cache.add(KICK, 1, timeout=1):
        enqueue_on_commit(Job.METRICS_FOLLOWUP_OPEN, response_id=response_id)


def followups_drain(*, response_id: int | None = None, seconds: float = DRAIN_SECONDS) -> int:
    """The task: claim waiting responses in batches of 200 and open their follow-ups, until none
    is left or ``seconds`` have passed (then a new task goes on). Returns how many opened."""
    if response_id is not None:
        FollowUpPending.objects.bulk_create(
            [FollowUpPending(response_id=response_id)], ignore_conflicts=True
        )
    started, opened = time.monotonic(), 0
    while True:
        ids = _claim(BATCH)
        if not ids:
            # Let the next answer queue a drain at once, then look once more: an answer that
            # arrived after the last look and found the kick still set is taken here.
            cache.delete(KICK)
            ids = _claim(BATCH)
            if not ids:
                return opened
        opened += len(_open_batch(ids))
        if len(ids) < BATCH:
            return opened
        if time.monotonic() - started > seconds:
            enqueue_on_commit(Job.METRICS_FOLLOWUP_OPEN, response_id=None)
            return opened


def _claim(limit: int) -> list[int]:
    """Up to ``limit`` waiting responses, oldest first, claimed for ``CLAIM`` (workers share the
    rows: SKIP LOCKED); an expired claim (its drain died) is taken again."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            FollowUpPending.objects.select_for_update(skip_locked=True)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("created_at", "response_id")
            .values_list("response_id", flat=True)[:limit]
        )
        if ids:
            FollowUpPending.objects.filter(response_id__in=ids).update(claimed_until=now + CLAIM)
    return ids


def followup_open_for_response(*, response_id: int) -> FollowUp | None:
    """Evaluate the rules for one completed response and take the first matching rule's
    action: open and assign a follow-up, or ask for a review. Safe to run twice: the follow-up
    is unique per response and the review request per response's timeline key."""
    created = _open_batch([response_id])
    return created[0] if created else None


def _open_batch(ids: list[int]) -> list[FollowUp]:
    """Evaluate the rules for these responses and act; they leave the waiting list."""
    done = set(FollowUp.objects.filter(response_id__in=ids).values_list("response_id", flat=True))
    pending = [pk for pk in ids if pk not in done]
    rules = rules_active() if pending else []
    created: list[FollowUp] = []
    if rules:
        responses = list(
            Response.objects.select_related("survey", "customer", "touchpoint")
            .filter(pk__in=pending, completed_at__isnull=False, customer__isnull=False)
            .order_by("completed_at", "id")
        )
        answers: dict[int, list[Answer]] = defaultdict(list)
        for answer in Answer.objects.filter(response_id__in=[r.pk for r in responses]):
            answers[answer.response_id].append(answer)
        matched: list[tuple[Response, list[Answer], RuleSpec]] = []
        for response in responses:
            rule = first_match(rules, _facts(response, answers[response.pk]))
            if rule is None:
                continue
            if rule.action == FollowUpRule.Action.REVIEW:
                _review_ask(response=response, rule=rule)
            else:
                matched.append((response, answers[response.pk], rule))
        if matched:
            created = _open_racing(matched)
    FollowUpPending.objects.filter(response_id__in=ids).delete()
    return created


def _open_racing(matched: list[tuple[Response, list[Answer], RuleSpec]]) -> list[FollowUp]:
    """``_open_many``, all at once; when another run opened one of them a moment ago, the rest
    one by one."""
    try:
        return _open_many(matched)
    except IntegrityError:
        pass
    created: list[FollowUp] = []
    for item in matched:
        try:
            created += _open_many([item])
        except IntegrityError:
            if not FollowUp.objects.filter(response_id=item[0].pk).exists():
                raise
    return created


def _owners(
    matched: list[tuple[Response, list[Answer], RuleSpec]],
) -> list[tuple[int | None, User | None]]:
    """(team, owner) of each follow-up: a named person, or the next members of the named team or
    of the touchpoint's owner team, round robin."""
    teams: list[int | None] = []
    owner_ids: list[int | None] = []
    for response, _answers, rule in matched:
        if rule.owner_kind == FollowUpRule.Owner.PERSON:
            teams.append(None)
            owner_ids.append(rule.owner_user_id)
        elif rule.owner_kind == FollowUpRule.Owner.TEAM:
            teams.append(rule.owner_team_id)
            owner_ids.append(None)
        else:
            touchpoint = response.touchpoint
            teams.append(touchpoint.owner_team_id if touchpoint is not None else None)
            owner_ids.append(None)
    slots: dict[int, list[int]] = defaultdict(list)
    for index, (team_id, owner_id) in enumerate(zip(teams, owner_ids, strict=True)):
        if team_id is not None and owner_id is None:
            slots[team_id].append(index)
    for team_id, indexes in slots.items():
        for index, owner_id in zip(
            indexes, round_robin_take(team_id=team_id, count=len(indexes)), strict=True
        ):
            owner_ids[index] = owner_id
    users = User.objects.filter(is_active=True).in_bulk([pk for pk in owner_ids if pk])
    return [
        (team_id, users.get(owner_id) if owner_id else None)
        for team_id, owner_id in zip(teams, owner_ids, strict=True)
    ]


def _open_conversations(customer_ids: set[int]) -> dict[tuple[int, str], Conversation]:
    """Each customer's most recent conversation per channel that is not resolved."""
    found: dict[tuple[int, str], Conversation] = {}
    if not customer_ids:
        return found
    for conversation in (
        Conversation.objects.filter(customer_id__in=customer_ids, channel__in=REPLY_CHANNELS)
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-last_message_at", "-id")
    ):
        found.setdefault((conversation.customer_id, conversation.channel), conversation)
    return found


def _open_many(matched: list[tuple[Response, list[Answer], RuleSpec]]) -> list[FollowUp]:
    """Open and assign one follow-up per matched response, in one transaction with a handful
    of statements whatever the number (the timeline entries aside: two each)."""
    owners = _owners(matched)
    reaches = reach_many(
        [
            (response.customer, response.channel, team_id)  # type: ignore[misc]
            for (response, _a, _r), (team_id, _o) in zip(matched, owners, strict=True)
        ]
    )
    existing = _open_conversations(
        {
            response.customer_id
            for (response, _a, _r), reach in zip(matched, reaches, strict=True)
            if reach and response.customer_id
        }
    )
    now = timezone.now()
    with transaction.atomic():
        conversations: dict[tuple[int, str], Conversation] = {}
        reused: dict[int, dict[str, Any]] = {}
        new: list[Conversation] = []
        for (response, _answers, rule), (team_id, owner), reach in zip(
            matched, owners, reaches, strict=True
        ):
            if reach is None:
                continue
            channel, account_id = reach
            key = (response.customer_id or 0, channel)
            if key in conversations:
                continue
            found = existing.get(key)
            if found is not None:
                updates: dict[str, Any] = {
                    "status": Conversation.Status.OPEN,
                    "snoozed_until": None,
                    "priority": max(found.priority, rule.priority),
                    "last_message_at": now,
                }
                if owner is not None:
                    updates["assignee"] = owner
                if found.team_id is None and team_id is not None:
                    updates["team_id"] = team_id
                for name, value in updates.items():
                    setattr(found, name, value)
                reused[found.pk] = updates
                conversations[key] = found
            else:
                conversations[key] = Conversation(
                    customer=response.customer,
                    channel_account_id=account_id,
                    channel=channel,
                    subject=(
                        _("Follow-up: %(survey)s, score %(score)s")
                        % {
                            "survey": response.survey.name,
                            "score": "—" if response.score is None else response.score,
                        }
                    )[:255],
                    team_id=team_id,
                    assignee=owner,
                    priority=rule.priority,
                    last_message_at=now,
                )
                new.append(conversations[key])
        # Not inbox.services: nothing is sent yet, and a batch of conversations is one INSERT.
        Conversation.objects.bulk_create(new)
        for conversation_id, updates in reused.items():
            Conversation.objects.filter(pk=conversation_id).update(**updates)
        followups: list[FollowUp] = []
        for (response, _answers, rule), (team_id, owner), reach in zip(
            matched, owners, reaches, strict=True
        ):
            followups.append(
                FollowUp(
                    response=response,
                    rule_id=rule.id,
                    customer=response.customer,
                    survey=response.survey,
                    touchpoint=response.touchpoint,
                    channel=response.channel,
                    score=response.score,
                    band=response.band,
                    conversation=conversations[(response.customer_id or 0, reach[0])]
                    if reach
                    else None,
                    owner=owner,
                    team_id=team_id,
                    priority=rule.priority,
                    opened_at=now,
                    due_at=now + dt.timedelta(hours=rule.due_hours),
                )
            )
        FollowUp.objects.bulk_create(followups)
        # A note from the system, not inbox.services.note_add: that one needs an author and
        # notifies anyone @mentioned, and the customer's own words may hold an @.
        Message.objects.bulk_create(
            [
                Message(
                    conversation=followup.conversation,
                    direction=Message.Direction.NOTE,
                    channel=followup.conversation.channel,
                    text=answers_note(
                        response=response,
                        questions=_questions(response.survey),
                        answers=answers,
                        followup=followup,
                    ),
                    created_at=now,
                )
                for followup, (response, answers, _rule) in zip(followups, matched, strict=True)
                if followup.conversation is not None
            ]
        )
        events: list[FollowUpEvent] = []
        for followup, (_response, _answers, rule) in zip(followups, matched, strict=True):
            events.append(
                FollowUpEvent(
                    followup=followup,
                    kind=FollowUpEvent.Kind.OPENED,
                    at=now,
                    data={"rule": rule.name, "rule_id": rule.id},
                )
            )
            if followup.owner is not None:
                events.append(
                    FollowUpEvent(
                        followup=followup,
                        kind=FollowUpEvent.Kind.ASSIGNED,
                        at=now,
                        data={
                            "owner_id": followup.owner.pk,
                            "owner": followup.owner.name,
                            "round_robin": rule.owner_kind != FollowUpRule.Owner.PERSON,
                        },
                    )
                )
        FollowUpEvent.objects.bulk_create(events)
        for followup in followups:
            _record(
                followup,
                "opened",
                _("Follow-up opened after %(survey)s (score %(score)s), due %(due)s")
                % {
                    "survey": followup.survey.name,
                    "score": "—" if followup.score is None else followup.score,
                    "due": _when(followup.due_at),
                },
                at=now,
                key=f"metrics.followup.{followup.pk}.opened",
            )
            if followup.owner is not None:
                _record(
                    followup,
                    "assigned",
                    _("Follow-up assigned to %(owner)s") % {"owner": followup.owner.name},
                    at=now,
                    key=f"metrics.followup.{followup.pk}.assigned.{followup.owner.pk}",
                )
            _publish("followup.opened", followup)
            _announce(followup_opened, followup.pk)
        _opened_notices(followups)
    logger.info(
        "metrics.followups.opened",
        extra={"count": len(followups), "conversations": len(new), "reused": len(reused)},
    )
    return followups


def _opened_notices(followups: list[FollowUp]) -> None:
    """Each owner hears of their new follow-ups once per batch (in the app, and by email unless
    they had one of these in the last ten minutes: a burst of detractors sends one email, not
    hundreds; the queue lists them all). Follow-ups without an owner go to the CX leads."""
    by_owner: dict[int, list[FollowUp]] = defaultdict(list)
    unowned: list[FollowUp] = []
    for followup in followups:
        if followup.owner is not None:
            by_owner[followup.owner.pk].append(followup)
        else:
            unowned.append(followup)
    for items in by_owner.values():
        _assigned_notice(items)
    if unowned:
        for lead in _cx_leads():
            with translation.override(lead.language or settings.LANGUAGE_CODE):
                if len(unowned) == 1:
                    text = _("Follow-up for %(customer)s has no owner: assign it") % {
                        "customer": unowned[0].customer
                    }
                    url = followup_url(unowned[0].pk)
                else:
                    text = _("%(count)d new follow-ups have no owner: assign them") % {
                        "count": len(unowned)
                    }
                    url = reverse("followups:queue") + "?scope=all"
            notification_send(user=lead, text=text, url=url)


def _review_text(rule: RuleSpec, response: Response) -> tuple[str, str]:
    customer = response.customer
    assert customer is not None
    first_name = (customer.name or "").split(" ")[0]
    with translation.override(response.language or settings.LANGUAGE_CODE):
        template = rule.review_message or _(
            "Thank you for your feedback! Would you tell others about us in a short review? {link}"
        )
        subject = _("Would you write us a review?")
    text = template.replace("{first_name}", first_name).replace("{link}", rule.review_link)
    return subject, text


def _review_ask(*, response: Response, rule: RuleSpec) -> bool:
    """Promoters: a message on their channel with the review link, once per response (the
    timeline entry's key is the guard), recorded on the timeline."""
    customer = response.customer
    assert customer is not None
    reach = reach_for(customer=customer, answered_on=response.channel, team_id=None)
    if reach is None:
        logger.info("metrics.review.unreachable", extra={"response_id": response.pk})
        return False
    channel, _account = reach
    subject, text = _review_text(rule, response)
    with transaction.atomic():
        _interaction, created = interaction_record(
            customer=customer,
            kind="followup.review_asked",
            channel=_timeline_channel(channel),
            summary=_("Asked for a review after %(survey)s (score %(score)s)")
            % {"survey": response.survey.name, "score": response.score},
            source_type="surveys.response",
            source_id=response.pk,
            data={"rule_id": rule.id, "link": rule.review_link, "channel": channel},
            idempotency_key=f"metrics.review.{response.pk}",
        )
        if not created:
            return False
        inbox.deliveries_queue(
            drafts=[
                inbox.DeliveryDraft(
                    channel=channel,
                    to_address=_address(customer, channel),
                    text=text,
                    subject=subject if channel == "email" else "",
                    from_address=settings.SURVEY_FROM_EMAIL if channel == "email" else "",
                )
            ]
        )
    logger.info("metrics.review.asked", extra={"response_id": response.pk, "rule_id": rule.id})
    return True


def followups_sweep(*, now: dt.datetime | None = None) -> int:
    """Beat's backstop (every minute): responses still waiting after a minute (their drain task
    was lost, or its worker died and the claim ran out) are drained; and completed responses of
    10 to 11 minutes ago (each looked at once more) that have no follow-up go on the list again,
    for a web process that died between the commit and the signal."""
    now = now or timezone.now()
    targets = rules_target_surveys()
    missed = Response.objects.filter(
        completed_at__gte=now - dt.timedelta(minutes=11),
        completed_at__lt=now - dt.timedelta(minutes=10),
        customer__isnull=False,
        followup__isnull=True,
    )
    if targets is not None:
        missed = missed.filter(survey_id__in=targets)
    again = list(missed.values_list("id", flat=True)[:10_000]) if targets is None or targets else []
    FollowUpPending.objects.bulk_create(
        [FollowUpPending(response_id=pk) for pk in again], ignore_conflicts=True
    )
    stale = FollowUpPending.objects.filter(created_at__lt=now - dt.timedelta(minutes=1))
    if not again and not stale.exists():
        return 0
    opened = followups_drain()
    if opened:
        logger.info("metrics.followups.swept", extra={"opened": opened})
    return opened


# ------------------------------------------------------------------------------------------------
# The workflow: new → contacted → resolved | unreachable, and back by reopening
# ------------------------------------------------------------------------------------------------
def _locked(followup: FollowUp) -> FollowUp:
    return (
        FollowUp.objects.select_for_update(of=("self",))
        .select_related("customer", "conversation", "owner", "root_cause", "survey")
        .get(pk=followup.pk)
    )


def _event(followup: FollowUp, kind: str, by: Any, at: dt.datetime, **data: Any) -> None:
    FollowUpEvent.objects.create(
        followup=followup,
        kind=kind,
        actor=by if getattr(by, "pk", None) else None,
        at=at,
        data=data,
    )


def _closed_already(followup: FollowUp) -> ApplicationError:
    return ApplicationError(
        _("This follow-up is already %(status)s. Reopen it to change it.")
        % {"status": followup.get_status_display().lower()},
        field="status",
    )


def followup_mark_contacted(
    *, followup: FollowUp, by: Any, at: dt.datetime | None = None, via: str = "button"
) -> FollowUp:
    """The owner reached the customer (a button, a reply in the conversation, a logged call)."""
    now = at or timezone.now()
    with transaction.atomic():
        followup = _locked(followup)
        if followup.status == FollowUp.Status.CONTACTED:
            raise ApplicationError(_("This follow-up is already marked contacted."), field="status")
        if followup.status in FollowUp.CLOSED:
            raise _closed_already(followup)
        followup.status = FollowUp.Status.CONTACTED
        followup.first_contacted_at = followup.first_contacted_at or now
        followup.save(update_fields=["status", "first_contacted_at", "updated_at"])
        _event(followup, FollowUpEvent.Kind.CONTACTED, by, now, via=via)
        _record(followup, "contacted", _contacted_summary(by, via), at=now)
    return followup


def _contacted_summary(by: Any, via: str) -> str:
    name = getattr(by, "name", "") or _("someone")
    if via == "reply":
        return _("Follow-up: %(name)s answered the customer") % {"name": name}
    if via == "call":
        return _("Follow-up: %(name)s called the customer") % {"name": name}
    return _("Follow-up: %(name)s contacted the customer") % {"name": name}


def followup_contact_from_message(*, message_id: int) -> int:
    """An agent's reply (or logged call) in a follow-up's conversation is its first contact:
    ``first_contacted_at`` is the message's time, and a new follow-up moves to contacted.
    Safe to run twice."""
    message = (
        Message.objects.select_related("author")
        .filter(pk=message_id, direction=Message.Direction.OUTBOUND)
        .first()
    )
    if message is None:
        return 0
    call = (message.data or {}).get("call")
    if call and call.get("outcome") in NO_CONTACT_OUTCOMES:
        return 0
    via = "call" if call else "reply"
    changed = 0
    pending = FollowUp.objects.filter(
        conversation_id=message.conversation_id, first_contacted_at__isnull=True
    ).values_list("id", flat=True)
    for followup_id in pending:
        with transaction.atomic():
            followup = _locked(FollowUp(pk=followup_id))
            if followup.first_contacted_at is not None or followup.opened_at > message.created_at:
                continue
            followup.first_contacted_at = message.created_at
            fields = ["first_contacted_at", "updated_at"]
            if followup.status == FollowUp.Status.NEW:
                followup.status = FollowUp.Status.CONTACTED
                fields.append("status")
            followup.save(update_fields=fields)
            _event(
                followup,
                FollowUpEvent.Kind.CONTACTED,
                message.author,
                message.created_at,
                via=via,
                message_id=message.pk,
            )
            _record(
                followup,
                "contacted",
                _contacted_summary(message.author, via),
                at=message.created_at,
                key=f"metrics.followup.{followup.pk}.contacted",
            )
            changed += 1
    return changed


def followup_resolve(
    *,
    followup: FollowUp,
    by: Any,
    root_cause: RootCause | None,
    outcome: str = "",
    recovered: bool = False,
) -> FollowUp:
    if root_cause is None:
        raise ApplicationError(_("Choose the root cause."), field="root_cause")
    if not root_cause.is_active or (
        root_cause.parent is not None and not root_cause.parent.is_active
    ):
        raise ApplicationError(
            _("“%(cause)s” is no longer in use; choose another root cause.")
            % {"cause": root_cause},
            field="root_cause",
        )
    return _close(
        followup=followup,
        by=by,
        status=FollowUp.Status.RESOLVED,
        root_cause=root_cause,
        outcome=outcome,
        recovered=recovered,
    )


def followup_mark_unreachable(*, followup: FollowUp, by: Any, outcome: str = "") -> FollowUp:
    """Closed without reaching the customer (every channel tried)."""
    return _close(
        followup=followup,
        by=by,
        status=FollowUp.Status.UNREACHABLE,
        root_cause=None,
        outcome=outcome,
        recovered=False,
    )


def _close(
    *,
    followup: FollowUp,
    by: Any,
    status: str,
    root_cause: RootCause | None,
    outcome: str,
    recovered: bool,
) -> FollowUp:
    now = timezone.now()
    outcome = outcome.strip()[:5000]
    with transaction.atomic():
        followup = _locked(followup)
        if followup.status in FollowUp.CLOSED:
            raise _closed_already(followup)
        followup.status = status
        followup.closed_at = now
        followup.root_cause = root_cause
        followup.outcome = outcome
        followup.recovered = recovered
        followup.save(
            update_fields=[
                "status",
                "closed_at",
                "root_cause",
                "outcome",
                "recovered",
                "updated_at",
            ]
        )
        in_time = now <= followup.due_at
        _event(
            followup,
            status,
            by,
            now,
            root_cause=str(root_cause) if root_cause else None,
            outcome=outcome,
            recovered=recovered,
            in_time=in_time,
        )
        if status == FollowUp.Status.RESOLVED:
            summary = _("Follow-up resolved: %(cause)s") % {"cause": root_cause}
            if recovered:
                summary += " · " + _("customer recovered")
        else:
            summary = _("Follow-up closed: the customer could not be reached")
        if outcome:
            summary += f" · “{outcome[:200]}”"
        _record(followup, status, summary, at=now)
        _publish("followup.closed", followup)
        _announce(followup_closed, followup.pk)
    logger.info("metrics.followup.closed", extra={"followup_id": followup.pk, "status": status})
    return followup


def followup_reopen(*, followup: FollowUp, by: Any, reason: str = "") -> FollowUp:
    """Back to contacted (or new, if nobody reached the customer yet). The deadline stays: a
    follow-up reopened after it is an SLA breach, and the loop metrics count it as such."""
    now = timezone.now()
    with transaction.atomic():
        followup = _locked(followup)
        if followup.status not in FollowUp.CLOSED:
            raise ApplicationError(_("This follow-up is still open."), field="status")
        previous = followup.status
        followup.status = (
            FollowUp.Status.CONTACTED if followup.first_contacted_at else FollowUp.Status.NEW
        )
        followup.closed_at = None
        followup.reopened += 1
        followup.save(update_fields=["status", "closed_at", "reopened", "updated_at"])
        _event(followup, FollowUpEvent.Kind.REOPENED, by, now, previous=previous, reason=reason)
        summary = _("Follow-up reopened by %(name)s") % {
            "name": getattr(by, "name", "") or _("someone")
        }
        if reason.strip():
            summary += f" · “{reason.strip()[:200]}”"
        _record(followup, "reopened", summary, at=now)
    return followup


def followup_assign(*, followup: FollowUp, owner: User, by: Any) -> FollowUp:
    """Give the follow-up (and its conversation) to someone else; they are notified."""
    if not can_own(owner):
        raise ApplicationError(_cannot_own(owner), field="owner")
    now = timezone.now()
    with transaction.atomic():
        followup = _locked(followup)
        if followup.owner_id == owner.pk:
            return followup
        if followup.status in FollowUp.CLOSED:
            raise _closed_already(followup)
        followup.owner = owner
        followup.save(update_fields=["owner", "updated_at"])
        if followup.conversation_id:
            Conversation.objects.filter(pk=followup.conversation_id).update(assignee=owner)
        _event(followup, FollowUpEvent.Kind.ASSIGNED, by, now, owner_id=owner.pk, owner=owner.name)
        _record(
            followup,
            "assigned",
            _("Follow-up assigned to %(owner)s") % {"owner": owner.name},
            at=now,
        )
        _assigned_notice([followup], by=by)
    return followup


# ------------------------------------------------------------------------------------------------
# Escalation (beat)
# ------------------------------------------------------------------------------------------------
ESCALATE_BATCH = 500


def followups_escalate(*, now: dt.datetime | None = None) -> int:
    """Open follow-ups past their deadline are escalated once: ``escalated_at`` is set and the
    team's lead (or, without one, every CX lead) hears of it in the app and by email, one
    notice per person per run however many follow-ups it names."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            due = list(
                FollowUp.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status__in=FollowUp.OPEN, due_at__lt=now, escalated_at__isnull=True)
                .select_related("team__lead", "customer")
                .order_by("due_at", "id")[:ESCALATE_BATCH]
            )
            if not due:
                break
            FollowUp.objects.filter(pk__in=[f.pk for f in due]).update(escalated_at=now)
            FollowUpEvent.objects.bulk_create(
                [
                    FollowUpEvent(
                        followup=f,
                        kind=FollowUpEvent.Kind.ESCALATED,
                        at=now,
                        data={"overdue_since": f.due_at.isoformat(), "owner_id": f.owner_id},
                    )
                    for f in due
                ]
            )
            _escalation_notices(due)
        total += len(due)
        if len(due) < ESCALATE_BATCH:
            break
    if total:
        logger.info("metrics.followups.escalated", extra={"count": total})
    return total


def _escalation_notices(due: Iterable[FollowUp]) -> None:
    leads: list[User] | None = None
    by_person: dict[int, tuple[User, list[FollowUp]]] = {}
    for followup in due:
        lead = followup.team.lead if followup.team is not None else None
        recipients = [lead] if lead is not None and lead.is_active else None
        if recipients is None:
            leads = _cx_leads() if leads is None else leads
            recipients = leads
        for person in recipients:
            by_person.setdefault(person.pk, (person, []))[1].append(followup)
    for person, items in by_person.values():
        with translation.override(person.language or settings.LANGUAGE_CODE):
            if len(items) == 1:
                text = _("Overdue follow-up: %(customer)s was due %(due)s") % {
                    "customer": items[0].customer,
                    "due": _when(items[0].due_at),
                }
                url = followup_url(items[0].pk)
            else:
                text = _("%(count)d follow-ups are past their deadline") % {"count": len(items)}
                url = reverse("followups:queue") + "?scope=team&overdue=1"
        notification_send(user=person, text=text, url=url, email=True)

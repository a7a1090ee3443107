"""Reading close the loop: the follow-up queues (scoped to what each person may see), one
follow-up with its answers and history, the rules and root causes, and the loop metrics.

Who sees which follow-ups: everyone their own ("mine"); a team's lead the team's ("team");
CX leads and admins (``metrics.view_all_followups``) every one ("all").

The loop metrics read the follow-up rows themselves, not a rollup: there is one follow-up per
unhappy answer, a small fraction of all responses, and each figure is one indexed query over the
period (``metrics_fu_opened``). Formulas are in ``metrics.formulas`` and docs/metrics.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cxm.accounts.models import Team, User
from journeys.models import Customer
from metrics import formulas
from metrics.filters import Filters
from metrics.models import FollowUp, FollowUpEvent, FollowUpRule, Priority, RootCause
from surveys.answers import AnswerValue
from surveys.models import Answer, Question, Response
from surveys.scoring import visible_questions
from surveys.selectors import answer_display

PAGE = 50
SCOPES = {
    "mine": gettext_lazy("Mine"),
    "team": gettext_lazy("My teams"),
    "all": gettext_lazy("All"),
}
STATUSES = {
    "open": gettext_lazy("Open"),
    "new": gettext_lazy("New"),
    "contacted": gettext_lazy("Contacted"),
    "closed": gettext_lazy("Closed"),
    "resolved": gettext_lazy("Resolved"),
    "unreachable": gettext_lazy("Unreachable"),
    "any": gettext_lazy("Any"),
}
STATUS_FILTER: dict[str, Q] = {
    "open": Q(status__in=FollowUp.OPEN),
    "new": Q(status=FollowUp.Status.NEW),
    "contacted": Q(status=FollowUp.Status.CONTACTED),
    "closed": Q(status__in=FollowUp.CLOSED),
    "resolved": Q(status=FollowUp.Status.RESOLVED),
    "unreachable": Q(status=FollowUp.Status.UNREACHABLE),
    "any": Q(),
}


# ------------------------------------------------------------------------------------------------
# Who sees what
# ------------------------------------------------------------------------------------------------
def led_team_ids(*, user: Any) -> list[int]:
    return list(Team.objects.filter(lead=user).values_list("id", flat=True))


def scopes_for(*, user: Any) -> list[str]:
    """The queues this person may open, narrowest first."""
    if user.has_perm("metrics.view_all_followups"):
        return ["mine", "team", "all"]
    if Team.objects.filter(lead=user).exists():
        return ["mine", "team"]
    return ["mine"]


def default_scope(*, user: Any) -> str:
    return scopes_for(user=user)[-1]


def _team_ids_for(user: Any) -> list[int]:
    """The teams of the "team" queue: those the person leads, and for CX leads and admins also
    those they belong to."""
    ids = set(led_team_ids(user=user))
    if user.has_perm("metrics.view_all_followups"):
        ids |= set(user.teams.values_list("id", flat=True))
    return sorted(ids)


def visible_followups(*, user: Any) -> QuerySet[FollowUp]:
    qs = FollowUp.objects.all()
    if user.has_perm("metrics.view_all_followups"):
        return qs
    teams = led_team_ids(user=user)
    return qs.filter(Q(owner=user) | Q(team_id__in=teams)) if teams else qs.filter(owner=user)


def workers_of(users: Any) -> Any:
    """Those of ``users`` allowed to work follow-ups (through a role, or directly)."""
    allowed = (
        Q(is_superuser=True)
        | Q(
            groups__permissions__codename="change_followup",
            groups__permissions__content_type__app_label="metrics",
        )
        | Q(
            user_permissions__codename="change_followup",
            user_permissions__content_type__app_label="metrics",
        )
    )
    return users.filter(allowed).distinct()


def followup_get_for_user(*, user: Any, followup_id: int) -> FollowUp | None:
    return (
        visible_followups(user=user)
        .select_related(
            "customer",
            "survey",
            "touchpoint",
            "conversation",
            "owner",
            "team",
            "rule",
            "root_cause__parent",
            "response",
        )
        .filter(pk=followup_id)
        .first()
    )


def _oversees(user: Any, followup: FollowUp) -> bool:
    """Someone who sees every follow-up, or a lead of its team."""
    return user.has_perm("metrics.view_all_followups") or (
        followup.team_id is not None and followup.team_id in led_team_ids(user=user)
    )


def can_work(*, user: Any, followup: FollowUp) -> bool:
    """Move it through its workflow: its owner, its team's lead, or someone who sees them all."""
    return user.has_perm("metrics.change_followup") and (
        followup.owner_id == user.pk or _oversees(user, followup)
    )


def can_reassign(*, user: Any, followup: FollowUp) -> bool:
    """Give it to someone else: a lead of its team, or someone who sees them all."""
    return user.has_perm("metrics.change_followup") and _oversees(user, followup)


# ------------------------------------------------------------------------------------------------
# The queue
# ------------------------------------------------------------------------------------------------
@dataclass
class QueuePage:
    followups: list[FollowUp]
    next_after: str | None
    scope: str
    status: str
    overdue: bool
    now: dt.datetime


def followup_queue(
    *,
    user: Any,
    scope: str,
    status: str = "open",
    overdue: bool = False,
    after: str = "",
    size: int = PAGE,
) -> QueuePage:
    """One page of a queue, soonest deadline first (so overdue follow-ups, the SLA breaches,
    come first among the open ones); keyset on (due_at, id)."""
    allowed = scopes_for(user=user)
    scope = scope if scope in allowed else allowed[-1]
    status = status if status in STATUS_FILTER else "open"
    now = timezone.now()
    qs = FollowUp.objects.filter(STATUS_FILTER[status])
    if scope == "mine":
        qs = qs.filter(owner=user)
    elif scope == "team":
        qs = qs.filter(team_id__in=_team_ids_for(user))
    if overdue:
        qs = qs.filter(status__in=FollowUp.OPEN, due_at__lt=now)
    if after:
        stamp, _sep, last_id = after.partition("|")
        moment = parse_datetime(stamp)
        if moment is not None and last_id.isdigit():
            qs = qs.filter(Q(due_at__gt=moment) | Q(due_at=moment, id__gt=int(last_id)))
    rows = list(
        qs.select_related("customer", "survey", "owner", "team", "root_cause")
        .only(
            "id",
            "status",
            "priority",
            "score",
            "band",
            "channel",
            "opened_at",
            "due_at",
            "closed_at",
            "escalated_at",
            "first_contacted_at",
            "customer__id",
            "customer__name",
            "customer__email",
            "customer__phone",
            "customer__external_id",
            "customer__value",
            "survey__id",
            "survey__name",
            "survey__kind",
            "owner__id",
            "owner__name",
            "team__id",
            "team__name",
            "root_cause__id",
            "root_cause__name",
        )
        .order_by("due_at", "id")[: size + 1]
    )
    next_after = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_after = f"{last.due_at.isoformat()}|{last.pk}"
    return QueuePage(rows, next_after, scope, status, overdue, now)


# ------------------------------------------------------------------------------------------------
# One follow-up
# ------------------------------------------------------------------------------------------------
@dataclass
class AnswerRow:
    question: str
    answer: str
    given: bool
    asked: bool = True


def shown_question_ids(questions: list[Question], answers: Iterable[Answer]) -> set[int]:
    """The questions the respondent saw, given their answers (the display conditions)."""
    by_id = {q.pk: q for q in questions}
    given = {
        by_id[a.question_id].key: AnswerValue(
            number=a.number, choices=a.choices, text=a.text
        ).comparable(by_id[a.question_id])
        for a in answers
        if a.question_id in by_id
    }
    return {q.pk for q in visible_questions(questions, given)}


def followup_answers(*, followup: FollowUp, language: str) -> list[AnswerRow]:
    """Every question of the survey with the customer's answer (or none)."""
    survey = followup.survey
    questions = list(Question.objects.filter(survey=survey).order_by("position", "id"))
    answers = {a.question_id: a for a in Answer.objects.filter(response_id=followup.response_id)}
    asked = shown_question_ids(questions, answers.values())
    rows = []
    for question in questions:
        question.survey = survey
        answer = answers.get(question.pk)
        shown = answer_display(question, answer, language) if answer is not None else ""
        rows.append(
            AnswerRow(
                question=question.text("text", language, survey.default_language) or question.key,
                answer=shown,
                given=bool(shown),
                asked=question.pk in asked,
            )
        )
    return rows


def followup_history(*, followup: FollowUp) -> list[FollowUpEvent]:
    return list(followup.events.select_related("actor").order_by("at", "id"))


def owner_choices(*, followup: FollowUp) -> list[User]:
    """Who the follow-up can be given to: its team's members first, then everyone allowed."""
    people = list(workers_of(User.objects.filter(is_active=True)).order_by("name"))
    if followup.team_id:
        members = set(User.objects.filter(teams=followup.team_id).values_list("id", flat=True))
        people.sort(key=lambda u: (u.pk not in members, u.name))
    return people


# ------------------------------------------------------------------------------------------------
# Rules and root causes
# ------------------------------------------------------------------------------------------------
def rule_list() -> list[FollowUpRule]:
    return list(
        FollowUpRule.objects.select_related(
            "survey", "question", "touchpoint__owner_team", "owner_team", "owner_user"
        ).order_by("position", "id")
    )


@dataclass
class CauseGroup:
    category: RootCause
    causes: list[RootCause] = field(default_factory=list)


def root_cause_tree(*, active_only: bool = False) -> list[CauseGroup]:
    """Categories by name, each with its causes."""
    children = RootCause.objects.order_by("name", "id")
    categories = RootCause.objects.filter(parent__isnull=True).order_by("name", "id")
    if active_only:
        children = children.filter(is_active=True)
        categories = categories.filter(is_active=True)
    return [
        CauseGroup(category, list(category.children.all()))
        for category in categories.prefetch_related(Prefetch("children", queryset=children))
    ]


def root_cause_get(pk: int) -> RootCause | None:
    """A root cause with its category (``followup_resolve`` checks both are in use)."""
    return RootCause.objects.select_related("parent").filter(pk=pk).first()


def root_cause_choices() -> list[Any]:
    """For a select with optgroups: a category that has causes is chosen through them (an
    optgroup); one without causes is a choice of its own."""
    groups: list[Any] = []
    loose: list[Any] = []
    for group in root_cause_tree(active_only=True):
        if group.causes:
            groups.append((group.category.name, [(c.pk, c.name) for c in group.causes]))
        else:
            loose.append((group.category.pk, group.category.name))
    return loose + groups


# ------------------------------------------------------------------------------------------------
# Loop metrics
# ------------------------------------------------------------------------------------------------
DEFINITIONS = {
    "closed_loop": (
        gettext_lazy("Closed-loop rate"),
        gettext_lazy(
            "Follow-ups closed (resolved or unreachable) by their deadline ÷ follow-ups opened "
            "in the period."
        ),
    ),
    "first_contact": (
        gettext_lazy("Time to first contact"),
        gettext_lazy(
            "Median (and mean) of first reply or call to the customer − follow-up opened, for "
            "the follow-ups opened in the period."
        ),
    ),
    "resolution": (
        gettext_lazy("Time to resolution"),
        gettext_lazy(
            "Median (and mean) of resolved − opened, for the follow-ups opened in the period "
            "and resolved."
        ),
    ),
    "recovery": (
        gettext_lazy("Recovery rate"),
        gettext_lazy(
            "NPS detractors followed up whose customer later answered 7 or more on an NPS "
            "survey ÷ NPS detractors followed up in the period."
        ),
    ),
    "revenue": (
        gettext_lazy("Revenue at risk"),
        gettext_lazy(
            "The value of the customers with an open follow-up of an unhappy answer, now "
            "(each customer once; the period does not apply)."
        ),
    ),
    "open": (
        gettext_lazy("Open now"),
        gettext_lazy("Follow-ups new or contacted now; overdue ones are SLA breaches."),
    ),
}


@dataclass
class LoopMetrics:
    filters: Filters
    opened: int
    closed_in_time: int
    closed_loop: formulas.Score
    first_contact: formulas.Duration
    resolution: formulas.Duration
    recovery: formulas.Score
    recovered: int
    root_causes: list[formulas.Share]
    resolved: int
    revenue_at_risk: Decimal
    customers_at_risk: int
    open_now: int
    overdue_now: int
    escalated: int

    @property
    def cards(self) -> list[Card]:
        return loop_cards(self)

    @property
    def period_label(self) -> str:
        from django.utils.formats import date_format

        from metrics.filters import PERIODS

        if self.filters.period in PERIODS:
            return str(PERIODS[self.filters.period][1])
        return f"{date_format(self.filters.start)} – {date_format(self.filters.end)}"

    def chart_data(self) -> dict[str, Any]:
        """The root-cause breakdown as the dashboards' charts take it (static/js/metrics.js):
        the same rows the table shows."""
        return {
            "type": "bar",
            "labels": [row.label for row in self.root_causes],
            "datasets": [
                {
                    "label": str(gettext_lazy("Follow-ups")),
                    "data": [row.count for row in self.root_causes],
                    "unit": "",
                    "n": None,
                }
            ],
            "table_open": False,  # the chart drew: the table stays one click away
        }


def _dimensions_q(f: Filters) -> Q:
    """The dashboards' filters that apply to a follow-up (all but the period)."""
    q = Q()
    if f.survey is not None:
        q &= Q(survey_id=f.survey)
    if f.touchpoints is not None:
        q &= Q(touchpoint_id__in=f.touchpoints)
    if f.channel:
        q &= Q(channel=f.channel)
    if f.team is not None:
        q &= Q(team_id=f.team)
    if f.agent is not None:
        q &= Q(owner_id=f.agent)
    if f.language:
        q &= Q(response__language=f.language)
    if f.attribute:
        q &= Q(**{f"customer__attributes__{f.attribute}": f.value})
    return q


def _period_q(f: Filters) -> Q:
    start = timezone.make_aware(dt.datetime.combine(f.start, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(f.end + dt.timedelta(days=1), dt.time.min))
    return Q(opened_at__gte=start, opened_at__lt=end)


def _cause_label(name: str | None, parent: str | None) -> str:
    if name is None:
        return str(gettext_lazy("No root cause"))
    return f"{parent} › {name}" if parent else name


def loop_metrics(f: Filters) -> LoopMetrics:
    """Every close-the-loop figure for the dashboards' filters (agents: their own)."""
    dims = _dimensions_q(f)
    period = FollowUp.objects.filter(dims, _period_q(f))
    counts = period.aggregate(
        opened=Count("id"),
        closed_in_time=Count(
            "id", filter=Q(status__in=FollowUp.CLOSED, closed_at__lte=F("due_at"))
        ),
        escalated=Count("id", filter=Q(escalated_at__isnull=False)),
    )
    times = list(
        period.filter(Q(first_contacted_at__isnull=False) | Q(status=FollowUp.Status.RESOLVED))
        .values_list("opened_at", "first_contacted_at", "closed_at", "status")
        .iterator(chunk_size=5000)
    )
    first_contact = formulas.elapsed((opened, contacted) for opened, contacted, _c, _s in times)
    resolution = formulas.elapsed(
        (opened, closed) for opened, _f, closed, status in times if status == "resolved"
    )
    later_promoter = Response.objects.filter(
        customer_id=OuterRef("customer_id"),
        survey__kind="nps",
        completed_at__gt=OuterRef("response__completed_at"),
        score__gte=7,
    )
    detractors = period.filter(survey__kind="nps", band="negative").aggregate(
        followed=Count("id"),
        recovered=Count("id", filter=Q(Exists(later_promoter))),
    )
    causes = {
        _cause_label(row["root_cause__name"], row["root_cause__parent__name"]): row["n"]
        for row in period.filter(status=FollowUp.Status.RESOLVED)
        .values("root_cause__name", "root_cause__parent__name")
        .annotate(n=Count("id"))
    }
    now = timezone.now()
    open_rows = FollowUp.objects.filter(dims, status__in=FollowUp.OPEN)
    open_counts = open_rows.aggregate(
        open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now))
    )
    values = list(
        Customer.objects.filter(
            pk__in=open_rows.filter(band="negative").values("customer_id")
        ).values_list("value", flat=True)
    )
    return LoopMetrics(
        filters=f,
        opened=counts["opened"],
        closed_in_time=counts["closed_in_time"],
        closed_loop=formulas.closed_loop_rate(
            closed_in_time=counts["closed_in_time"], opened=counts["opened"]
        ),
        first_contact=formulas.duration(first_contact),
        resolution=formulas.duration(resolution),
        recovery=formulas.recovery_rate(
            recovered=detractors["recovered"], followed_up=detractors["followed"]
        ),
        recovered=detractors["recovered"],
        root_causes=formulas.shares(causes),
        resolved=sum(causes.values()),
        revenue_at_risk=formulas.revenue_at_risk(values),
        customers_at_risk=len(values),
        open_now=open_counts["open"],
        overdue_now=open_counts["overdue"],
        escalated=counts["escalated"],
    )


# ------------------------------------------------------------------------------------------------
# In words (the pages)
# ------------------------------------------------------------------------------------------------
def _number(value: float, digits: int = 0) -> str:
    from django.utils.formats import number_format

    return number_format(
        round(value, digits), decimal_pos=digits, use_l10n=True, force_grouping=True
    )


def duration_text(seconds: float | None) -> str:
    """“45 min”, “5.5 h”, “3.2 days”; “—” when there is nothing to show."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return _("< 1 min")
    if seconds < 3600:
        return _("%(n)s min") % {"n": _number(max(seconds, 0) / 60)}
    if seconds < 48 * 3600:
        return _("%(n)s h") % {"n": _number(seconds / 3600, 1)}
    return _("%(n)s days") % {"n": _number(seconds / 86400, 1)}


def percent_text(value: float | None) -> str:
    return "—" if value is None else f"{_number(value)}\u00a0%"


@dataclass
class Card:
    key: str
    value: str
    detail: str
    tone: str = ""  # "", "good", "bad"

    @property
    def label(self) -> str:
        return str(DEFINITIONS[self.key][0])

    @property
    def help(self) -> str:
        return str(DEFINITIONS[self.key][1])


def loop_cards(loop: LoopMetrics) -> list[Card]:
    fc, res = loop.first_contact, loop.resolution
    contacted = (
        ngettext(
            "median · mean %(mean)s · %(n)s follow-up contacted",
            "median · mean %(mean)s · %(n)s follow-ups contacted",
            fc.n,
        )
        % {"mean": duration_text(fc.mean), "n": _number(fc.n)}
        if fc.n
        else _("nobody contacted yet")
    )
    resolved = (
        ngettext(
            "median · mean %(mean)s · %(n)s follow-up resolved",
            "median · mean %(mean)s · %(n)s follow-ups resolved",
            res.n,
        )
        % {"mean": duration_text(res.mean), "n": _number(res.n)}
        if res.n
        else _("none resolved yet")
    )
    return [
        Card(
            "closed_loop",
            percent_text(loop.closed_loop.value),
            ngettext(
                "%(done)s of %(opened)s follow-up closed by its deadline",
                "%(done)s of %(opened)s follow-ups closed by their deadline",
                loop.opened,
            )
            % {"done": _number(loop.closed_in_time), "opened": _number(loop.opened)},
        ),
        Card("first_contact", duration_text(fc.median), contacted),
        Card("resolution", duration_text(res.median), resolved),
        Card(
            "recovery",
            percent_text(loop.recovery.value),
            ngettext(
                "%(recovered)s of %(n)s NPS detractor answered 7 or more later",
                "%(recovered)s of %(n)s NPS detractors answered 7 or more later",
                loop.recovery.n,
            )
            % {"recovered": _number(loop.recovered), "n": _number(loop.recovery.n)},
        ),
        Card(
            "revenue",
            _number(float(loop.revenue_at_risk), 0),
            ngettext(
                "%(n)s customer with an open follow-up",
                "%(n)s customers with an open follow-up",
                loop.customers_at_risk,
            )
            % {"n": _number(loop.customers_at_risk)},
            "bad" if loop.revenue_at_risk else "",
        ),
        Card(
            "open",
            _number(loop.open_now),
            ngettext("%(n)s overdue (SLA breach)", "%(n)s overdue (SLA breach)", loop.overdue_now)
            % {"n": _number(loop.overdue_now)},
            "bad" if loop.overdue_now else "",
        ),
    ]


def describe_rule(rule: FollowUpRule) -> tuple[list[str], str]:
    """The rule's conditions and its action, in words."""
    when: list[str] = []
    if rule.survey_id and rule.survey:
        when.append(_("survey “%(name)s”") % {"name": rule.survey.name})
    if rule.score_min is not None or rule.score_max is not None:
        subject = rule.question.key if rule.question_id and rule.question else _("score")
        if rule.score_min is not None and rule.score_max is not None:
            when.append(
                _("%(subject)s between %(low)s and %(high)s")
                % {"subject": subject, "low": rule.score_min, "high": rule.score_max}
            )
        elif rule.score_max is not None:
            when.append(_("%(subject)s ≤ %(n)s") % {"subject": subject, "n": rule.score_max})
        else:
            when.append(_("%(subject)s ≥ %(n)s") % {"subject": subject, "n": rule.score_min})
    if rule.band:
        when.append(str(FollowUpRule.Band(rule.band).label).lower())
    if rule.touchpoint_id and rule.touchpoint:
        when.append(_("touchpoint “%(name)s”") % {"name": rule.touchpoint.name})
    if rule.min_customer_value is not None:
        when.append(
            _("customer value ≥ %(value)s") % {"value": _number(float(rule.min_customer_value))}
        )
    for key, value in (rule.customer_attributes or {}).items():
        when.append(f"{key} = {value}")
    if rule.keywords:
        when.append(_("words: %(words)s") % {"words": ", ".join(rule.keywords)})
    if rule.action == FollowUpRule.Action.REVIEW:
        return when, _("ask for a review (%(link)s)") % {"link": rule.review_link}
    if rule.owner_kind == FollowUpRule.Owner.PERSON and rule.owner_user:
        owner = rule.owner_user.name
    elif rule.owner_kind == FollowUpRule.Owner.TEAM and rule.owner_team:
        owner = _("%(team)s, round robin") % {"team": rule.owner_team.name}
    else:
        owner = _("the touchpoint's team, round robin")
    return when, _("follow-up by %(owner)s · %(priority)s · due in %(hours)s h") % {
        "owner": owner,
        "priority": str(Priority(rule.priority).label).lower(),
        "hours": rule.due_hours,
    }

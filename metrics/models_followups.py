"""Close the loop: the rules CX leads write, the follow-ups they open, their history, and the
root-cause taxonomy follow-ups are closed with (imported at the bottom of ``metrics.models``).

A follow-up is one person's job: call or write back one customer about one survey response,
before a deadline, in an inbox conversation on the customer's own channel. ``metrics.followup_
services`` holds every write; docs/architecture.md (close the loop) tells the whole flow.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce, Lower
from django.utils.translation import gettext_lazy as _


class Priority(models.IntegerChoices):
    """The inbox's priorities: a follow-up's conversation takes the same one."""

    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


class RootCause(models.Model):
    """Why the customer was unhappy: a category (no parent) or a cause inside one. CX leads keep
    the list; a cause in use is deactivated, never deleted, so closed follow-ups keep it."""

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("category"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("root cause")
        verbose_name_plural = _("root causes")
        ordering = ("name", "id")
        constraints = [
            # Coalesce: two top-level categories of the same name collide too (NULL ≠ NULL).
            models.UniqueConstraint(
                Lower("name"),
                Coalesce("parent", Value(0)),
                name="metrics_rootcause_name_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.parent.name} › {self.name}" if self.parent_id and self.parent else self.name


class FollowUpRule(models.Model):
    """When a completed response matches every condition set here, act. Rules are tried in
    ``position`` order and the first that matches wins; an empty condition matches anything,
    but a rule needs at least one."""

    class Action(models.TextChoices):
        FOLLOW_UP = "followup", _("Open a follow-up")
        REVIEW = "review", _("Ask for a review")

    class Owner(models.TextChoices):
        TOUCHPOINT_TEAM = "touchpoint", _("The touchpoint's owner team (round robin)")
        TEAM = "team", _("A team (round robin)")
        PERSON = "person", _("A person")

    class Band(models.TextChoices):
        NONE = "", _("Any")
        NEGATIVE = "negative", _("Detractor / dissatisfied / high effort")
        NEUTRAL = "neutral", _("Passive / neutral")
        POSITIVE = "positive", _("Promoter / satisfied / low effort")

    name = models.CharField(_("name"), max_length=120)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(_("enabled"), default=True)
    # Conditions (all must hold) ------------------------------------------------------------------
    survey = models.ForeignKey(
        "surveys.Survey",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("survey"),
    )
    # The scored question the score range applies to; empty: the survey's main score.
    question = models.ForeignKey(
        "surveys.Question",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("question"),
    )
    score_min = models.SmallIntegerField(null=True, blank=True)
    score_max = models.SmallIntegerField(null=True, blank=True)
    band = models.CharField(_("answer"), max_length=8, choices=Band.choices, blank=True)
    touchpoint = models.ForeignKey(
        "journeys.Touchpoint",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("touchpoint"),
    )
    min_customer_value = models.DecimalField(
        _("customer value at least"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    customer_attributes = models.JSONField(default=dict, blank=True)  # {key: value}, all must hold
    keywords = models.JSONField(default=list, blank=True)  # any of them, in a text answer
    # Action ---------------------------------------------------------------------------------------
    action = models.CharField(
        _("action"), max_length=10, choices=Action.choices, default=Action.FOLLOW_UP
    )
    owner_kind = models.CharField(
        _("owner"), max_length=10, choices=Owner.choices, default=Owner.TOUCHPOINT_TEAM
    )
    owner_team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("team"),
    )
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("person"),
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.HIGH
    )
    due_hours = models.PositiveIntegerField(_("deadline (hours)"), default=24)
    review_link = models.URLField(_("review link"), max_length=500, blank=True)
    review_message = models.TextField(_("review message"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("follow-up rule")
        verbose_name_plural = _("follow-up rules")
        ordering = ("position", "id")

    def __str__(self) -> str:
        return self.name


class FollowUp(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        CONTACTED = "contacted", _("Contacted")
        RESOLVED = "resolved", _("Resolved")
        UNREACHABLE = "unreachable", _("Unreachable")

    OPEN = (Status.NEW, Status.CONTACTED)
    CLOSED = (Status.RESOLVED, Status.UNREACHABLE)

    # One follow-up per response, whatever reruns or races happen.
    response = models.OneToOneField(
        "surveys.Response", on_delete=models.CASCADE, related_name="followup"
    )
    rule = models.ForeignKey(
        FollowUpRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="followups"
    )
    customer = models.ForeignKey(
        "journeys.Customer", on_delete=models.CASCADE, related_name="followups"
    )
    # Copied from the response for the queue and the dashboards' filters.
    survey = models.ForeignKey("surveys.Survey", on_delete=models.CASCADE, related_name="+")
    touchpoint = models.ForeignKey(
        "journeys.Touchpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=10)  # the response's
    score = models.SmallIntegerField(null=True, blank=True)
    band = models.CharField(max_length=8, blank=True)
    # Where the owner answers the customer: created or reused on the customer's channel.
    conversation = models.ForeignKey(
        "inbox.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="followups"
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.HIGH)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW)
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField()
    first_contacted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    root_cause = models.ForeignKey(
        RootCause,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="followups",
        verbose_name=_("root cause"),
    )
    outcome = models.TextField(_("outcome"), blank=True)
    recovered = models.BooleanField(_("customer recovered"), default=False)
    reopened = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ("due_at", "id")
        permissions = [("view_all_followups", "Can see and work every team's follow-ups")]
        indexes = [
            # The queues: open follow-ups by deadline, per owner, per team, and all of them.
            models.Index(
                fields=["owner", "due_at", "id"],
                name="metrics_fu_owner_due",
                condition=Q(status__in=["new", "contacted"]),
            ),
            models.Index(
                fields=["team", "due_at", "id"],
                name="metrics_fu_team_due",
                condition=Q(status__in=["new", "contacted"]),
            ),
            models.Index(
                fields=["due_at", "id"],
                name="metrics_fu_open_due",
                condition=Q(status__in=["new", "contacted"]),
            ),
            # The loop metrics read follow-ups by the day they were opened.
            models.Index(fields=["opened_at"], name="metrics_fu_opened"),
            # A reply in a conversation: is it the first contact of a follow-up?
            models.Index(
                fields=["conversation"],
                name="metrics_fu_uncontacted",
                condition=Q(first_contacted_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"follow-up {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class FollowUpEvent(models.Model):
    """The history of a follow-up: who did what, when."""

    class Kind(models.TextChoices):
        OPENED = "opened", _("Opened")
        ASSIGNED = "assigned", _("Assigned")
        CONTACTED = "contacted", _("Contacted")
        RESOLVED = "resolved", _("Resolved")
        UNREACHABLE = "unreachable", _("Unreachable")
        REOPENED = "reopened", _("Reopened")
        ESCALATED = "escalated", _("Escalated")

    followup = models.ForeignKey(FollowUp, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("at", "id")
        indexes = [models.Index(fields=["followup", "at"], name="metrics_fuevent_followup")]

    def __str__(self) -> str:
        return f"{self.followup_id} {self.kind}"


class FollowUpRoundRobin(models.Model):
    """How many follow-ups a team has been given: the next owner is the member at that count,
    modulo the members available. Bumped by one statement outside any transaction, so two
    workers opening follow-ups for the same team never wait for each other's transaction."""

    team = models.OneToOneField(
        "accounts.Team", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    position = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.team_id}: {self.position}"


class FollowUpPending(models.Model):
    """A completed response waiting for the rules to look at it. Written after the response's
    commit, claimed by a drain in batches (``claimed_until``: a drain that died lets go), and
    deleted once its follow-up (or review request, or nothing) is decided."""

    response = models.OneToOneField(
        "surveys.Response", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="metrics_fupending_age")]

    def __str__(self) -> str:
        return f"{self.response_id}"

"""Rollups: counts per day and per slice, so a dashboard reads a few thousand rows instead of
millions of answers and conversations.

Every rollup shares one shape: a ``day``, the dimensions a dashboard filters on, and an
``attribute``/``value`` pair. The pair is empty ("") in the row that counts everybody; each
reporting attribute of the customer (``settings.METRICS_ATTRIBUTES``) adds one more row holding
the customer's value, so "customers on the gold plan" is a filter on the rollup rather than a
join with the customers. Ids are plain integers with 0 for "none", so the grain has no NULL and
one unique key holds on every database.

The grain follows the real cardinalities (see docs/metrics.md): a survey is usually on one
touchpoint; only surveys sent after a conversation carry a team and an agent; a visit-intent
survey splits its rows by reason. ``metrics.services.rollups_refresh`` recomputes the recent
days every minute (and the days of a new response within seconds); ``rebuild_rollups``
recomputes all of them.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

RESPONSE_DIMENSIONS = (
    "survey_id",
    "touchpoint_id",
    "channel",
    "language",
    "team_id",
    "agent_id",
    "reason",
)
INVITATION_DIMENSIONS = ("survey_id", "touchpoint_id", "channel", "language", "team_id", "agent_id")
CONVERSATION_DIMENSIONS = ("channel", "team_id", "agent_id", "language")
CUSTOMER_DIMENSIONS = ("language",)


class Rollup(models.Model):
    day = models.DateField()
    attribute = models.CharField(max_length=50, default="")
    value = models.CharField(max_length=100, default="")

    DIMENSIONS: tuple[str, ...] = ()
    COUNTERS: tuple[str, ...] = ()

    class Meta:
        abstract = True


class ResponseCounts(Rollup):
    """Completed responses, by the day they were completed."""

    survey_id = models.BigIntegerField()
    touchpoint_id = models.BigIntegerField(default=0)
    channel = models.CharField(max_length=10)
    language = models.CharField(max_length=8)
    team_id = models.BigIntegerField(default=0)
    agent_id = models.BigIntegerField(default=0)
    reason = models.CharField(max_length=64, default="")  # the visit-intent choice, if any
    responses = models.PositiveIntegerField(default=0)
    invited = models.PositiveIntegerField(default=0)  # responses to an invitation
    scored = models.PositiveIntegerField(default=0)  # responses with a main score
    positive = models.PositiveIntegerField(default=0)  # promoters / satisfied / low effort
    neutral = models.PositiveIntegerField(default=0)  # passives
    negative = models.PositiveIntegerField(default=0)  # detractors / dissatisfied / high effort
    score_sum = models.BigIntegerField(default=0)  # for means (effort: turned so high is good)
    fulfilment_answered = models.PositiveIntegerField(default=0)  # "did you get what you came for"
    fulfilled = models.PositiveIntegerField(default=0)  # … answered yes

    DIMENSIONS: tuple[str, ...] = RESPONSE_DIMENSIONS
    COUNTERS = (
        "responses",
        "invited",
        "scored",
        "positive",
        "neutral",
        "negative",
        "score_sum",
        "fulfilment_answered",
        "fulfilled",
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.day} {self.survey_id}"


class ResponseDaily(ResponseCounts):
    class Meta:
        verbose_name = _("daily response counts")
        verbose_name_plural = _("daily response counts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "attribute", "value", *RESPONSE_DIMENSIONS],
                name="metrics_response_grain",
            )
        ]
        indexes = [
            models.Index(fields=["attribute", "value", "day"], name="metrics_resp_slice"),
            # An agent always sees their own figures: their dashboards read one agent's rows.
            models.Index(
                fields=["attribute", "value", "agent_id", "day"], name="metrics_resp_agent"
            ),
        ]


class InvitationCounts(Rollup):
    """Invitations that reached the customer (sent and not failed or bounced), by the day they
    were sent: the denominator of the response rate."""

    survey_id = models.BigIntegerField()
    touchpoint_id = models.BigIntegerField(default=0)
    channel = models.CharField(max_length=10)
    language = models.CharField(max_length=8)
    team_id = models.BigIntegerField(default=0)
    agent_id = models.BigIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)

    DIMENSIONS: tuple[str, ...] = INVITATION_DIMENSIONS
    COUNTERS = ("delivered",)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.day} {self.survey_id}"


class InvitationDaily(InvitationCounts):
    class Meta:
        verbose_name = _("daily invitation counts")
        verbose_name_plural = _("daily invitation counts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "attribute", "value", *INVITATION_DIMENSIONS],
                name="metrics_invitation_grain",
            )
        ]
        indexes = [
            models.Index(fields=["attribute", "value", "day"], name="metrics_inv_slice"),
            # An agent always sees their own figures: their dashboards read one agent's rows.
            models.Index(
                fields=["attribute", "value", "agent_id", "day"], name="metrics_inv_agent"
            ),
        ]


class ConversationCounts(Rollup):
    """Conversations: opened by the day they were opened, first responses by the day of the
    reply, resolutions by the day they were resolved. Durations are in seconds; ``*_hist`` count
    them in the buckets of ``metrics.formulas.BUCKETS`` (for the median)."""

    channel = models.CharField(max_length=16)
    team_id = models.BigIntegerField(default=0)
    agent_id = models.BigIntegerField(default=0)
    language = models.CharField(max_length=8)  # the customer's
    opened = models.PositiveIntegerField(default=0)
    first_responses = models.PositiveIntegerField(default=0)
    frt_sum = models.BigIntegerField(default=0)
    frt_hist = models.JSONField(default=list)
    resolved = models.PositiveIntegerField(default=0)
    handling_sum = models.BigIntegerField(default=0)
    handling_hist = models.JSONField(default=list)

    DIMENSIONS: tuple[str, ...] = CONVERSATION_DIMENSIONS
    COUNTERS = ("opened", "first_responses", "frt_sum", "resolved", "handling_sum")
    HISTOGRAMS = ("frt_hist", "handling_hist")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.day} {self.channel}"


class ConversationDaily(ConversationCounts):
    class Meta:
        verbose_name = _("daily conversation counts")
        verbose_name_plural = _("daily conversation counts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "attribute", "value", *CONVERSATION_DIMENSIONS],
                name="metrics_conversation_grain",
            )
        ]
        indexes = [
            models.Index(fields=["attribute", "value", "day"], name="metrics_conv_slice"),
            # An agent always sees their own figures: their dashboards read one agent's rows.
            models.Index(
                fields=["attribute", "value", "agent_id", "day"], name="metrics_conv_agent"
            ),
        ]


class Cube(Rollup):
    """Rollup rows summed again over fewer dimensions, per day and per calendar month.

    The daily rollups keep every dimension, so a day holds nearly as many rows as it had
    responses or conversations (docs/metrics.md, "Rollup grain"): fine for a week or for one
    agent, slow for a year. A cube drops the dimensions a reading does not filter or group on:
    ``s`` (surveys) keeps the survey only, for the readings that filter on nothing else (the
    default overview, trend lines over a year by day), ``t`` the surveys per touchpoint (a
    journey, a stage, the journey map), ``c`` (coarse) what the channel and language dashboards
    add, ``p`` (people) what the team and agent views use, ``q`` the conversations of a channel's
    teams and agents, ``l`` the customers per language. Each cube has a row per day (``span``
    "d") and per calendar month (``span`` "m", ``day`` its first day). A dropped dimension holds 0
    or "" in every row of the cube. ``metrics.reads`` reads the smallest cube that has every
    dimension it needs, the month rows for the whole months of the period and the day rows for
    its ends."""

    DAY = "d"
    MONTH = "m"

    cube = models.CharField(max_length=1)
    span = models.CharField(max_length=1)

    CUBES: dict[str, tuple[str, ...]] = {}

    class Meta:
        abstract = True


class ResponseCube(Cube, ResponseCounts):
    CUBES = {  # smallest first: the selectors read the first that has what they need
        "s": ("survey_id",),
        "t": ("survey_id", "touchpoint_id"),
        "c": ("survey_id", "touchpoint_id", "channel", "language", "reason"),
        "p": ("survey_id", "channel", "team_id", "agent_id"),
    }
    DIMENSIONS = ("cube", "span", *RESPONSE_DIMENSIONS)

    class Meta:
        verbose_name = _("response counts by cube")
        verbose_name_plural = _("response counts by cube")
        constraints = [
            models.UniqueConstraint(
                fields=["cube", "span", "day", "attribute", "value", *RESPONSE_DIMENSIONS],
                name="metrics_response_cube_grain",
            )
        ]
        indexes = [
            models.Index(
                fields=["cube", "span", "attribute", "value", "day"], name="metrics_respcube_slice"
            ),
            models.Index(
                fields=["cube", "span", "attribute", "value", "agent_id", "day"],
                name="metrics_respcube_agent",
            ),
            models.Index(
                fields=["cube", "span", "attribute", "value", "team_id", "day"],
                name="metrics_respcube_team",
            ),
        ]


class InvitationCube(Cube, InvitationCounts):
    CUBES = {  # smallest first: the selectors read the first that has what they need
        "s": ("survey_id",),
        "t": ("survey_id", "touchpoint_id"),
        "c": ("survey_id", "touchpoint_id", "channel", "language"),
        "p": ("survey_id", "channel", "team_id", "agent_id"),
    }
    DIMENSIONS = ("cube", "span", *INVITATION_DIMENSIONS)

    class Meta:
        verbose_name = _("invitation counts by cube")
        verbose_name_plural = _("invitation counts by cube")
        constraints = [
            models.UniqueConstraint(
                fields=["cube", "span", "day", "attribute", "value", *INVITATION_DIMENSIONS],
                name="metrics_invitation_cube_grain",
            )
        ]
        indexes = [
            models.Index(
                fields=["cube", "span", "attribute", "value", "day"], name="metrics_invcube_slice"
            ),
            models.Index(
                fields=["cube", "span", "attribute", "value", "agent_id", "day"],
                name="metrics_invcube_agent",
            ),
            models.Index(
                fields=["cube", "span", "attribute", "value", "team_id", "day"],
                name="metrics_invcube_team",
            ),
        ]


class ConversationCube(Cube, ConversationCounts):
    CUBES = {  # smallest first
        "c": ("channel", "language"),
        "p": ("team_id", "agent_id"),
        "q": ("channel", "team_id", "agent_id"),  # a channel's teams and agents
    }
    DIMENSIONS = ("cube", "span", *CONVERSATION_DIMENSIONS)

    class Meta:
        verbose_name = _("conversation counts by cube")
        verbose_name_plural = _("conversation counts by cube")
        constraints = [
            models.UniqueConstraint(
                fields=["cube", "span", "day", "attribute", "value", *CONVERSATION_DIMENSIONS],
                name="metrics_conversation_cube_grain",
            )
        ]
        indexes = [
            models.Index(
                fields=["cube", "span", "attribute", "value", "day"], name="metrics_convcube_slice"
            ),
            models.Index(
                fields=["cube", "span", "attribute", "value", "agent_id", "day"],
                name="metrics_convcube_agent",
            ),
            models.Index(
                fields=["cube", "span", "attribute", "value", "team_id", "day"],
                name="metrics_convcube_team",
            ),
        ]


class CustomerCounts(Rollup):
    """Customers gained (became a customer) and lost (churned) per day: customers at any date
    are the running sum, so churn and retention read a few hundred rows."""

    language = models.CharField(max_length=8)
    gained = models.PositiveIntegerField(default=0)
    lost = models.PositiveIntegerField(default=0)

    DIMENSIONS: tuple[str, ...] = CUSTOMER_DIMENSIONS
    COUNTERS = ("gained", "lost")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.day} {self.language}"


class CustomerDaily(CustomerCounts):
    class Meta:
        verbose_name = _("daily customer counts")
        verbose_name_plural = _("daily customer counts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "attribute", "value", *CUSTOMER_DIMENSIONS],
                name="metrics_customer_grain",
            )
        ]
        indexes = [models.Index(fields=["attribute", "value", "day"], name="metrics_cust_slice")]


class CustomerCube(Cube, CustomerCounts):
    """The customers' day rows and their months: the customers at the start of a period are
    the sum of every month before it (a few hundred rows) rather than of every day since the
    first customer (thousands)."""

    CUBES = {"l": ("language",)}
    DIMENSIONS = ("cube", "span", *CUSTOMER_DIMENSIONS)

    class Meta:
        verbose_name = _("customer counts by cube")
        verbose_name_plural = _("customer counts by cube")
        constraints = [
            models.UniqueConstraint(
                fields=["cube", "span", "day", "attribute", "value", *CUSTOMER_DIMENSIONS],
                name="metrics_customer_cube_grain",
            )
        ]
        indexes = [
            models.Index(
                fields=["cube", "span", "attribute", "value", "day"], name="metrics_custcube_slice"
            )
        ]


# Each daily rollup's cube (``metrics.services`` writes them together, ``metrics.reads``
# picks one or the other).
CUBE_OF: dict[type[Rollup], type[Cube]] = {
    ResponseDaily: ResponseCube,
    InvitationDaily: InvitationCube,
    ConversationDaily: ConversationCube,
    CustomerDaily: CustomerCube,
}


class RollupState(models.Model):
    """One row per rollup: when it was last refreshed (shown as "figures as of") and, locked
    with SELECT … FOR UPDATE, the guard that keeps two refreshes from interleaving."""

    name = models.CharField(max_length=32, primary_key=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    customers_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class ReportSubscription(models.Model):
    """A user's weekly or monthly email of a dashboard, with the filters it had when they
    subscribed (the period is always the last week or month before the email)."""

    class Frequency(models.TextChoices):
        WEEKLY = "weekly", _("Weekly")
        MONTHLY = "monthly", _("Monthly")

    class Dashboard(models.TextChoices):
        OVERVIEW = "overview", _("Overview")
        CHANNELS = "channels", _("Channels")
        TOUCHPOINTS = "touchpoints", _("Touchpoints")
        AGENTS = "agents", _("Agents")
        VISITS = "visits", _("Visit intent")

    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    dashboard = models.CharField(_("dashboard"), max_length=16, choices=Dashboard.choices)
    frequency = models.CharField(_("how often"), max_length=8, choices=Frequency.choices)
    query = models.CharField(max_length=1000, blank=True)  # the dashboard's filters
    next_send_at = models.DateTimeField(db_index=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("report subscription")
        verbose_name_plural = _("report subscriptions")
        permissions = [
            ("view_dashboard", _("Can see the dashboards")),
            ("view_all_metrics", _("Can see every team's and agent's figures")),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.dashboard} {self.frequency}"


# Close the loop: follow-up rules, follow-ups and their history (a module of its own).
from metrics.models_followups import (  # noqa: E402, F401
    FollowUp,
    FollowUpEvent,
    FollowUpPending,
    FollowUpRoundRobin,
    FollowUpRule,
    Priority,
    RootCause,
)

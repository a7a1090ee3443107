"""Surveys, their questions, invitations, and the responses customers give.

Texts a customer reads live in ``texts`` JSON per language code (``{"nl": {"text": "…"}}``): the
builder edits one language at a time, shows what is missing, and the respondent page falls back to
the survey's default language. Structure (types, scales, choices) is fixed once a survey has gone
live, so collected answers keep their meaning; text fixes raise ``version``, which each response
records.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

SURVEY_LANGUAGES = settings.LANGUAGES


class SurveyChannel(models.TextChoices):
    """How a response reached us."""

    LINK = "link", _("Link")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    WEB = "web", _("Web")
    API = "api", _("API")


class Band(models.TextChoices):
    """Where a score falls: promoters/satisfied/low effort are ``positive``."""

    POSITIVE = "positive", _("Positive")
    NEUTRAL = "neutral", _("Neutral")
    NEGATIVE = "negative", _("Negative")


class Survey(models.Model):
    class Kind(models.TextChoices):
        NPS = "nps", _("NPS")
        CSAT = "csat", _("CSAT")
        CES = "ces", _("CES")
        VISIT_INTENT = "visit_intent", _("Visit intent")
        BLANK = "blank", _("Blank")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        CLOSED = "closed", _("Closed")

    class Display(models.TextChoices):
        ONE_PER_PAGE = "one", _("One question per screen")
        ALL = "all", _("All questions on one page")

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.BLANK)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    default_language = models.CharField(
        _("default language"), max_length=8, choices=SURVEY_LANGUAGES, default="en"
    )
    languages = models.JSONField(_("languages"), default=list)
    touchpoint = models.ForeignKey(
        "journeys.Touchpoint",
        verbose_name=_("touchpoint"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="surveys",
    )
    display = models.CharField(
        _("display"), max_length=4, choices=Display.choices, default=Display.ONE_PER_PAGE
    )
    # {lang: {"title", "intro", "thank_you", "review_label"}}
    texts = models.JSONField(default=dict)
    # {band: url}: a link on the thank-you page, e.g. inviting promoters to a public review.
    thank_you_links = models.JSONField(default=dict, blank=True)
    accent_color = models.CharField(_("accent colour"), max_length=7, default="#0b5cad")
    logo = models.FileField(_("logo"), upload_to="surveys/logos/", blank=True)
    public_enabled = models.BooleanField(_("public link"), default=False)
    public_token = models.CharField(max_length=32, unique=True)
    one_response_per_browser = models.BooleanField(_("one response per browser"), default=False)
    expires_at = models.DateTimeField(_("closes at"), null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ("-id",)
        permissions = [("export_responses", "Can export survey responses")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_live(self) -> bool:
        """Answers may exist: the structure is fixed."""
        return self.status != self.Status.DRAFT

    def text(self, key: str, language: str) -> str:
        value = (self.texts.get(language) or {}).get(key) or ""
        return value or (self.texts.get(self.default_language) or {}).get(key) or ""


class Question(models.Model):
    class Type(models.TextChoices):
        NPS = "nps", _("NPS (0–10)")
        RATING = "rating", _("Rating scale")
        CES = "ces", _("Effort (agreement scale)")
        SINGLE = "single", _("Single choice")
        MULTIPLE = "multiple", _("Multiple choice")
        SINGLE_OTHER = "single_other", _("Single choice with “other”")
        YES_NO = "yes_no", _("Yes / no")
        SHORT_TEXT = "short_text", _("Short text")
        LONG_TEXT = "long_text", _("Long text")

    class Metric(models.TextChoices):
        """What the question feeds on the dashboards."""

        NONE = "", _("Nothing")
        NPS = "nps", _("NPS")
        CSAT = "csat", _("CSAT")
        CES = "ces", _("CES")
        VISIT_REASON = "visit_reason", _("Visit reason")
        VISIT_FULFILLED = "visit_fulfilled", _("Visit fulfilled")

    class GoodEnd(models.TextChoices):
        HIGH = "high", _("High numbers are good")
        LOW = "low", _("Low numbers are good")

    SCORED = {Type.NPS, Type.RATING, Type.CES}
    CHOICE = {Type.SINGLE, Type.MULTIPLE, Type.SINGLE_OTHER}
    TEXT = {Type.SHORT_TEXT, Type.LONG_TEXT}

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField(default=0)
    key = models.SlugField(_("key"), max_length=40)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    required = models.BooleanField(_("required"), default=False)
    metric = models.CharField(
        _("measures"), max_length=16, choices=Metric.choices, blank=True, default=""
    )
    scale_min = models.SmallIntegerField(null=True, blank=True)
    scale_max = models.SmallIntegerField(null=True, blank=True)
    good_end = models.CharField(
        _("good end"), max_length=4, choices=GoodEnd.choices, default=GoodEnd.HIGH
    )
    # {lang: {"text", "help", "low_label", "high_label", "other_label"}}
    texts = models.JSONField(default=dict)
    # [{"key": "price", "labels": {"en": "Price", "nl": "Prijs"}}]
    choices = models.JSONField(default=list, blank=True)
    # {} or {"question": key, "min": 0, "max": 6} or {"question": key, "values": ["yes"]}
    condition = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ("position", "id")
        constraints = [
            models.UniqueConstraint(fields=["survey", "key"], name="surveys_question_key_unique")
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def is_scored(self) -> bool:
        return self.type in self.SCORED

    @property
    def is_choice(self) -> bool:
        return self.type in self.CHOICE

    @property
    def is_text(self) -> bool:
        return self.type in self.TEXT

    def text(self, key: str, language: str, default_language: str) -> str:
        value = (self.texts.get(language) or {}).get(key) or ""
        return value or (self.texts.get(default_language) or {}).get(key) or ""

    def choice_label(self, choice: dict[str, Any], language: str, default_language: str) -> str:
        labels = choice.get("labels") or {}
        return labels.get(language) or labels.get(default_language) or choice["key"]


class Distribution(models.Model):
    """Sending a survey to an audience on their channels, under the contact rules."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    class Audience(models.TextChoices):
        ALL = "all", _("All customers")
        SEGMENT = "segment", _("A segment")
        LIST = "list", _("An uploaded list")
        API = "api", _("Invitations through the API")

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="distributions")
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    audience = models.CharField(_("audience"), max_length=10, choices=Audience.choices)
    # Customer filters (language, lifecycle, preferred channel, attributes …) for a segment.
    segment = models.JSONField(default=dict, blank=True)
    # The customer ids of an uploaded list, resolved when it was uploaded.
    customer_ids = models.JSONField(default=list, blank=True)
    # In order: the first the customer can be reached on and has not opted out of is used.
    channels = models.JSONField(default=list)
    prefer_customer_channel = models.BooleanField(
        _("the customer's preferred channel first"), default=True
    )
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    window_start = models.TimeField(_("not before (customer's time)"), null=True, blank=True)
    window_end = models.TimeField(_("not after (customer's time)"), null=True, blank=True)
    expires_days = models.PositiveSmallIntegerField(
        _("link expires after (days)"), null=True, blank=True
    )
    reminder_days = models.PositiveSmallIntegerField(
        _("remind after (days)"), null=True, blank=True
    )
    contact_days = models.PositiveSmallIntegerField(
        _("at most one invitation per (days)"), null=True, blank=True
    )
    # SMS/WhatsApp: ask the first question in the message and take the answer from the reply.
    reply_mode = models.BooleanField(_("answer by replying (SMS, WhatsApp)"), default=False)
    # Recurring (e.g. quarterly relational NPS): a new run this many months after the last one.
    repeat_months = models.PositiveSmallIntegerField(
        _("repeat every (months)"), null=True, blank=True
    )
    previous = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_run"
    )
    # {lang: {"subject", "intro", "sms"}}: overrides of the standard texts, with merge fields.
    texts = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    planned_at = models.DateTimeField(null=True, blank=True)  # every invitation row exists
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("distribution")
        verbose_name_plural = _("distributions")
        ordering = ("-id",)

    def __str__(self) -> str:
        return self.name


class TriggerRule(models.Model):
    """When an interaction of this touchpoint (or kind) is recorded, invite after a delay."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="trigger_rules")
    touchpoint = models.ForeignKey(
        "journeys.Touchpoint",
        verbose_name=_("touchpoint"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    kind = models.CharField(_("interaction kind"), max_length=100, blank=True)
    delay_minutes = models.PositiveIntegerField(_("delay (minutes)"), default=60)
    sample_percent = models.PositiveSmallIntegerField(_("sample (%)"), default=100)
    channels = models.JSONField(default=list)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("trigger rule")
        verbose_name_plural = _("trigger rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(sample_percent__gte=1, sample_percent__lte=100),
                name="surveys_trigger_sample_percent",
            ),
            models.CheckConstraint(
                condition=~Q(touchpoint__isnull=True, kind=""), name="surveys_trigger_has_target"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey_id}: {self.touchpoint_id or self.kind}"


class Invitation(models.Model):
    """A personal link to a survey for one customer; the token is the only key to it."""

    class Status(models.TextChoices):
        CREATED = "created", _("Created")
        PLANNED = "planned", _("Planned")
        SKIPPED = "skipped", _("Skipped")
        QUEUED = "queued", _("Queued")
        CANCELLED = "cancelled", _("Cancelled")
        OPENED = "opened", _("Opened")
        RESPONDED = "responded", _("Responded")

    class Skip(models.TextChoices):
        THROTTLED = "throttled", _("Invited recently (contact rule)")
        OPTED_OUT = "opted_out", _("Opted out")
        SUPPRESSED = "suppressed", _("Address suppressed (bounce or complaint)")
        NO_ADDRESS = "no_address", _("No address for the channels")
        DUPLICATE = "duplicate", _("Already invited by this distribution")
        OUTSIDE_WINDOW = "outside_window", _("No send window before the link expires")

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    customer = models.ForeignKey(
        "journeys.Customer", on_delete=models.CASCADE, related_name="survey_invitations"
    )
    token = models.CharField(max_length=32, unique=True)
    channel = models.CharField(max_length=10, choices=SurveyChannel.choices)
    touchpoint = models.ForeignKey(
        "journeys.Touchpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    language = models.CharField(max_length=8, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CREATED)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    distribution = models.ForeignKey(
        Distribution, null=True, blank=True, on_delete=models.CASCADE, related_name="invitations"
    )
    skip_reason = models.CharField(max_length=16, choices=Skip.choices, blank=True)
    address = models.CharField(max_length=254, blank=True)
    send_at = models.DateTimeField(null=True, blank=True)
    # The message that carried the link, and the reminder, as inbox deliveries.
    delivery = models.ForeignKey(
        "inbox.Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reminder = models.ForeignKey(
        "inbox.Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merge = models.JSONField(default=dict, blank=True)  # e.g. {"agent_name": "…"} from the API
    trigger = models.ForeignKey(
        TriggerRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The conversation the survey asks about (sent after a conversation was resolved): its team
    # and agent are credited with the answer.
    conversation = models.ForeignKey(
        "inbox.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="surveys_inv_customer"),
            models.Index(
                fields=["send_at"],
                condition=Q(status="planned"),
                name="surveys_inv_due",
            ),
            models.Index(fields=["distribution", "status"], name="surveys_inv_distribution"),
        ]
        constraints = [
            # Never invited twice by the same distribution.
            models.UniqueConstraint(
                fields=["distribution", "customer"],
                condition=Q(distribution__isnull=False),
                name="surveys_invitation_once_per_distribution",
            )
        ]

    def __str__(self) -> str:
        return f"{self.survey_id}/{self.customer_id}"


class Response(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    # One response per invitation, enforced here; anonymous responses have none.
    invitation = models.OneToOneField(
        Invitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="response"
    )
    customer = models.ForeignKey(
        "journeys.Customer",
        null=True,
        blank=True,
        # Erasing a customer erases their answers too (their right to be forgotten).
        on_delete=models.CASCADE,
        related_name="survey_responses",
    )
    # The key of an anonymous response, kept in the respondent's cookie so reopening resumes it.
    token = models.CharField(max_length=32, unique=True)
    # With "one response per browser", the browser's random id; unique per survey.
    browser_id = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    survey_version = models.PositiveIntegerField()
    language = models.CharField(max_length=8)
    channel = models.CharField(max_length=10, choices=SurveyChannel.choices)
    touchpoint = models.ForeignKey(
        "journeys.Touchpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The survey's main score (its first scored question) and its band, for filters and lists.
    score = models.SmallIntegerField(null=True, blank=True)
    band = models.CharField(max_length=8, choices=Band.choices, blank=True)
    # Who is credited with this answer (the team and agent of the invitation's conversation, as
    # they were when the customer started answering).
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "browser_id"],
                condition=Q(browser_id__isnull=False),
                name="surveys_response_browser_unique",
            )
        ]
        indexes = [
            models.Index(fields=["survey", "-id"], name="surveys_resp_survey"),
            models.Index(fields=["customer", "-id"], name="surveys_resp_customer"),
            # The dashboards' latest comments walk the completed responses newest first.
            models.Index(
                fields=["-completed_at"],
                condition=Q(completed_at__isnull=False),
                name="surveys_resp_completed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey_id}/{self.pk}"

    @property
    def is_complete(self) -> bool:
        return self.completed_at is not None


class Answer(models.Model):
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    number = models.SmallIntegerField(null=True, blank=True)
    choices = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        constraints = [
            models.UniqueConstraint(
                fields=["response", "question"], name="surveys_answer_once_per_question"
            )
        ]

    def __str__(self) -> str:
        return f"{self.response_id}/{self.question_id}"

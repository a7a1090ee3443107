"""Customers (and, from the journeys issue on, journeys, touchpoints and the interaction log)."""

from __future__ import annotations

from django.conf import global_settings, settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce, Concat, Lower
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    """Channels a customer can be reached on (their preferred channel)."""

    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    WEB = "web", _("Web")
    PHONE = "phone", _("Phone")


class TouchpointChannel(models.TextChoices):
    """Where an interaction happens: every channel above plus the ones we cannot send on."""

    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    WEB = "web", _("Web")
    APP = "app", _("App")
    PHONE = "phone", _("Phone")
    STORE = "store", _("Store")
    SOCIAL = "social", _("Social")
    OTHER = "other", _("Other")


# Django marks these names for translation (gettext_noop) and ships them in its catalogues.
CUSTOMER_LANGUAGES = [(code, _(name)) for code, name in global_settings.LANGUAGES]


class Customer(models.Model):
    class Lifecycle(models.TextChoices):
        PROSPECT = "prospect", _("Prospect")
        ACTIVE = "active", _("Customer")
        CHURNED = "churned", _("Churned")

    # NULL (not "") means "none", so customers without one stay outside the unique constraint.
    external_id = models.CharField(_("external id"), max_length=100, null=True, blank=True)  # noqa: DJ001
    name = models.CharField(_("name"), max_length=200, blank=True)
    email = models.EmailField(_("email"), max_length=254, blank=True)
    phone = models.CharField(
        _("phone"), max_length=20, blank=True, help_text=_("E.164, e.g. +31201234567")
    )
    language = models.CharField(_("language"), max_length=8, blank=True, choices=CUSTOMER_LANGUAGES)
    preferred_channel = models.CharField(
        _("preferred channel"), max_length=16, blank=True, choices=Channel.choices
    )
    timezone = models.CharField(_("timezone"), max_length=64, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    became_customer_on = models.DateField(_("became a customer on"), null=True, blank=True)
    churned_on = models.DateField(_("churned on"), null=True, blank=True)
    value = models.DecimalField(
        _("customer value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # One lower-case haystack for the list's search box; PostgreSQL indexes it with trigrams
    # (migration 0002) so "contains" searches stay fast at millions of customers.
    search = models.GeneratedField(
        expression=Lower(
            Concat(
                Coalesce("external_id", models.Value("")),
                models.Value(" "),
                "name",
                models.Value(" "),
                "email",
                models.Value(" "),
                "phone",
                output_field=models.TextField(),
            )
        ),
        output_field=models.TextField(),
        db_persist=True,
    )

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="journeys_customer_external_id_unique",
            ),
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="journeys_customer_email_ci_unique"
            ),
            models.UniqueConstraint(
                fields=["phone"], condition=~Q(phone=""), name="journeys_customer_phone_unique"
            ),
            models.CheckConstraint(
                condition=~Q(external_id__isnull=True, email="", phone=""),
                name="journeys_customer_has_identity",
            ),
        ]
        permissions = [
            ("import_customers", "Can import customers from CSV"),
            ("merge_customers", "Can merge two customer records"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or self.external_id or f"#{self.pk}"

    @property
    def lifecycle(self) -> str:
        if self.churned_on and (
            not self.became_customer_on or self.churned_on >= self.became_customer_on
        ):
            return self.Lifecycle.CHURNED
        if self.became_customer_on:
            return self.Lifecycle.ACTIVE
        return self.Lifecycle.PROSPECT


class CustomerImport(models.Model):
    """One CSV upload, imported row by row in a task; its report is the rows below."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total_bytes = models.BigIntegerField(default=0)
    processed_bytes = models.BigIntegerField(default=0)
    rows_seen = models.IntegerField(default=0)
    rows_created = models.IntegerField(default=0)
    rows_updated = models.IntegerField(default=0)
    rows_unchanged = models.IntegerField(default=0)
    rows_failed = models.IntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the whole file was refused, if it was.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.original_name

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total_bytes:
            return 0
        return min(99, int(self.processed_bytes * 100 / self.total_bytes))

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class CustomerImportError(models.Model):
    customer_import = models.ForeignKey(
        CustomerImport, on_delete=models.CASCADE, related_name="row_errors"
    )
    row_number = models.IntegerField()
    field = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ("row_number", "id")
        indexes = [
            models.Index(fields=["customer_import", "row_number"], name="journeys_imperr_row_idx")
        ]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"


# ------------------------------------------------------------------------------------------------
# Journeys, stages and touchpoints
# ------------------------------------------------------------------------------------------------
class Journey(models.Model):
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)

    class Meta:
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name


class Stage(models.Model):
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(_("name"), max_length=120)
    position = models.PositiveIntegerField(default=0)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ("journey_id", "position", "id")

    def __str__(self) -> str:
        return self.name


touchpoint_key_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]{0,79}$",
    _("Use lower-case letters, digits, dots, dashes and underscores (e.g. order.delivered)."),
)


class Touchpoint(models.Model):
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="touchpoints")
    name = models.CharField(_("name"), max_length=120)
    key = models.CharField(
        _("key"),
        max_length=80,
        unique=True,
        validators=[touchpoint_key_validator],
        help_text=_("Stable identifier other systems send with events. It never changes."),
    )
    channel = models.CharField(_("channel"), max_length=16, choices=TouchpointChannel.choices)
    owner_team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="touchpoints",
        verbose_name=_("owner team"),
    )
    description = models.TextField(_("description"), blank=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("touchpoint")
        verbose_name_plural = _("touchpoints")
        ordering = ("stage_id", "position", "id")

    def __str__(self) -> str:
        return self.name


# ------------------------------------------------------------------------------------------------
# The interaction log: one timeline per customer
# ------------------------------------------------------------------------------------------------
class Interaction(models.Model):
    # No index of its own: journeys_int_timeline_idx starts with customer_id and serves every
    # lookup by customer (timeline, merge, delete); a second index only costs writes.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="interactions", db_index=False
    )
    touchpoint = models.ForeignKey(
        Touchpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="interactions"
    )
    channel = models.CharField(max_length=16, choices=TouchpointChannel.choices)
    kind = models.CharField(max_length=100)  # dotted: order.delivered, message.received, ...
    occurred_at = models.DateTimeField()
    summary = models.CharField(max_length=500, blank=True)
    # What the entry links to: an object of ours ("inbox.conversation", id) or a URL elsewhere.
    source_type = models.CharField(max_length=64, blank=True)
    source_id = models.CharField(max_length=64, blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - NULL: no key
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-occurred_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="journeys_interaction_idempotency_unique",
            ),
        ]
        indexes = [
            # The timeline: one customer's entries, newest first, keyset on (occurred_at, id).
            models.Index(
                fields=["customer", "-occurred_at", "-id"], name="journeys_int_timeline_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class TouchpointDailyVolume(models.Model):
    """Interactions per touchpoint per day, kept current as interactions are recorded, so the
    journey map never counts the raw log."""

    touchpoint = models.ForeignKey(
        Touchpoint, on_delete=models.CASCADE, related_name="daily_volumes"
    )
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["touchpoint", "day"], name="journeys_tp_volume_unique")
        ]

    def __str__(self) -> str:
        return f"{self.touchpoint_id} {self.day}: {self.count}"


class IngestionSource(models.Model):
    """A system that posts events to the signed webhook endpoint (it cannot send our headers)."""

    name = models.CharField(_("name"), max_length=100)
    secret = models.CharField(
        max_length=100, help_text="HMAC-SHA256 key; kept to verify signatures."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("ingestion source")
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name

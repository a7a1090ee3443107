"""Customers (and, from the journeys issue on, journeys, touchpoints and the interaction log)."""

from __future__ import annotations

from django.conf import global_settings, settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce, Concat, Lower
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    WEB = "web", _("Web")
    PHONE = "phone", _("Phone")


CUSTOMER_LANGUAGES = global_settings.LANGUAGES


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
        permissions = [("import_customers", "Can import customers from CSV")]

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

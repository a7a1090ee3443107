"""Outgoing webhooks: subscriptions of other tools to cxm's events, and every delivery to them
with each of its attempts (docs/webhooks.md)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Event(models.TextChoices):
    """The events a subscription can ask for (payloads in docs/webhooks.md)."""

    RESPONSE_SUBMITTED = "response.submitted", _("A survey response was submitted")
    FOLLOWUP_OPENED = "followup.opened", _("A follow-up was opened")
    FOLLOWUP_CLOSED = "followup.closed", _("A follow-up was closed")
    CONVERSATION_CREATED = "conversation.created", _("A conversation was created")
    MESSAGE_RECEIVED = "message.received", _("A customer message was received")
    CUSTOMER_UPDATED = "customer.updated", _("A customer was updated")


# Sent only by "Send test event"; no subscription can ask for it.
TEST_EVENT = "webhook.test"


def new_secret() -> str:
    """256 random bits; the prefix tells people what the string is when they find it in a file."""
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookSubscription(models.Model):
    class Format(models.TextChoices):
        JSON = "json", _("JSON (any tool)")
        SLACK = "slack", _("Slack message (detractor alerts only)")

    name = models.CharField(_("name"), max_length=100)
    url = models.CharField(_("URL"), max_length=2000)
    events = models.JSONField(_("events"), default=list)
    format = models.CharField(_("format"), max_length=8, choices=Format.choices, default="json")
    is_active = models.BooleanField(_("active"), default=True)
    # The HMAC key. Kept readable: every delivery is signed with it. After a rotation the old
    # key signs too (a second v1=) until previous_secret_expires_at, so receivers can switch over.
    secret = models.CharField(max_length=100, default=new_secret)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Deleting only hides a subscription: a publisher holding the cached list (up to
    # SUBSCRIPTIONS_CACHE_SECONDS) may still write deliveries for it, which must not break the
    # publisher's transaction on a missing foreign key. The daily purge removes it a day later.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("webhook subscription")
        ordering = ("name", "id")
        permissions = [("manage_webhooks", "Can manage outgoing webhooks")]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """One event for one subscription: a row first (in the publisher's transaction), then
    attempts by a task, outside any transaction."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40)
    # {"id", "event", "created_at", "data"}: the body of a JSON subscription.
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    format = models.CharField(max_length=8, choices=WebhookSubscription.Format.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    # Attempts of the current cycle; a replay starts a new cycle at 0.
    attempts = models.PositiveSmallIntegerField(default=0)
    cycle = models.PositiveSmallIntegerField(default=1)
    # When the next attempt is due (null once the delivery is finished).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A task is sending it until then: a duplicate task leaves it alone.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # When a task was last queued for it: the sweep queues one only for a due delivery without
    # a recent one (a lost task is noticed after services.REQUEUE_AFTER).
    queued_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhooks_delivery_due",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["subscription", "-id"], name="webhooks_delivery_log"),
            models.Index(fields=["created_at"], name="webhooks_delivery_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id}: {self.status}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery and what came back."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="tries")
    cycle = models.PositiveSmallIntegerField(default=1)
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The first characters of the answer, as text (never parsed, never shown unescaped).
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = _("webhook attempt")
        ordering = ("delivery", "id")

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.cycle}.{self.number}: {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

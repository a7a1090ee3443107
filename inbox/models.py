"""Conversations and messages on every channel, and the channel layer's records: channel accounts,
inbound events (stored once per provider id), deliveries (one per outbound send), suppressions."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class ChannelKind(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    WEBCHAT = "webchat", _("Web chat")
    WEBFORM = "webform", _("Web form")
    API = "api", _("API")
    PHONE = "phone", _("Phone")


def new_token() -> str:
    """192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def new_reply_token() -> str:
    """128 random bits in lower-case hex: mail systems may change the case of an address."""
    return secrets.token_hex(16)


class SlaPolicy(models.Model):
    """Response and resolution targets per priority, counted in business hours (or all hours).

    A conversation takes the policy of its team, else its channel account's default.
    """

    name = models.CharField(_("name"), max_length=100)
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sla_policies",
        verbose_name=_("team"),
    )
    business_hours_only = models.BooleanField(_("count business hours only"), default=True)
    timezone = models.CharField(_("timezone"), max_length=64, default="Europe/Amsterdam")
    day_start = models.TimeField(_("working day starts"), default=dt.time(9, 0))
    day_end = models.TimeField(_("working day ends"), default=dt.time(17, 0))
    workdays = models.CharField(
        _("working days"), max_length=7, default="12345", help_text=_("1 is Monday … 7 is Sunday")
    )

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class SlaTarget(models.Model):
    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="targets")
    priority = models.PositiveSmallIntegerField(_("priority"))
    first_response_minutes = models.PositiveIntegerField(_("first response (minutes)"))
    next_response_minutes = models.PositiveIntegerField(_("next response (minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution (minutes)"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy", "priority"], name="inbox_slatarget_unique")
        ]

    def __str__(self) -> str:
        return f"{self.policy} P{self.priority}"


class Holiday(models.Model):
    """A day on which SLA clocks stand still."""

    day = models.DateField(_("day"), unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ("day",)

    def __str__(self) -> str:
        return f"{self.day}: {self.name}"


class ChannelAccount(models.Model):
    """One address, number or site that customers write to, and the team that answers it."""

    kind = models.CharField(_("channel"), max_length=16, choices=ChannelKind.choices)
    name = models.CharField(_("name"), max_length=100)
    address = models.CharField(
        _("address"),
        max_length=254,
        help_text=_(
            "The email address, the E.164 number, or for web chat and web forms the website's origin, e.g. https://shop.example.com."
        ),
    )
    provider = models.CharField(
        _("provider"), max_length=32, blank=True, help_text=_("postmark, mailgun, twilio, outbox…")
    )
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="channel_accounts",
        verbose_name=_("team"),
    )
    sla_policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("default SLA")
    )
    public_key = models.CharField(
        max_length=64, unique=True, default=new_token, help_text="Web chat and web form site key."
    )
    is_active = models.BooleanField(_("active"), default=True)
    # SMS and WhatsApp: the provider's limit for this number or messaging service (Twilio: 1 a
    # second for a long code, more for short codes and services); every worker keeps to it.
    send_rate = models.FloatField(
        _("messages per second"),
        default=1.0,
        validators=[MinValueValidator(0.01), MaxValueValidator(1000)],
        help_text=_(
            "SMS and WhatsApp: the provider's limit for this sender (Twilio: 1 for a long code)."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("channel account")
        verbose_name_plural = _("channel accounts")
        ordering = ("kind", "name")
        constraints = [
            models.UniqueConstraint(
                Lower("address"), "kind", name="inbox_channelaccount_address_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Label(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PENDING = "pending", _("Pending")
        SNOOZED = "snoozed", _("Snoozed")
        RESOLVED = "resolved", _("Resolved")

    class Priority(models.IntegerChoices):
        LOW = 1, _("Low")
        NORMAL = 2, _("Normal")
        HIGH = 3, _("High")
        URGENT = 4, _("Urgent")

    customer = models.ForeignKey(
        "journeys.Customer", on_delete=models.CASCADE, related_name="conversations"
    )
    channel_account = models.ForeignKey(
        ChannelAccount, on_delete=models.PROTECT, related_name="conversations"
    )
    channel = models.CharField(max_length=16, choices=ChannelKind.choices)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    labels = models.ManyToManyField(Label, blank=True, related_name="conversations")
    # The token in our reply-to address (reply+<token>@…): threads replies whatever their headers.
    reply_token = models.CharField(max_length=64, unique=True, default=new_reply_token)
    first_customer_message_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    next_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    # The earliest of the due times still running: what "SLA at risk" sorts on.
    sla_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ("-last_message_at", "-id")
        permissions = [("view_all_conversations", "Can see conversations of every team")]
        # One partial index per inbox view: each list is a single index range, newest first.
        indexes = [
            models.Index(
                fields=["assignee", "-last_message_at", "-id"],
                name="inbox_conv_mine_idx",
                condition=~Q(status="resolved"),
            ),
            models.Index(
                fields=["team", "-last_message_at", "-id"],
                name="inbox_conv_unassigned_idx",
                condition=~Q(status="resolved") & Q(assignee__isnull=True),
            ),
            models.Index(
                fields=["team", "-last_message_at", "-id"],
                name="inbox_conv_team_idx",
                condition=~Q(status="resolved"),
            ),
            models.Index(
                fields=["-last_message_at", "-id"],
                name="inbox_conv_open_idx",
                condition=~Q(status="resolved"),
            ),
            models.Index(
                fields=["customer", "channel_account", "status"], name="inbox_conv_thread_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.subject or f"#{self.pk}"


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", _("From the customer")
        OUTBOUND = "out", _("Reply")
        NOTE = "note", _("Internal note")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(max_length=4, choices=Direction.choices)
    channel = models.CharField(max_length=16, choices=ChannelKind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.CharField(max_length=255, blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True, help_text="Sanitized on the way in; safe to show.")
    from_address = models.CharField(max_length=254, blank=True)
    to_address = models.CharField(max_length=254, blank=True)
    message_id = models.CharField(
        max_length=255, blank=True, help_text="RFC 5322 Message-ID (email)"
    )
    in_reply_to = models.CharField(max_length=255, blank=True)
    references = models.TextField(blank=True)
    provider_id = models.CharField(max_length=255, blank=True)
    is_auto_reply = models.BooleanField(default=False)
    data = models.JSONField(default=dict, blank=True)  # phone calls: direction, duration, outcome
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ("created_at", "id")
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="inbox_msg_thread_idx"),
            models.Index(
                fields=["message_id"], name="inbox_msg_messageid_idx", condition=~Q(message_id="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.created_at:%Y-%m-%d %H:%M}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.message.conversation_id}/{new_token()}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()

    def __str__(self) -> str:
        return self.filename


class InboundEvent(models.Model):
    """A provider notification, stored once per (provider, provider id) before we answer 2xx."""

    class Kind(models.TextChoices):
        MESSAGE = "message", _("Message")
        STATUS = "status", _("Delivery status")

    provider = models.CharField(max_length=32)
    provider_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "kind", "provider_id"], name="inbox_inboundevent_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.provider_id}"


class Delivery(models.Model):
    """Every outbound send: a row first, then the provider call outside any transaction."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        OPENED = "opened", _("Opened")
        FAILED = "failed", _("Failed")
        BOUNCED = "bounced", _("Bounced")

    # Statuses only move forward: a late "sent" never overwrites "delivered".
    RANK = {"queued": 0, "sent": 1, "delivered": 2, "opened": 3, "failed": 4, "bounced": 4}

    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=16, choices=ChannelKind.choices)
    provider = models.CharField(max_length=32)
    to_address = models.CharField(max_length=254)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    provider_message_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # A task that is calling the provider holds the delivery until then, so a redelivered or
    # swept task does not send twice; next_attempt_at is when a retry is due.
    claimed_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A delivery without a conversation message (a survey invitation) carries its own content.
    from_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["provider", "provider_message_id"], name="inbox_delivery_provider_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} → {self.to_address}: {self.status}"


class Suppression(models.Model):
    """Addresses we must not send to: opt-out, STOP, hard bounce, complaint."""

    class Reason(models.TextChoices):
        OPT_OUT = "opt_out", _("Opted out")
        STOP = "stop", _("Replied STOP")
        BOUNCE = "bounce", _("Hard bounce")
        COMPLAINT = "complaint", _("Spam complaint")

    channel = models.CharField(max_length=16, choices=ChannelKind.choices)
    address = models.CharField(max_length=254)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "address"], name="inbox_suppression_unique")
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address} ({self.reason})"


class OutboxMessage(models.Model):
    """The dev outbox: on the embedded default, outgoing email and SMS are stored here and shown
    on the Outbox page instead of leaving the machine."""

    channel = models.CharField(max_length=16, choices=ChannelKind.choices)
    to_address = models.CharField(max_length=254)
    from_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    provider_message_id = models.CharField(max_length=64, unique=True, default=new_token)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.channel} → {self.to_address}"


class WebchatVisitor(models.Model):
    """A person chatting through the widget on a customer's website; the token is their key."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="visitors")
    token = models.CharField(max_length=64, unique=True, default=new_token)
    customer = models.ForeignKey(
        "journeys.Customer", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation = models.ForeignKey(
        Conversation, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"visitor {self.pk}"


class CannedResponse(models.Model):
    """A saved reply; ``{first_name}``, ``{name}`` and ``{agent_name}`` are filled in."""

    title = models.CharField(_("title"), max_length=100)
    text = models.TextField(_("text"))
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("team"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("title",)

    def __str__(self) -> str:
        return self.title


class AgentSetting(models.Model):
    """An agent's availability for auto-assignment and their cap of open conversations."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_setting"
    )
    available = models.BooleanField(_("available for new conversations"), default=True)
    max_open = models.PositiveSmallIntegerField(
        _("at most this many open conversations"), default=25
    )

    def __str__(self) -> str:
        return f"{self.user}: {'available' if self.available else 'away'}"


class TeamRouting(models.Model):
    """Round-robin auto-assignment of a team's new conversations."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="routing")
    auto_assign = models.BooleanField(_("assign new conversations automatically"), default=False)
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"routing of {self.team}"

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """Who did what to which object, with the data needed to explain it later (merges, deletions)."""

    action = models.CharField(max_length=64)  # dotted, e.g. "customer.merged"
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(
                fields=["object_type", "object_id", "-created_at"], name="core_audit_object_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}#{self.object_id}"


class IdempotencyRecord(models.Model):
    """The stored answer to a request sent with an ``Idempotency-Key``: a replay gets it back."""

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=200)
    owner_id = models.BigIntegerField(
        help_text="The user (or integration source) that sent the request."
    )
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "owner_id", "key"], name="core_idempotency_unique"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="core_idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class Notification(models.Model):
    """An in-app notice for one user (a mention, an assignment); shown under the bell."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(
                fields=["user", "read_at", "-created_at"], name="core_notification_user_idx"
            )
        ]

    def __str__(self) -> str:
        return self.text

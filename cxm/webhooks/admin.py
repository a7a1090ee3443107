"""Django admin, read-only: subscriptions are managed under Settings → Webhooks (which
validates URLs and keeps the audit trail); this is for looking at deliveries."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from cxm.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(_ReadOnly):
    list_display = ("name", "url", "format", "is_active", "deleted_at")
    exclude = ("secret", "previous_secret")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("cycle", "number", "started_at", "duration_ms", "status_code", "error")
    exclude = ("response_excerpt",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnly):
    list_display = ("id", "subscription", "event", "status", "attempts", "created_at")
    list_filter = ("status", "event")
    list_select_related = ("subscription",)
    inlines = [WebhookAttemptInline]

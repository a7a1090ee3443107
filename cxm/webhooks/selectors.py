"""Reads for the webhook pages. Only admins with ``webhooks.manage_webhooks`` reach them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from cxm.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

PAGE_SIZE = 50


def subscription_list() -> QuerySet[WebhookSubscription]:
    """Every subscription not deleted, with its latest delivery's status and time (each read
    from the ``webhooks_delivery_log`` index: one query whatever the log's size)."""
    latest = WebhookDelivery.objects.filter(subscription=OuterRef("pk")).order_by("-id")
    return (
        WebhookSubscription.objects.filter(deleted_at__isnull=True)
        .annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_created_at=Subquery(latest.values("created_at")[:1]),
        )
        .order_by("name", "id")
    )


def subscription_get(*, subscription_id: int) -> WebhookSubscription | None:
    return WebhookSubscription.objects.filter(pk=subscription_id, deleted_at__isnull=True).first()


@dataclass
class DeliveryPage:
    deliveries: list[WebhookDelivery]
    next_before: int | None  # the ``before`` of the next (older) page, if there is one

    @property
    def any_pending(self) -> bool:
        return any(d.status == WebhookDelivery.Status.PENDING for d in self.deliveries)


def delivery_page(
    *, subscription: WebhookSubscription, status: str = "", before: int | None = None
) -> DeliveryPage:
    """A subscription's deliveries, newest first, by keyset (``id < before``)."""
    rows = WebhookDelivery.objects.filter(subscription=subscription).only(
        "id",
        "subscription_id",
        "event",
        "status",
        "attempts",
        "cycle",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
    )
    if status in WebhookDelivery.Status.values:
        rows = rows.filter(status=status)
    if before:
        rows = rows.filter(pk__lt=before)
    found = list(rows.order_by("-id")[: PAGE_SIZE + 1])
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    return DeliveryPage(deliveries=found, next_before=found[-1].pk if more else None)


def delivery_get(*, delivery_id: int) -> WebhookDelivery | None:
    """A delivery of a subscription that is not deleted, with its attempts, newest first."""
    return (
        WebhookDelivery.objects.filter(pk=delivery_id, subscription__deleted_at__isnull=True)
        .select_related("subscription")
        .prefetch_related(
            Prefetch(
                "tries", queryset=WebhookAttempt.objects.order_by("-id"), to_attr="attempt_log"
            )
        )
        .first()
    )

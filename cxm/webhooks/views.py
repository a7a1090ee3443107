"""Settings → Webhooks: subscriptions, their deliveries and attempts, replay."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cxm.errors import ApplicationError
from cxm.webhooks import selectors, services
from cxm.webhooks.forms import SubscriptionForm
from cxm.webhooks.models import WebhookDelivery, WebhookSubscription

PERMISSION = "webhooks.manage_webhooks"
SHOWN_SECRET = "webhooks_shown_secret"  # noqa: S105 - a session key


def _subscription(subscription_id: int) -> WebhookSubscription:
    subscription = selectors.subscription_get(subscription_id=subscription_id)
    if subscription is None:
        raise Http404
    return subscription


def _delivery(delivery_id: int) -> WebhookDelivery:
    delivery = selectors.delivery_get(delivery_id=delivery_id)
    if delivery is None:
        raise Http404
    return delivery


def _show_secret_once(request: HttpRequest, subscription: WebhookSubscription, secret: str) -> None:
    # Through the session and a redirect, so the secret is not in a page a reload re-posts.
    request.session[SHOWN_SECRET] = {"id": subscription.pk, "secret": secret}


def _service_errors(form: SubscriptionForm, exc: ApplicationError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


@permission_required(PERMISSION, raise_exception=True)
def subscription_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "webhooks/subscription_list.html",
        {"subscriptions": selectors.subscription_list()},
    )


@permission_required(PERMISSION, raise_exception=True)
def subscription_create(request: HttpRequest) -> HttpResponse:
    form = SubscriptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subscription = services.subscription_create(**form.cleaned_data, by=request.user)
        except ApplicationError as exc:
            _service_errors(form, exc)
        else:
            _show_secret_once(request, subscription, subscription.secret)
            messages.success(
                request, _("Webhook “%(name)s” was created.") % {"name": subscription.name}
            )
            return redirect("webhooks:subscription-detail", subscription_id=subscription.pk)
    return render(
        request,
        "webhooks/subscription_form.html",
        {"form": form, "title": _("New webhook"), "subscription": None},
    )


@permission_required(PERMISSION, raise_exception=True)
def subscription_edit(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _subscription(subscription_id)
    form = SubscriptionForm.for_subscription(subscription, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.subscription_update(
                subscription=subscription, **form.cleaned_data, by=request.user
            )
        except ApplicationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, _("The webhook was saved."))
            return redirect("webhooks:subscription-detail", subscription_id=subscription.pk)
    return render(
        request,
        "webhooks/subscription_form.html",
        {
            "form": form,
            "title": _("Edit “%(name)s”") % {"name": subscription.name},
            "subscription": subscription,
        },
    )


@permission_required(PERMISSION, raise_exception=True)
def subscription_detail(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _subscription(subscription_id)
    status = request.GET.get("status", "")
    before_param = request.GET.get("before", "")
    before = int(before_param) if before_param.isdigit() and len(before_param) < 19 else None
    page = selectors.delivery_page(subscription=subscription, status=status, before=before)
    context: dict[str, Any] = {
        "subscription": subscription,
        "page": page,
        "status": status if status in WebhookDelivery.Status.values else "",
        "statuses": WebhookDelivery.Status.choices,
        "before": before,
    }
    if getattr(request, "htmx", False):
        return render(request, "webhooks/_deliveries.html", context)
    shown = request.session.pop(SHOWN_SECRET, None)
    if shown and shown.get("id") == subscription.pk:
        context["shown_secret"] = shown["secret"]
    return render(request, "webhooks/subscription_detail.html", context)


@permission_required(PERMISSION, raise_exception=True)
@require_POST
def subscription_delete(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _subscription(subscription_id)
    services.subscription_delete(subscription=subscription, by=request.user)
    messages.success(request, _("Webhook “%(name)s” was deleted.") % {"name": subscription.name})
    return redirect("webhooks:subscription-list")


@permission_required(PERMISSION, raise_exception=True)
@require_POST
def subscription_rotate(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _subscription(subscription_id)
    secret = services.subscription_secret_rotate(subscription=subscription, by=request.user)
    _show_secret_once(request, subscription, secret)
    messages.success(
        request,
        _(
            "The secret was rotated. For 24 hours every delivery is signed with the old and the "
            "new secret, so update the receiver within a day."
        ),
    )
    return redirect("webhooks:subscription-detail", subscription_id=subscription.pk)


@permission_required(PERMISSION, raise_exception=True)
@require_POST
def subscription_reveal(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _subscription(subscription_id)
    secret = services.subscription_secret_reveal(subscription=subscription, by=request.user)
    _show_secret_once(request, subscription, secret)
    return redirect("webhooks:subscription-detail", subscription_id=subscription.pk)


@permission_required(PERMISSION, raise_exception=True)
@require_POST
def subscription_test(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = _subscription(subscription_id)
    try:
        services.subscription_test_send(subscription=subscription, by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("A test event was queued. Its delivery appears below within seconds.")
        )
    return redirect("webhooks:subscription-detail", subscription_id=subscription.pk)


@permission_required(PERMISSION, raise_exception=True)
def delivery_detail(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = _delivery(delivery_id)
    return render(
        request,
        "webhooks/delivery_detail.html",
        {
            "delivery": delivery,
            "subscription": delivery.subscription,
            "attempts": delivery.attempt_log,  # type: ignore[attr-defined]
            "payload": json.dumps(delivery.payload, indent=2, ensure_ascii=False),
        },
    )


@permission_required(PERMISSION, raise_exception=True)
@require_POST
def delivery_replay(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = _delivery(delivery_id)
    try:
        services.delivery_replay(delivery=delivery, by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The delivery was queued again."))
    return redirect("webhooks:delivery-detail", delivery_id=delivery.pk)

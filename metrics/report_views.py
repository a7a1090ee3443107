"""Report subscriptions: the list page, subscribing from a dashboard, and unsubscribing (signed
in, or by the email's link without signing in)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from metrics import reports
from metrics.forms import ReportSubscribeForm
from metrics.models import ReportSubscription


def _next(request: HttpRequest) -> str | None:
    """Back to the dashboard the form was on, but only on this site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


def _list_page(request: HttpRequest, form: ReportSubscribeForm, status: int = 200) -> HttpResponse:
    subscriptions = reports.report_subscriptions_for_user(user=request.user)
    return render(
        request,
        "metrics/reports.html",
        {"rows": reports.subscription_rows(subscriptions), "form": form},
        status=status,
    )


def _when(frequency: str) -> str:
    if frequency == ReportSubscription.Frequency.MONTHLY:
        return _("on the 1st of every month at 07:00")
    return _("every Monday at 07:00")


@require_GET
@login_required
@permission_required("metrics.view_reportsubscription", raise_exception=True)
def report_list(request: HttpRequest) -> HttpResponse:
    form = ReportSubscribeForm(
        initial={
            "dashboard": ReportSubscription.Dashboard.OVERVIEW,
            "frequency": ReportSubscription.Frequency.WEEKLY,
        }
    )
    return _list_page(request, form)


@require_POST
@login_required
@permission_required("metrics.add_reportsubscription", raise_exception=True)
def report_subscribe(request: HttpRequest) -> HttpResponse:
    form = ReportSubscribeForm(request.POST)
    back = _next(request)
    if form.is_valid():
        try:
            subscription, created = reports.report_subscribe(
                user=request.user,  # type: ignore[arg-type]
                dashboard=form.cleaned_data["dashboard"],
                frequency=form.cleaned_data["frequency"],
                query=form.cleaned_data["query"],
            )
        except ValidationError as exc:
            _attach(form, exc)
        else:
            values = {
                "dashboard": subscription.get_dashboard_display(),
                "when": _when(subscription.frequency),
            }
            if created:
                text = _("Subscribed: the %(dashboard)s report will come by email %(when)s.")
            else:
                text = _("Changed: the %(dashboard)s report will come by email %(when)s.")
            messages.success(request, text % values)
            return redirect(back or reverse("metrics:report-list"))
    if back:
        # The form sits on a dashboard: say what was wrong there rather than on another page.
        problems = " ".join(
            f"{form.fields[name].label if name in form.fields else _('Filters')}: {error}"
            if name != "__all__"
            else str(error)
            for name, errors in form.errors.items()
            for error in errors
        )
        messages.error(
            request, _("The report was not saved. %(problems)s") % {"problems": problems}
        )
        return redirect(back)
    return _list_page(request, form, status=400)


def _attach(form: ReportSubscribeForm, exc: ValidationError) -> None:
    for name, errors in exc.message_dict.items():
        if name in form.fields and name != "query":
            form.add_error(name, errors)
        else:
            # A filter of the (hidden) query: name it in a message above the form.
            label = name.removeprefix("query.")
            form.add_error(None, [f"{label}: {error}" for error in errors])


@require_POST
@login_required
@permission_required("metrics.delete_reportsubscription", raise_exception=True)
def report_unsubscribe(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = reports.report_subscription_get_for_user(user=request.user, pk=pk)
    if subscription is None:
        raise Http404
    reports.report_unsubscribe(subscription=subscription)
    messages.success(
        request,
        _("Unsubscribed from the %(frequency)s %(dashboard)s report.")
        % {
            "frequency": subscription.get_frequency_display().lower(),
            "dashboard": subscription.get_dashboard_display(),
        },
    )
    return redirect(_next(request) or reverse("metrics:report-list"))


@never_cache
@csrf_exempt  # RFC 8058 one-click: the mail client POSTs without our form; the token is the key
@require_http_methods(["GET", "HEAD", "POST"])
def report_unsubscribe_link(request: HttpRequest, token: str) -> HttpResponse:
    """The email's unsubscribe link, signed in or not: GET asks (link checkers in mailboxes open
    links), POST unsubscribes."""
    if reports.unsubscribe_token_read(token) is None:
        return render(request, "metrics/report_unsubscribe.html", {"state": "invalid"}, status=404)
    subscription = reports.report_subscription_for_token(token)
    language = subscription.user.language if subscription else translation.get_language()
    with translation.override(language):
        context: dict[str, Any] = {"token": token, "subscription": subscription}
        if subscription is not None:
            context["dashboard"] = subscription.get_dashboard_display()
            context["frequency"] = subscription.get_frequency_display()
        if request.method == "POST":
            reports.report_unsubscribe_by_token(token=token)
            context["state"] = "done"
        else:
            context["state"] = "ask" if subscription is not None else "gone"
        return render(request, "metrics/report_unsubscribe.html", context)

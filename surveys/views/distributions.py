"""Distribution pages: set one up for a survey, start it, watch its progress live, pause,
resume or cancel it."""

from __future__ import annotations

from typing import Any

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from cxm.errors import ApplicationError
from surveys import selectors
from surveys.forms import DistributionForm, TriggerRuleForm
from surveys.models import Distribution, Survey, TriggerRule
from surveys.services import distribution as services

FIELD_OF = {"segment": "segment_language", "customers": "customer_file", "texts": "intro"}


@permission_required("surveys.add_distribution", raise_exception=True)
def distribution_new(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=survey_id)
    form = DistributionForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        customer_ids: list[int] = []
        if data["audience"] == Distribution.Audience.LIST:
            if not data.get("customer_file"):
                form.add_error("customer_file", _("Upload the list."))
            else:
                customer_ids, unknown = selectors.customers_from_csv(file=data["customer_file"])
                if unknown:
                    form.add_error(
                        "customer_file",
                        _("%(count)d entries match no customer, for example: %(examples)s.")
                        % {"count": len(unknown), "examples": ", ".join(unknown[:5])},
                    )
        if form.is_valid():
            try:
                distribution = services.distribution_create(
                    survey=survey,
                    name=data["name"],
                    audience=data["audience"],
                    segment=form.segment(),
                    customer_ids=customer_ids,
                    channels=data["channels"],
                    prefer_customer_channel=data["prefer_customer_channel"],
                    reply_mode=data["reply_mode"],
                    repeat_months=data.get("repeat_months"),
                    send_at=data.get("send_at"),
                    window=(data["window_start"], data["window_end"])
                    if data.get("window_start") and data.get("window_end")
                    else None,
                    expires_days=data.get("expires_days"),
                    reminder_days=data.get("reminder_days"),
                    contact_days=data.get("contact_days"),
                    texts=_texts(survey, data),
                    by=request.user,
                )
            except ApplicationError as exc:
                field = FIELD_OF.get(exc.field or "", exc.field)
                form.add_error(field if field in form.fields else None, exc.message)
            else:
                return redirect("surveys:distribution-detail", distribution_id=distribution.pk)
    return render(request, "surveys/distribution_form.html", {"survey": survey, "form": form})


def _texts(survey: Survey, data: dict[str, Any]) -> dict[str, dict[str, str]]:
    own = {key: data[key] for key in ("subject", "intro", "sms") if data.get(key)}
    return {survey.default_language: own} if own else {}


@permission_required("surveys.view_distribution", raise_exception=True)
def distribution_detail(request: HttpRequest, distribution_id: int) -> HttpResponse:
    distribution = get_object_or_404(
        Distribution.objects.select_related("survey"), pk=distribution_id
    )
    return render(
        request,
        "surveys/distribution_detail.html",
        {
            "distribution": distribution,
            "survey": distribution.survey,
            "progress": selectors.distribution_progress(distribution=distribution),
        },
    )


@permission_required("surveys.view_distribution", raise_exception=True)
def distribution_progress(request: HttpRequest, distribution_id: int) -> HttpResponse:
    distribution = get_object_or_404(Distribution, pk=distribution_id)
    return render(
        request,
        "surveys/_distribution_progress.html",
        {
            "distribution": distribution,
            "progress": selectors.distribution_progress(distribution=distribution),
        },
    )


@require_POST
@permission_required("surveys.change_distribution", raise_exception=True)
def distribution_status(request: HttpRequest, distribution_id: int) -> HttpResponse:
    distribution = get_object_or_404(Distribution, pk=distribution_id)
    action = request.POST.get("action", "")
    try:
        if action == "start":
            services.distribution_start(distribution=distribution, by=request.user)
            messages.success(request, _("Sending started."))
        elif action in ("paused", "sending", "cancelled"):
            services.distribution_set_status(
                distribution=distribution, status=action, by=request.user
            )
        else:
            raise ApplicationError(_("Unknown action."))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("surveys:distribution-detail", distribution_id=distribution.pk)


@require_POST
@permission_required("surveys.add_distribution", raise_exception=True)
def trigger_rule_create(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = get_object_or_404(Survey, pk=survey_id)
    form = TriggerRuleForm(request.POST)
    if form.is_valid():
        try:
            services.trigger_rule_save(survey=survey, **form.cleaned_data)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Trigger rule added."))
    else:
        for errors in form.errors.values():
            messages.error(request, str(errors[0]))
    return redirect("surveys:survey-detail", survey_id=survey.pk)


@require_POST
@permission_required("surveys.add_distribution", raise_exception=True)
def trigger_rule_delete(request: HttpRequest, survey_id: int, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(TriggerRule, pk=rule_id, survey_id=survey_id)
    services.trigger_rule_delete(rule=rule)
    messages.success(request, _("Trigger rule removed."))
    return redirect("surveys:survey-detail", survey_id=survey_id)


@permission_required("surveys.view_distribution", raise_exception=True)
def distribution_preview(request: HttpRequest, distribution_id: int) -> HttpResponse:
    """The message one customer of the audience would get (merge fields filled in)."""
    from surveys.messages import invitation_draft, invitation_preview

    distribution = get_object_or_404(
        Distribution.objects.select_related("survey__touchpoint"), pk=distribution_id
    )
    invitation = invitation_preview(
        distribution=distribution, customer_id=request.GET.get("customer", "")
    )
    draft = invitation_draft(invitation) if invitation else None
    return render(
        request,
        "surveys/distribution_preview.html",
        {
            "distribution": distribution,
            "survey": distribution.survey,
            "invitation": invitation,
            "draft": draft,
            "customers": services.audience_customers(distribution)[:20],
        },
    )


@xframe_options_sameorigin
@csp_replace(  # type: ignore[arg-type]
    {"frame-ancestors": [SELF], "style-src": [UNSAFE_INLINE], "img-src": [SELF, "https:", "http:"]}
)
@permission_required("surveys.view_distribution", raise_exception=True)
def distribution_preview_html(request: HttpRequest, distribution_id: int) -> HttpResponse:
    """The email's HTML alone, for the sandboxed frame of the preview page (emails need inline
    styles, so this page alone allows them)."""
    from surveys.messages import invitation_draft, invitation_preview

    distribution = get_object_or_404(
        Distribution.objects.select_related("survey__touchpoint"), pk=distribution_id
    )
    invitation = invitation_preview(
        distribution=distribution, customer_id=request.GET.get("customer", "")
    )
    if invitation is None or invitation.channel != "email":
        return HttpResponse(status=404)
    return HttpResponse(invitation_draft(invitation).html)

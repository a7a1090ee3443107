"""The follow-up pages: the queue with the loop metrics, one follow-up and its workflow, the
rules and the root-cause list (CX leads and admins)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from cxm.errors import ApplicationError
from metrics import followup_selectors as selectors
from metrics import followup_services as services
from metrics.filters import filters_parse
from metrics.followup_forms import (
    AssignForm,
    CloseNoteForm,
    FollowUpRuleForm,
    ResolveForm,
    RootCauseForm,
)
from metrics.models import FollowUp, FollowUpRule, RootCause

CHANNEL_WORDS = {
    "email": gettext_lazy("email"),
    "sms": gettext_lazy("SMS"),
    "whatsapp": gettext_lazy("WhatsApp"),
}


def _attach(form: Any, exc: ApplicationError) -> None:
    """Every problem the service found, beside its field (the rest above the form)."""
    errors = exc.extra.get("errors") or {exc.field: exc.message}
    for field, message in errors.items():
        form.add_error(field if field in form.fields else None, message)


def _followup(request: HttpRequest, followup_id: int) -> FollowUp:
    followup = selectors.followup_get_for_user(user=request.user, followup_id=followup_id)
    if followup is None:
        raise Http404  # also when it exists but is someone else's: do not reveal it
    return followup


# ------------------------------------------------------------------------------------------------
# The queue
# ------------------------------------------------------------------------------------------------
@permission_required("metrics.view_followup", raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    user = request.user
    scopes = selectors.scopes_for(user=user)
    page = selectors.followup_queue(
        user=user,
        scope=request.GET.get("scope", "") or selectors.default_scope(user=user),
        status=request.GET.get("status", "open"),
        overdue=request.GET.get("overdue") == "1",
        after=request.GET.get("after", "")[:60],
    )
    loop = selectors.loop_metrics(filters_parse({}, user=user))  # type: ignore[arg-type]
    return render(
        request,
        "followups/queue.html",
        {
            "page": page,
            "scopes": [(key, selectors.SCOPES[key]) for key in scopes],
            "statuses": list(selectors.STATUSES.items()),
            "loop": loop,
            "definitions": selectors.DEFINITIONS,
        },
    )


# ------------------------------------------------------------------------------------------------
# One follow-up
# ------------------------------------------------------------------------------------------------
def _detail_context(request: HttpRequest, followup: FollowUp, **forms: Any) -> dict[str, Any]:
    can_work = selectors.can_work(user=request.user, followup=followup)
    can_reassign = selectors.can_reassign(user=request.user, followup=followup)
    people = selectors.owner_choices(followup=followup) if can_reassign else []
    conversation = followup.conversation
    return {
        "followup": followup,
        "customer": followup.customer,
        "answers": selectors.followup_answers(
            followup=followup, language=translation.get_language() or "en"
        ),
        "history": selectors.followup_history(followup=followup),
        "can_work": can_work,
        "can_reassign": can_reassign,
        "overdue": followup.is_open and followup.due_at < timezone.now(),
        "reply_channel": CHANNEL_WORDS.get(conversation.channel, conversation.channel)
        if conversation
        else "",
        "resolve_form": forms.get("resolve_form")
        or ResolveForm(choices=selectors.root_cause_choices()),
        "note_form": forms.get("note_form") or CloseNoteForm(),
        "assign_form": forms.get("assign_form")
        or AssignForm(people=people, initial={"owner": followup.owner_id}),
    }


@permission_required("metrics.view_followup", raise_exception=True)
def followup_detail(request: HttpRequest, followup_id: int) -> HttpResponse:
    followup = _followup(request, followup_id)
    return render(request, "followups/followup_detail.html", _detail_context(request, followup))


def _note(request: HttpRequest) -> str:
    """The optional note sent with closing as unreachable or reopening."""
    note = CloseNoteForm(request.POST)
    note.is_valid()
    return note.cleaned_data.get("outcome", "")


@permission_required("metrics.change_followup", raise_exception=True)
@require_POST
def followup_action(request: HttpRequest, followup_id: int) -> HttpResponse:
    followup = _followup(request, followup_id)
    action = request.POST.get("action", "")
    if action == "assign":
        if not selectors.can_reassign(user=request.user, followup=followup):
            raise PermissionDenied
    elif not selectors.can_work(user=request.user, followup=followup):
        raise PermissionDenied
    forms: dict[str, Any] = {}
    try:
        if action == "contacted":
            services.followup_mark_contacted(followup=followup, by=request.user)
            messages.success(request, _("Marked as contacted."))
        elif action == "resolve":
            form = ResolveForm(request.POST, choices=selectors.root_cause_choices())
            forms["resolve_form"] = form
            if not form.is_valid():
                raise ApplicationError(_("Choose the root cause."), field="root_cause")
            services.followup_resolve(
                followup=followup,
                by=request.user,
                root_cause=selectors.root_cause_get(form.cleaned_data["root_cause"]),
                outcome=form.cleaned_data["outcome"],
                recovered=form.cleaned_data["recovered"],
            )
            messages.success(request, _("Follow-up resolved."))
        elif action == "unreachable":
            services.followup_mark_unreachable(
                followup=followup, by=request.user, outcome=_note(request)
            )
            messages.success(request, _("Closed: the customer could not be reached."))
        elif action == "reopen":
            services.followup_reopen(followup=followup, by=request.user, reason=_note(request))
            messages.success(request, _("Follow-up reopened."))
        elif action == "assign":
            people = selectors.owner_choices(followup=followup)
            assign = AssignForm(request.POST, people=people)
            forms["assign_form"] = assign
            if not assign.is_valid():
                raise ApplicationError(_("Choose who gets the follow-up."), field="owner")
            owner = assign.cleaned_data["owner"]
            services.followup_assign(followup=followup, owner=owner, by=request.user)
            messages.success(request, _("Given to %(name)s.") % {"name": owner.name})
        else:
            raise ApplicationError(_("Unknown action."))
    except ApplicationError as exc:
        for form in forms.values():
            if exc.field in form.fields and not form.has_error(exc.field):
                form.add_error(exc.field, exc.message)
        if forms:
            followup = _followup(request, followup_id)
            return render(
                request,
                "followups/followup_detail.html",
                _detail_context(request, followup, **forms),
                status=400,
            )
        messages.error(request, exc.message)
    return redirect("followups:followup-detail", followup_id=followup.pk)


# ------------------------------------------------------------------------------------------------
# Rules
# ------------------------------------------------------------------------------------------------
@permission_required("metrics.view_followuprule", raise_exception=True)
def rule_list(request: HttpRequest) -> HttpResponse:
    rows = [(rule, *selectors.describe_rule(rule)) for rule in selectors.rule_list()]
    return render(request, "followups/rule_list.html", {"rows": rows})


@permission_required("metrics.change_followuprule", raise_exception=True)
def rule_edit(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    rule = get_object_or_404(FollowUpRule, pk=rule_id) if rule_id else None
    if rule is None and not request.user.has_perm("metrics.add_followuprule"):
        raise PermissionDenied
    form = FollowUpRuleForm(request.POST or None, rule=rule)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.rule_save(rule=rule, by=request.user, **form.service_arguments())
        except ApplicationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("Rule “%(name)s” was saved.") % {"name": saved.name})
            return redirect("followups:rule-list")
    return render(
        request,
        "followups/rule_form.html",
        {"form": form, "rule": rule},
    )


@permission_required("metrics.change_followuprule", raise_exception=True)
@require_POST
def rule_move(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(FollowUpRule, pk=rule_id)
    services.rule_move(
        rule=rule, direction="up" if request.POST.get("direction") == "up" else "down"
    )
    return redirect("followups:rule-list")


@permission_required("metrics.change_followuprule", raise_exception=True)
@require_POST
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(FollowUpRule, pk=rule_id)
    services.rule_set_active(rule=rule, active=request.POST.get("active") == "1")
    if rule.is_active:
        messages.success(request, _("Rule “%(name)s” is enabled.") % {"name": rule.name})
    else:
        messages.success(request, _("Rule “%(name)s” is disabled.") % {"name": rule.name})
    return redirect("followups:rule-list")


@permission_required("metrics.delete_followuprule", raise_exception=True)
@require_POST
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(FollowUpRule, pk=rule_id)
    services.rule_delete(rule=rule)
    messages.success(request, _("Rule “%(name)s” was deleted.") % {"name": rule.name})
    return redirect("followups:rule-list")


# ------------------------------------------------------------------------------------------------
# Root causes
# ------------------------------------------------------------------------------------------------
@permission_required("metrics.view_rootcause", raise_exception=True)
def root_cause_list(request: HttpRequest) -> HttpResponse:
    form = RootCauseForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("metrics.add_rootcause"):
            raise PermissionDenied
        if form.is_valid():
            try:
                cause = services.root_cause_save(cause=None, **form.cleaned_data)
            except ApplicationError as exc:
                _attach(form, exc)
            else:
                messages.success(request, _("“%(name)s” was added.") % {"name": cause})
                return redirect("followups:rootcause-list")
    return render(
        request,
        "followups/root_causes.html",
        {"groups": selectors.root_cause_tree(), "form": form},
    )


@permission_required("metrics.change_rootcause", raise_exception=True)
def root_cause_edit(request: HttpRequest, cause_id: int) -> HttpResponse:
    cause = get_object_or_404(RootCause, pk=cause_id)
    form = RootCauseForm(request.POST or None, cause=cause)
    if request.method == "POST" and form.is_valid():
        try:
            services.root_cause_save(cause=cause, **form.cleaned_data)
        except ApplicationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("“%(name)s” was saved.") % {"name": cause})
            return redirect("followups:rootcause-list")
    return render(
        request,
        "followups/root_cause_form.html",
        {"form": form, "cause": cause},
    )

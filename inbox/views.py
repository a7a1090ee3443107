"""The agent workspace: conversation lists, the conversation page, replies; and the dev outbox."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from cxm.errors import ApplicationError
from inbox import presence, selectors, services
from inbox.forms import CallLogForm, ChannelAccountForm, ReplyForm, SimulateInboundForm
from inbox.models import ChannelKind, Conversation, Delivery
from journeys import selectors as journey_selectors
from journeys.presenters import timeline_days

VIEW_LABELS = {
    "mine": gettext_lazy("Mine"),
    "unassigned": gettext_lazy("Unassigned"),
    "teams": gettext_lazy("My teams"),
    "sla": gettext_lazy("SLA at risk"),
    "all": gettext_lazy("All"),
    "resolved": gettext_lazy("Resolved"),
}


def _conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    conversation = selectors.conversation_get_for_user(
        user=request.user, conversation_id=conversation_id
    )
    if conversation is None:
        raise Http404  # also when it exists but belongs to another team: do not reveal it
    return conversation


@permission_required("inbox.view_conversation", raise_exception=True)
def index(request: HttpRequest) -> HttpResponse:
    return redirect("inbox:list", view="unassigned")


@permission_required("inbox.view_conversation", raise_exception=True)
def conversation_list(request: HttpRequest, view: str) -> HttpResponse:
    if view not in selectors.VIEWS:
        raise Http404
    if view == "all" and not request.user.has_perm("inbox.view_all_conversations"):
        raise PermissionDenied
    channel = request.GET.get("channel", "")
    channel = channel if channel in ChannelKind.values else ""
    query = request.GET.get("q", "").strip()[:200]
    filters = _list_filters(request)
    page = selectors.conversation_list_for_user(
        user=request.user,
        view=view,
        channel=channel,
        after=request.GET.get("after", "")[:40],
        filters=filters,
    )
    if query:
        page = selectors.ConversationPage(
            conversations=selectors.conversation_search_for_user(user=request.user, query=query),
            next_after=None,
            breached=[],
        )
    views = [
        (key, label)
        for key, label in VIEW_LABELS.items()
        if key != "all" or request.user.has_perm("inbox.view_all_conversations")
    ]
    return render(
        request,
        "inbox/conversation_list.html",
        {
            "page": page,
            "view": view,
            "views": views,
            "channel": channel,
            "channels": ChannelKind.choices,
            "outbox": outbox_enabled(),
            "available": selectors.is_available(user=request.user),
            "query": query,
            "filters": filters,
            "choices": selectors.filter_choices(),
            "statuses": [
                (v, label)
                for v, label in Conversation.Status.choices
                if v != Conversation.Status.RESOLVED
            ],
            "priorities": Conversation.Priority.choices,
            "filter_query": request.GET.urlencode(),
        },
    )


def _reply_channels(conversation: Conversation) -> list[tuple[str, str]]:
    customer = conversation.customer
    options = []
    for value, label in ChannelKind.choices:
        if (
            value == conversation.channel
            or (value == "email" and customer.email)
            or (value in ("sms", "whatsapp") and customer.phone)
        ) and value in ("email", "sms", "whatsapp", "webchat"):
            options.append((value, str(label)))
    return options


@permission_required("inbox.view_conversation", raise_exception=True)
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    initial = {"channel": conversation.channel}
    canned = selectors.canned_get(canned_id=request.GET.get("canned", ""))
    if canned is not None:
        initial["text"] = services.canned_render(
            text=canned.text, conversation=conversation, agent=request.user
        )
    form = ReplyForm(initial=initial)
    form.fields["channel"].choices = _reply_channels(conversation)  # type: ignore[attr-defined]
    presence.presence_touch(conversation_id=conversation.pk, user=request.user, typing=False)
    context = _detail_context(request, conversation, form)
    context["others"] = presence.presence_others(conversation_id=conversation.pk, user=request.user)
    return render(request, "inbox/conversation_detail.html", context)


def _detail_context(
    request: HttpRequest, conversation: Conversation, form: ReplyForm
) -> dict[str, Any]:
    page = journey_selectors.timeline_page(customer_id=conversation.customer_id, size=10)
    return {
        "conversation": conversation,
        "thread": list(conversation.messages.all()),
        "form": form,
        "timeline": page,
        "days": timeline_days(page.entries),
        "customer": conversation.customer,
        "statuses": Conversation.Status.choices,
        "priorities": Conversation.Priority.choices,
        "canned": selectors.canned_list(user=request.user),
        "label_text": ", ".join(label.name for label in conversation.labels.all()),
        "choices": selectors.filter_choices(),
    }


@permission_required("inbox.add_message", raise_exception=True)
@require_POST
def conversation_reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    form = ReplyForm(request.POST)
    form.fields["channel"].choices = _reply_channels(conversation)  # type: ignore[attr-defined]
    if form.is_valid():
        try:
            services.reply_send(conversation=conversation, author=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Your reply is on its way."))
            return redirect("inbox:conversation", conversation_id=conversation.pk)
    return render(
        request,
        "inbox/conversation_detail.html",
        _detail_context(request, conversation, form),
        status=400,
    )


@permission_required("inbox.change_conversation", raise_exception=True)
@require_POST
def conversation_update(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    action = request.POST.get("action", "")
    if action == "take":
        services.conversation_assign(
            conversation=conversation, assignee=request.user, by=request.user
        )
        messages.success(request, _("The conversation is yours."))
    elif action == "unassign":
        services.conversation_assign(conversation=conversation, assignee=None, by=request.user)
    elif action in Conversation.Status.values and action != Conversation.Status.SNOOZED:
        services.conversation_set_status(conversation=conversation, status=action, by=request.user)
        messages.success(
            request, _("Status: %(status)s.") % {"status": Conversation.Status(action).label}
        )
    elif action == "details":
        try:
            services.conversation_set_priority(
                conversation=conversation, priority=int(request.POST.get("priority", "0") or 0)
            )
        except (ApplicationError, ValueError):
            messages.error(request, _("Unknown priority."))
        services.conversation_set_labels(
            conversation=conversation, names=request.POST.get("labels", "").split(",")
        )
        _reassign(request, conversation)
        messages.success(request, _("Details saved."))
    elif action == "snooze":
        _snooze(request, conversation)
    return redirect("inbox:conversation", conversation_id=conversation.pk)


def _snooze(request: HttpRequest, conversation: Conversation) -> None:
    until = parse_datetime(request.POST.get("until", ""))
    if until is None:
        messages.error(request, _("Choose when the conversation should come back."))
        return
    if timezone.is_naive(until):
        until = timezone.make_aware(until)
    try:
        services.conversation_snooze(conversation=conversation, until=until, by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        when = date_format(timezone.localtime(until), "SHORT_DATETIME_FORMAT")
        messages.success(request, _("Snoozed until %(until)s.") % {"until": when})


@permission_required("inbox.add_message", raise_exception=True)
@require_POST
def conversation_note(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    try:
        services.note_add(
            conversation=conversation,
            author=request.user,
            text=request.POST.get("note", "")[:10_000],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("inbox:conversation", conversation_id=conversation.pk)


@permission_required("inbox.add_message", raise_exception=True)
@require_POST
def delivery_retry(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery.objects.select_related("message"), pk=delivery_id)
    assert delivery.message is not None
    conversation = _conversation(request, delivery.message.conversation_id)
    try:
        services.delivery_retry(delivery=delivery)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("inbox:conversation", conversation_id=conversation.pk)


def outbox_enabled() -> bool:
    return (
        settings.INBOX_EMAIL_BACKEND == "inbox.outbox.EmailBackend"
        or not settings.TWILIO_ACCOUNT_SID
    )


@permission_required("inbox.view_outboxmessage", raise_exception=True)
def outbox(request: HttpRequest) -> HttpResponse:
    if not outbox_enabled():
        raise Http404
    form = SimulateInboundForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.inbound_simulate(
                channel=data["channel"],
                from_address=data["from_address"],
                to_address=data["account"].address,
                subject=data["subject"],
                text=data["text"],
            )
        except ValueError as exc:
            form.add_error("from_address", str(exc))
        else:
            messages.success(
                request, _("The message was received; it appears in the inbox in a moment.")
            )
            return redirect("inbox:outbox")
    return render(request, "inbox/outbox.html", {"form": form, "outbox": selectors.outbox_list()})


# ------------------------------------------------------------------------------------------------
# Phone calls
# ------------------------------------------------------------------------------------------------
@permission_required("inbox.add_message", raise_exception=True)
def call_log(request: HttpRequest, customer_id: int) -> HttpResponse:
    from journeys.models import Customer

    customer = get_object_or_404(Customer, pk=customer_id)
    conversation = None
    if request.GET.get("conversation") or request.POST.get("conversation"):
        conversation_id = request.GET.get("conversation") or request.POST.get("conversation") or "0"
        conversation = _conversation(
            request, int(conversation_id) if conversation_id.isdigit() else 0
        )
        if conversation.customer_id != customer.pk:
            raise Http404
    form = CallLogForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            message = services.call_log(
                customer=customer,
                author=request.user,
                direction=data["direction"],
                duration_seconds=int(data["duration_minutes"] * 60),
                outcome=data["outcome"],
                notes=data["notes"],
                conversation=conversation,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The call was logged."))
            return redirect("inbox:conversation", conversation_id=message.conversation_id)
    return render(
        request,
        "inbox/call_log.html",
        {"form": form, "customer": customer, "conversation": conversation},
    )


# ------------------------------------------------------------------------------------------------
# Settings → Channels (admins)
# ------------------------------------------------------------------------------------------------
@permission_required("inbox.view_channelaccount", raise_exception=True)
def channel_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "inbox/channel_list.html",
        {
            "accounts": selectors.all_channel_accounts(),
            "routing": selectors.team_routing_list(),
            "public_base": settings.PUBLIC_BASE_URL,
        },
    )


@permission_required("inbox.change_channelaccount", raise_exception=True)
def channel_edit(request: HttpRequest, account_id: int | None = None) -> HttpResponse:
    from inbox.models import ChannelAccount

    account = get_object_or_404(ChannelAccount, pk=account_id) if account_id else None
    form = ChannelAccountForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, _("Channel “%(name)s” was saved.") % {"name": saved.name})
        return redirect("inbox:channel-list")
    return render(request, "inbox/channel_form.html", {"form": form, "account": account})


@permission_required("inbox.view_conversation", raise_exception=True)
def conversation_live(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Polled every few seconds by the conversation page: the thread as it is now, and who else
    is viewing or typing (the collision warning)."""
    conversation = _conversation(request, conversation_id)
    presence.presence_touch(
        conversation_id=conversation.pk, user=request.user, typing=request.GET.get("typing") == "1"
    )
    return render(
        request,
        "inbox/_live.html",
        {
            "conversation": conversation,
            "thread": list(conversation.messages.all()),
            "others": presence.presence_others(conversation_id=conversation.pk, user=request.user),
        },
    )


@permission_required("inbox.view_conversation", raise_exception=True)
def conversation_list_rows(request: HttpRequest, view: str) -> HttpResponse:
    """Polled by the list page: its rows as they are now."""
    if view not in selectors.VIEWS or (
        view == "all" and not request.user.has_perm("inbox.view_all_conversations")
    ):
        raise Http404
    channel = request.GET.get("channel", "")
    channel = channel if channel in ChannelKind.values else ""
    page = selectors.conversation_list_for_user(
        user=request.user, view=view, channel=channel, filters=_list_filters(request)
    )
    return render(
        request,
        "inbox/_rows.html",
        {"page": page, "view": view, "filter_query": request.GET.urlencode()},
    )


@permission_required("inbox.view_conversation", raise_exception=True)
@require_POST
def availability(request: HttpRequest) -> HttpResponse:
    services.availability_set(user=request.user, available=request.POST.get("available") == "1")
    return redirect(_safe_next(request))


@permission_required("inbox.change_channelaccount", raise_exception=True)
@require_POST
def team_routing(request: HttpRequest, team_id: int) -> HttpResponse:
    from cxm.accounts.models import Team

    team = get_object_or_404(Team, pk=team_id)
    services.team_routing_set(team=team, auto_assign=request.POST.get("auto_assign") == "1")
    messages.success(request, _("Routing of “%(team)s” was saved.") % {"team": team.name})
    return redirect("inbox:channel-list")


@permission_required("inbox.view_conversation", raise_exception=True)
def attachment_download(request: HttpRequest, attachment_id: int) -> FileResponse:
    """Only for users who may see the conversation; always a download, never shown inline."""
    from inbox.models import Attachment

    attachment = get_object_or_404(Attachment.objects.select_related("message"), pk=attachment_id)
    _conversation(request, attachment.message.conversation_id)
    response = FileResponse(
        attachment.file.open("rb"), as_attachment=True, filename=attachment.filename
    )
    response["Content-Type"] = "application/octet-stream"
    return response


@permission_required("inbox.change_conversation", raise_exception=True)
@require_POST
def bulk_update(request: HttpRequest) -> HttpResponse:
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
    try:
        count = services.conversations_bulk_update(
            user=request.user,
            conversation_ids=ids,
            action=request.POST.get("action", ""),
            label=request.POST.get("label", ""),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(count)d conversations updated.") % {"count": count})
    return redirect(_safe_next(request))


def _int_or_none(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 10 else None


def _list_filters(request: HttpRequest) -> selectors.ListFilters:
    status = request.GET.get("status", "")
    return selectors.ListFilters(
        status=status if status in Conversation.Status.values else "",
        label=request.GET.get("label", "").strip().lower()[:50],
        priority=_int_or_none(request.GET.get("priority", "")),
        team_id=_int_or_none(request.GET.get("team", "")),
        assignee_id=_int_or_none(request.GET.get("assignee", "")),
    )


def _reassign(request: HttpRequest, conversation: Conversation) -> None:
    from cxm.accounts.models import Team, User

    if "team" in request.POST:
        team_id = _int_or_none(request.POST.get("team", ""))
        team = Team.objects.filter(pk=team_id).first() if team_id else None
        conversation = services.conversation_set_team(
            conversation=conversation, team=team, by=request.user
        )
    if "assignee" in request.POST:
        assignee_id = _int_or_none(request.POST.get("assignee", ""))
        assignee = User.objects.filter(pk=assignee_id).first() if assignee_id else None
        try:
            services.conversation_assign(
                conversation=conversation, assignee=assignee, by=request.user
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)


def _safe_next(request: HttpRequest) -> str:
    """Back where the form was, but only on this site."""
    from django.urls import reverse
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("inbox:index")

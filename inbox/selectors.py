"""Every non-trivial read of the inbox, scoped to what the user may see."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from inbox.models import (
    CannedResponse,
    ChannelAccount,
    Conversation,
    Delivery,
    Message,
    OutboxMessage,
)

VIEWS = ("mine", "unassigned", "teams", "sla", "all", "resolved")
AT_RISK = dt.timedelta(minutes=30)
PAGE = 50


def visible_conversations(*, user: Any) -> QuerySet[Conversation]:
    """Agents see their teams' conversations and those assigned to them; admins see all."""
    qs = Conversation.objects.all()
    if user.has_perm("inbox.view_all_conversations"):
        return qs
    team_ids = list(user.teams.values_list("id", flat=True))
    return qs.filter(Q(team_id__in=team_ids) | Q(assignee=user))


@dataclass
class ConversationPage:
    conversations: list[Conversation]
    next_after: str | None
    breached: list[Conversation]


@dataclass
class ListFilters:
    channel: str = ""
    status: str = ""
    label: str = ""
    priority: int | None = None
    team_id: int | None = None
    assignee_id: int | None = None

    def apply(self, qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
        if self.channel:
            qs = qs.filter(channel=self.channel)
        if self.status:
            qs = qs.filter(status=self.status)
        if self.label:
            qs = qs.filter(labels__name=self.label)
        if self.priority is not None:
            qs = qs.filter(priority=self.priority)
        if self.team_id is not None:
            qs = qs.filter(team_id=self.team_id)
        if self.assignee_id is not None:
            qs = qs.filter(assignee_id=self.assignee_id)
        return qs


def conversation_list_for_user(
    *,
    user: Any,
    view: str,
    channel: str = "",
    after: str = "",
    size: int = PAGE,
    filters: ListFilters | None = None,
) -> ConversationPage:
    """One page of a view, newest activity first; breached conversations float to the top of the
    first page. "sla" lists what breaches within the next half hour (or already did), soonest first.

    Each view is written so that it is one range of a partial index (inbox.models.Conversation
    Meta): no OR of visibility rules where the view already implies them.
    """
    now = timezone.now()
    not_resolved = ~Q(status=Conversation.Status.RESOLVED)
    team_ids = list(user.teams.values_list("id", flat=True))
    sees_all = user.has_perm("inbox.view_all_conversations")
    base = Conversation.objects.all()
    if view == "mine":
        qs = base.filter(not_resolved, assignee=user)
    elif view == "unassigned":
        qs = base.filter(not_resolved, assignee__isnull=True)
        qs = qs if sees_all else qs.filter(team_id__in=team_ids)
    elif view == "teams":
        qs = base.filter(not_resolved, team_id__in=team_ids)
    elif view == "resolved":
        qs = visible_conversations(user=user).filter(status=Conversation.Status.RESOLVED)
    else:  # "all" and "sla"
        qs = visible_conversations(user=user).filter(not_resolved)
    if channel:
        qs = qs.filter(channel=channel)
    if filters is not None:
        qs = filters.apply(qs)
    qs = qs.select_related("customer", "assignee", "team", "channel_account").prefetch_related(
        "labels"
    )
    if view == "sla":
        rows = list(qs.filter(sla_due_at__lte=now + AT_RISK).order_by("sla_due_at", "id")[:size])
        return ConversationPage(conversations=rows, next_after=None, breached=[])
    breached: list[Conversation] = []
    if not after and view != "resolved":
        breached = list(qs.filter(sla_due_at__lt=now).order_by("sla_due_at", "id")[:size])
        qs = qs.exclude(pk__in=[c.pk for c in breached])
    if after:
        try:
            stamp, pk = after.split("_", 1)
            moment = dt.datetime.fromtimestamp(float(stamp), tz=dt.UTC)
            qs = qs.filter(
                Q(last_message_at__lte=moment) & (Q(last_message_at__lt=moment) | Q(id__lt=int(pk)))
            )
        except (ValueError, OverflowError, OSError):
            pass
    rows = list(qs.order_by("-last_message_at", "-id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    last = rows[-1] if rows else None
    cursor = (
        f"{last.last_message_at.timestamp():.6f}_{last.pk}"
        if more and last and last.last_message_at
        else None
    )
    return ConversationPage(conversations=rows, next_after=cursor, breached=breached)


def conversation_get_for_user(*, user: Any, conversation_id: int) -> Conversation | None:
    return (
        visible_conversations(user=user)
        .select_related("customer", "assignee", "team", "channel_account")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.select_related("author")
                .prefetch_related(
                    "attachments", Prefetch("deliveries", queryset=Delivery.objects.order_by("-id"))
                )
                .order_by("created_at", "id"),
            ),
            "labels",
        )
        .filter(pk=conversation_id)
        .first()
    )


def outbox_list(*, limit: int = 100) -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.order_by("-created_at", "-id")[:limit]


def all_channel_accounts() -> QuerySet[ChannelAccount]:
    return ChannelAccount.objects.select_related("team", "sla_policy").order_by(
        "-is_active", "kind", "name"
    )


def channel_accounts() -> QuerySet[ChannelAccount]:
    return (
        ChannelAccount.objects.filter(is_active=True)
        .select_related("team")
        .order_by("kind", "name")
    )


def canned_list(*, user: Any) -> QuerySet[CannedResponse]:
    team_ids = list(user.teams.values_list("id", flat=True))
    return CannedResponse.objects.filter(Q(team__isnull=True) | Q(team_id__in=team_ids)).order_by(
        "title"
    )


def canned_get(*, canned_id: str) -> CannedResponse | None:
    return CannedResponse.objects.filter(pk=int(canned_id)).first() if canned_id.isdigit() else None


def team_routing_list() -> list[tuple[Any, bool]]:
    from cxm.accounts.models import Team

    return [
        (team, bool(getattr(getattr(team, "routing", None), "auto_assign", False)))
        for team in Team.objects.select_related("routing").order_by("name")
    ]


def is_available(*, user: Any) -> bool:
    from inbox.models import AgentSetting

    setting = AgentSetting.objects.filter(user=user).first()
    return setting.available if setting else True


MESSAGE_DOCUMENT = (
    "to_tsvector('simple'::regconfig, coalesce(subject, '') || ' ' || coalesce(text, ''))"
)


def conversation_search_for_user(*, user: Any, query: str, size: int = PAGE) -> list[Conversation]:
    """Conversations whose messages or customer match ``query``, most recent first.

    PostgreSQL uses the full-text index on messages and the trigram index on customers; the
    embedded SQLite default falls back to LIKE, which is fine at its size.
    """
    from django.db import connection

    from journeys.selectors import CustomerFilter

    query = query.strip()[:200]
    if not query:
        return []
    messages = Message.objects.all()
    if connection.vendor == "postgresql":
        messages = messages.extra(  # noqa: S610 - constant SQL, the term is a parameter
            where=[f"{MESSAGE_DOCUMENT} @@ plainto_tsquery('simple'::regconfig, %s)"],
            params=[query],
        )
    else:
        for word in query.split()[:5]:
            messages = messages.filter(Q(text__icontains=word) | Q(subject__icontains=word))
    customers = CustomerFilter({"q": query}, queryset=_customers()).qs.values("id")
    matching = Q(pk__in=messages.values("conversation_id")[:2000]) | Q(
        customer_id__in=customers[:2000]
    )
    return list(
        visible_conversations(user=user)
        .filter(matching)
        .select_related("customer", "assignee", "team", "channel_account")
        .prefetch_related("labels")
        .order_by("-last_message_at", "-id")[:size]
    )


def _customers() -> Any:
    from journeys.models import Customer

    return Customer.objects.all()


def filter_choices() -> dict[str, Any]:
    from cxm.accounts.models import Team, User
    from inbox.models import Label

    return {
        "teams": list(Team.objects.order_by("name").values_list("id", "name")),
        "agents": list(
            User.objects.filter(is_active=True, groups__name__in=["agent", "cx_lead", "admin"])
            .distinct()
            .order_by("name")
            .values_list("id", "name")
        ),
        "labels": list(Label.objects.order_by("name").values_list("name", flat=True)[:200]),
    }

"""Every write in the inbox: intake of provider notifications, threading, replies and deliveries."""

from __future__ import annotations

import datetime as dt
import json
import logging
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any

import nh3
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from cxm.errors import ApplicationError
from cxm.jobs import Job, enqueue_on_commit
from cxm.webhooks.payloads import customer_summary
from cxm.webhooks.services import event_publish, event_subscribed
from inbox.channels.base import (
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    ProviderError,
    Receipt,
)
from inbox.models import (
    Attachment,
    ChannelAccount,
    ChannelKind,
    Conversation,
    Delivery,
    InboundEvent,
    Message,
    Suppression,
    new_token,
)
from inbox.signals import agent_replied, message_received
from journeys import services as journeys_services
from journeys.models import Customer

logger = logging.getLogger(__name__)

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ALLOWED_ATTACHMENT_TYPES = re.compile(
    r"^(image/(png|jpeg|gif|webp)|application/pdf|text/plain|text/csv|application/zip|"
    r"application/vnd\.openxmlformats-officedocument\.[a-z.]+|application/msword|application/vnd\.ms-excel|audio/[a-z0-9.+-]+|video/mp4)$"
)
REOPEN_WINDOW = dt.timedelta(days=14)
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "stopp"}
START_WORDS = {"start", "yes", "unstop"}
REPLY_TOKEN_RE = re.compile(r"^reply\+([0-9a-f]{32})@", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------
# Intake: store once, answer 2xx, process in a task
# ------------------------------------------------------------------------------------------------
def inbound_event_record(
    *, provider: str, kind: str, provider_id: str, payload: dict[str, Any]
) -> tuple[InboundEvent, bool]:
    """Store one provider notification exactly once, then ask for processing.

    One statement, committed on its own: ``INSERT … ON CONFLICT DO NOTHING RETURNING id``. When
    it returns, the notification is durable and the webhook may answer 2xx; a duplicate delivery
    inserts nothing. Processing is requested with at most one queue message a second for all
    webhooks together (``_drain_kick``), not one per notification (docs/performance.md).
    Returns ``(event, created)``.
    """
    table = InboundEvent._meta.db_table
    value = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (provider, kind, provider_id, payload, received_at, attempts, error) "  # noqa: S608 - our table
            f"VALUES (%s, %s, %s, {value}, %s, 0, '') "
            "ON CONFLICT (provider, kind, provider_id) DO NOTHING RETURNING id",
            [provider, kind, provider_id[:255], json.dumps(payload), timezone.now()],
        )
        row = cursor.fetchone()
    if row is None:
        existing = InboundEvent.objects.only("id").get(
            provider=provider, kind=kind, provider_id=provider_id[:255]
        )
        logger.info(
            "inbox.inbound.duplicate", extra={"event_id": existing.pk, "provider": provider}
        )
        return existing, False
    _drain_kick()
    return InboundEvent(
        pk=row[0], provider=provider, kind=kind, provider_id=provider_id, payload=payload
    ), True


DRAIN_KICK = "inbox:drain-kick"


def _drain_kick() -> None:
    """Ask a worker to process pending notifications: at most once a second."""
    from django.core.cache import cache

    if cache.add(DRAIN_KICK, 1, timeout=1):
        enqueue_on_commit(Job.INBOX_INBOUND_DRAIN)


def inbound_events_drain(*, limit: int = 500) -> int:
    """Process pending notifications in arrival order.

    While there is work it asks to run again; when it finds none it lifts the once-a-second
    throttle and looks once more, so a notification whose kick was throttled while this drain
    finished is not left waiting (the sweeper stays the backstop).
    """
    from django.core.cache import cache

    pending = InboundEvent.objects.filter(
        processed_at__isnull=True, attempts__lt=MAX_PROCESS_ATTEMPTS
    )
    ids = list(pending.order_by("id").values_list("pk", flat=True)[:limit])
    for event_id in ids:
        try:
            inbound_event_process(event_id=event_id)
        except Exception:  # noqa: S112 - logged and recorded on the event by inbound_event_process
            continue
    if ids:
        enqueue_on_commit(Job.INBOX_INBOUND_DRAIN)
        return len(ids)
    cache.delete(DRAIN_KICK)
    if pending.exists():
        enqueue_on_commit(Job.INBOX_INBOUND_DRAIN)
    return 0


MAX_PROCESS_ATTEMPTS = 5


def inbound_event_process(*, event_id: int) -> None:
    """Process one stored notification; safe to run twice (a processed event is left alone).

    Each try is counted first (in its own transaction); a failure is written on the event, and
    after MAX_PROCESS_ATTEMPTS the sweeper leaves it for a person (log key inbox.inbound.failed).
    """
    InboundEvent.objects.filter(pk=event_id, processed_at__isnull=True).update(
        attempts=F("attempts") + 1
    )
    try:
        with transaction.atomic():
            event = InboundEvent.objects.select_for_update().filter(pk=event_id).first()
            if event is None or event.processed_at is not None:
                return
            if event.kind == InboundEvent.Kind.MESSAGE:
                message_receive(inbound=InboundMessage.from_json(event.payload))
            else:
                delivery_status_apply(status=DeliveryStatus.from_json(event.payload))
            event.processed_at = timezone.now()
            event.error = ""
            event.save(update_fields=["processed_at", "error"])
    except Exception as exc:
        InboundEvent.objects.filter(pk=event_id).update(error=f"{type(exc).__name__}: {exc}"[:2000])
        logger.exception("inbox.inbound.failed", extra={"event_id": event_id})
        raise


# ------------------------------------------------------------------------------------------------
# Inbound messages
# ------------------------------------------------------------------------------------------------
def sanitize_html(html: str) -> str:
    """Email HTML made safe to show: no script, style, form, iframe, event handler or remote image."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags={
            "a",
            "b",
            "blockquote",
            "br",
            "code",
            "div",
            "em",
            "h1",
            "h2",
            "h3",
            "h4",
            "hr",
            "i",
            "li",
            "ol",
            "p",
            "pre",
            "span",
            "strong",
            "table",
            "tbody",
            "td",
            "th",
            "thead",
            "tr",
            "u",
            "ul",
        },
        attributes={
            "a": {"href", "title"},
            "td": {"colspan", "rowspan"},
            "th": {"colspan", "rowspan"},
        },
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def _account_for(inbound: InboundMessage, conversation: Conversation | None) -> ChannelAccount:
    if conversation is not None:
        return conversation.channel_account
    address = inbound.to_address.lower()
    account = ChannelAccount.objects.filter(
        kind=inbound.channel, address__iexact=address, is_active=True
    ).first()
    if account is None:
        account = (
            ChannelAccount.objects.filter(kind=inbound.channel, is_active=True)
            .order_by("id")
            .first()
        )
    if account is None:
        # Nobody set this channel up yet; keep the message in a catch-all account rather than lose it.
        account, _created = ChannelAccount.objects.get_or_create(
            kind=inbound.channel,
            address=address or inbound.channel,
            defaults={"name": address or inbound.channel, "provider": inbound.provider},
        )
    return account


def _customer_for(inbound: InboundMessage) -> Customer:
    if inbound.customer_id is not None:
        known = Customer.objects.filter(pk=inbound.customer_id).first()
        if known is not None:
            return known
    identity: dict[str, Any] = {}
    if inbound.channel == ChannelKind.EMAIL:
        identity["email"] = inbound.from_address
    elif inbound.channel in (ChannelKind.SMS, ChannelKind.WHATSAPP, ChannelKind.PHONE):
        identity["phone"] = inbound.from_address
    else:
        identity["email"] = inbound.from_address
    if inbound.from_name:
        identity["name"] = inbound.from_name
    result = journeys_services.customers_upsert([journeys_services.customer_clean(identity)])[0]
    if result.customer is not None:
        return result.customer
    # An address we cannot normalise (a short code, a malformed From): a customer without identity
    # would break the "has identity" rule, so keep the raw address as an attribute of a record
    # named after it.
    customer = Customer.objects.filter(attributes__raw_address=inbound.from_address).first()
    if customer is None:
        customer = Customer.objects.create(
            external_id=f"raw:{inbound.channel}:{inbound.from_address}"[:100],
            name=inbound.from_name or inbound.from_address,
            attributes={"raw_address": inbound.from_address},
        )
    return customer


def _thread(
    inbound: InboundMessage, customer: Customer, account_hint: ChannelAccount | None
) -> Conversation | None:
    """Find the conversation a message belongs to: reply token → In-Reply-To/References → the
    customer's latest conversation on this channel account (if open, or resolved recently)."""
    match = REPLY_TOKEN_RE.match(inbound.to_address)
    if match:
        found = Conversation.objects.filter(reply_token=match.group(1).lower()).first()
        if found is not None:
            return found
    ids = (
        [inbound.in_reply_to, *inbound.references.split()]
        if inbound.channel == ChannelKind.EMAIL
        else []
    )
    ids = [i.strip() for i in ids if i.strip()]
    if ids:
        found_message = (
            Message.objects.filter(message_id__in=ids[:50])
            .select_related("conversation")
            .order_by("-id")
            .first()
        )
        if found_message is not None:
            return found_message.conversation
    if account_hint is None:
        return None
    latest = (
        Conversation.objects.filter(customer=customer, channel_account=account_hint)
        .order_by("-last_message_at", "-id")
        .first()
    )
    if latest is None:
        return None
    if latest.status != Conversation.Status.RESOLVED:
        return latest
    if (
        latest.resolved_at
        and timezone.now() - latest.resolved_at < REOPEN_WINDOW
        and inbound.channel != ChannelKind.EMAIL
    ):
        return latest
    return None


def _keyword(text: str) -> str:
    return text.strip().strip("!.").lower()


def message_receive(
    *,
    inbound: InboundMessage,
    conversation: Conversation | None = None,
    account: ChannelAccount | None = None,
) -> Message:
    """Thread an inbound message into a conversation and record it on the customer's timeline.

    Our own channels (web chat) may name the conversation and account they already know.
    """
    now = timezone.now()
    customer = _customer_for(inbound)
    if (
        conversation is not None
        and conversation.status == Conversation.Status.RESOLVED
        and inbound.channel == ChannelKind.WEBCHAT
    ):
        conversation = (
            None
            if not conversation.resolved_at or now - conversation.resolved_at > REOPEN_WINDOW
            else conversation
        )
    if conversation is None:
        hint = account
        if hint is None and not REPLY_TOKEN_RE.match(inbound.to_address):
            hint = _account_for(inbound, None)
        conversation = (
            _thread(inbound, customer, hint) if inbound.channel != ChannelKind.WEBCHAT else None
        )
    account = account or _account_for(inbound, conversation)
    if conversation is None:
        conversation = Conversation.objects.create(
            customer=customer,
            channel_account=account,
            channel=inbound.channel,
            subject=(inbound.subject or inbound.text[:80]).strip()[:255],
            team=account.team,
            last_message_at=now,
        )
        auto_assign(conversation=conversation)
        _conversation_created_publish(conversation)
    keyword = (
        _keyword(inbound.text) if inbound.channel in (ChannelKind.SMS, ChannelKind.WHATSAPP) else ""
    )
    if keyword in STOP_WORDS:
        suppression_add(
            channel=inbound.channel,
            address=inbound.from_address,
            reason=Suppression.Reason.STOP,
            customer=conversation.customer,
        )
    elif keyword in START_WORDS:
        suppression_remove(channel=inbound.channel, address=inbound.from_address)

    message = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        channel=inbound.channel,
        subject=inbound.subject,
        text=inbound.text,
        html=sanitize_html(inbound.html),
        from_address=inbound.from_address,
        to_address=inbound.to_address,
        message_id=inbound.message_id,
        in_reply_to=inbound.in_reply_to,
        references=inbound.references[:10_000],
        provider_id=inbound.provider_id,
        is_auto_reply=inbound.auto_submitted,
        data={"media": list(inbound.media_urls)} if inbound.media_urls else {},
        created_at=inbound.received_at or now,
    )
    rejected = _store_attachments(message, inbound)
    if inbound.media_urls and inbound.provider == "twilio":
        enqueue_on_commit(Job.INBOX_MEDIA_FETCH, message_id=message.pk)
    if rejected:
        message.data = {**message.data, "rejected_attachments": rejected}
        message.save(update_fields=["data"])

    updates: dict[str, Any] = {"last_message_at": now}
    if not inbound.auto_submitted:
        # An auto-reply never reopens a conversation or moves its clocks: no mail loops.
        updates["last_customer_message_at"] = now
        if conversation.first_customer_message_at is None:
            updates["first_customer_message_at"] = now
        if conversation.status in (
            Conversation.Status.RESOLVED,
            Conversation.Status.SNOOZED,
            Conversation.Status.PENDING,
        ):
            updates["status"] = Conversation.Status.OPEN
            updates["resolved_at"] = None
            updates["snoozed_until"] = None
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    journeys_services.interaction_record(
        customer=conversation.customer,
        kind="message.received",
        channel=_timeline_channel(inbound.channel),
        occurred_at=message.created_at,
        summary=(inbound.subject or inbound.text)[:200],
        source_type="inbox.conversation",
        source_id=conversation.pk,
        idempotency_key=f"inbox:message:{message.pk}",
    )
    sla_refresh(conversation_id=conversation.pk)
    _message_received_publish(
        message,
        conversation,
        attachments=len(inbound.attachments) - len(rejected) + len(inbound.media_urls),
    )
    payload = {
        "message_id": message.pk,
        "conversation_id": conversation.pk,
        "customer_id": conversation.customer_id,
    }
    transaction.on_commit(lambda: message_received.send(sender=Message, **payload))
    logger.info(
        "inbox.message.received",
        extra={"message_id": message.pk, "conversation_id": conversation.pk},
    )
    return message


def _conversation_created_publish(conversation: Conversation) -> None:
    """Outgoing webhook ``conversation.created``, in the creating transaction (the delivery rows
    commit with the conversation; docs/webhooks.md)."""
    if not event_subscribed("conversation.created"):
        return
    event_publish(
        "conversation.created",
        {
            "conversation_id": conversation.pk,
            "url": settings.PUBLIC_BASE_URL + reverse("inbox:conversation", args=[conversation.pk]),
            "channel": conversation.channel,
            "subject": conversation.subject,
            "status": conversation.status,
            "team_id": conversation.team_id,
            "assignee_id": conversation.assignee_id,
            "customer_id": conversation.customer_id,
            "customer": customer_summary(conversation.customer),
            "created_at": conversation.created_at,
        },
    )


def _message_received_publish(
    message: Message, conversation: Conversation, *, attachments: int
) -> None:
    """Outgoing webhook ``message.received``, in the transaction that stores the message."""
    if not event_subscribed("message.received"):
        return
    event_publish(
        "message.received",
        {
            "message_id": message.pk,
            "conversation_id": conversation.pk,
            "url": settings.PUBLIC_BASE_URL + reverse("inbox:conversation", args=[conversation.pk]),
            "channel": message.channel,
            "from": message.from_address,
            "to": message.to_address,
            "subject": message.subject,
            "text": message.text[:20_000],
            "auto_reply": message.is_auto_reply,
            "attachments": attachments,
            "customer_id": conversation.customer_id,
            "customer": customer_summary(conversation.customer),
            "received_at": message.created_at,
        },
    )


def _timeline_channel(kind: str) -> str:
    return {"webchat": "web", "webform": "web", "api": "other"}.get(kind, kind)


def _store_attachments(message: Message, inbound: InboundMessage) -> list[dict[str, str]]:
    rejected = []
    for item in inbound.attachments:
        content_type = item.content_type.lower() or mimetypes.guess_type(item.filename)[0] or ""
        if len(item.content) > MAX_ATTACHMENT_BYTES:
            rejected.append({"filename": item.filename, "reason": _("Larger than 10 MB.")})
            continue
        if not ALLOWED_ATTACHMENT_TYPES.match(content_type):
            rejected.append({"filename": item.filename, "reason": _("File type not accepted.")})
            continue
        attachment = Attachment(
            message=message,
            filename=item.filename,
            content_type=content_type,
            size=len(item.content),
        )
        attachment.file.save("attachment", ContentFile(item.content), save=False)
        attachment.save()
    return rejected


# ------------------------------------------------------------------------------------------------
# Suppression list
# ------------------------------------------------------------------------------------------------
def suppression_add(
    *, channel: str, address: str, reason: str, customer: Customer | None = None
) -> None:
    """Never send to this address on this channel again (until START); with the customer
    known, their timeline shows it."""
    _row, created = Suppression.objects.get_or_create(
        channel=channel, address=address.lower(), defaults={"reason": reason}
    )
    if created and customer is not None:
        journeys_services.interaction_record(
            customer=customer,
            kind="customer.opted_out",
            channel=_timeline_channel(channel),
            summary=str(Suppression.Reason(reason).label),
            data={"channel": channel, "reason": reason},
        )
    logger.info("inbox.suppression.added", extra={"channel": channel, "reason": reason})


def suppression_remove(*, channel: str, address: str) -> None:
    Suppression.objects.filter(channel=channel, address=address.lower()).delete()


def is_suppressed(*, channel: str, address: str) -> bool:
    return Suppression.objects.filter(channel=channel, address=address.lower()).exists()


# ------------------------------------------------------------------------------------------------
# Delivery status
# ------------------------------------------------------------------------------------------------
def delivery_status_apply(*, status: DeliveryStatus) -> Delivery | None:
    """Move a delivery forward (never back: a late "sent" does not overwrite "delivered")."""
    delivery = (
        Delivery.objects.select_for_update()
        .filter(provider=status.provider, provider_message_id=status.provider_message_id)
        .first()
    )
    if status.hard and status.recipient:
        channel = delivery.channel if delivery else ChannelKind.EMAIL
        reason = status.suppress_reason or Suppression.Reason.BOUNCE
        suppression_add(channel=channel, address=status.recipient, reason=reason)
    if delivery is None:
        logger.info("inbox.delivery.unknown", extra={"provider": status.provider})
        return None
    if Delivery.RANK.get(status.status, 0) > Delivery.RANK.get(delivery.status, 0):
        delivery.status = status.status
        if status.status in (Delivery.Status.FAILED, Delivery.Status.BOUNCED):
            delivery.error = status.reason
        delivery.save(update_fields=["status", "error", "updated_at"])
    return delivery


def reply_address(conversation: Conversation) -> str:
    return f"reply+{conversation.reply_token}@{settings.INBOX_EMAIL_DOMAIN}"


def conversation_url(conversation_id: int) -> str:
    return reverse("inbox:conversation", args=[conversation_id])


# ------------------------------------------------------------------------------------------------
# Outbound: a reply is a message and a delivery row; the provider call happens in a task
# ------------------------------------------------------------------------------------------------
def _address_for(customer: Customer, channel: str) -> str:
    if channel == ChannelKind.EMAIL:
        return customer.email
    if channel in (ChannelKind.SMS, ChannelKind.WHATSAPP):
        return customer.phone
    return ""


def reply_send(
    *, conversation: Conversation, author: Any, text: str, channel: str | None = None
) -> Message:
    """Answer the customer on the conversation's channel (or another one they have)."""
    text = text.strip()
    if not text:
        raise ApplicationError(_("Write a reply first."), field="text")
    channel = channel or conversation.channel
    if channel not in (
        ChannelKind.EMAIL,
        ChannelKind.SMS,
        ChannelKind.WHATSAPP,
        ChannelKind.WEBCHAT,
    ):
        raise ApplicationError(_("Replies cannot be sent on this channel."), field="channel")
    address = _address_for(conversation.customer, channel) if channel != ChannelKind.WEBCHAT else ""
    if channel != ChannelKind.WEBCHAT and not address:
        raise ApplicationError(_("The customer has no address for this channel."), field="channel")
    if address and is_suppressed(channel=channel, address=address):
        raise ApplicationError(
            _("The customer opted out of this channel; choose another."), field="channel"
        )
    now = timezone.now()
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        previous = (
            conversation.messages.exclude(message_id="").order_by("-created_at", "-id").first()
        )
        message = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            channel=channel,
            author=author,
            subject=_reply_subject(conversation.subject) if channel == ChannelKind.EMAIL else "",
            text=text,
            to_address=address,
            message_id=email_message_id() if channel == ChannelKind.EMAIL else "",
            in_reply_to=previous.message_id if previous and channel == ChannelKind.EMAIL else "",
            references=_references(previous) if channel == ChannelKind.EMAIL else "",
            created_at=now,
        )
        if channel != ChannelKind.WEBCHAT:
            delivery = Delivery.objects.create(
                message=message, channel=channel, provider=provider_for(channel), to_address=address
            )
            enqueue_on_commit(Job.INBOX_DELIVERY_SEND, delivery_id=delivery.pk)
        updates: dict[str, Any] = {"last_message_at": now}
        if (
            conversation.first_response_at is None
            and conversation.first_customer_message_at is not None
        ):
            updates["first_response_at"] = now
        if conversation.status == Conversation.Status.OPEN:
            updates["status"] = Conversation.Status.PENDING
        Conversation.objects.filter(pk=conversation.pk).update(**updates)
        journeys_services.interaction_record(
            customer=conversation.customer,
            kind="message.sent",
            channel=_timeline_channel(channel),
            occurred_at=now,
            summary=text[:200],
            source_type="inbox.conversation",
            source_id=conversation.pk,
            idempotency_key=f"inbox:message:{message.pk}",
        )
        _announce_reply(message)
    sla_refresh(conversation_id=conversation.pk)
    return message


def _announce_reply(message: Message) -> None:
    """``agent_replied`` after commit (close-the-loop follow-ups count it as contact)."""
    payload = {
        "message_id": message.pk,
        "conversation_id": message.conversation_id,
        "author_id": message.author_id,
    }
    transaction.on_commit(lambda: agent_replied.send(sender=Message, **payload))


def _reply_subject(subject: str) -> str:
    subject = subject or _("Your message")
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"[:255]


def _references(previous: Message | None) -> str:
    if previous is None:
        return ""
    refs = [*previous.references.split(), previous.message_id]
    return " ".join(refs[-20:])


def email_message_id() -> str:
    from inbox.channels.email import new_message_id

    return new_message_id()


def provider_for(channel: str) -> str:
    if channel == ChannelKind.EMAIL:
        backend = settings.INBOX_EMAIL_BACKEND
        return backend.split(".")[-2] if backend.startswith("anymail.") else "outbox"
    if channel in (ChannelKind.SMS, ChannelKind.WHATSAPP):
        return "twilio" if settings.TWILIO_ACCOUNT_SID else "outbox"
    return "internal"


RETRY_DELAYS = (30, 120, 600, 1800, 3600)
CLAIM = dt.timedelta(minutes=2)  # longer than any provider call (their clients time out at 10-20 s)


def delivery_send(*, delivery_id: int) -> Delivery | None:
    """Send one delivery. The provider call happens outside any transaction; a temporary error
    is retried with backoff, a permanent one fails the delivery with the provider's reason.
    Safe to run twice: only a queued, unclaimed delivery whose retry is due is sent, and the
    task claims it for the length of the provider call."""
    from inbox.channels.base import ProviderError

    now = timezone.now()
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("message__conversation")
            .filter(pk=delivery_id)
            .first()
        )
        if (
            delivery is None
            or delivery.status != Delivery.Status.QUEUED
            or delivery.provider_message_id
            or (delivery.claimed_until and delivery.claimed_until > now)
            or (
                delivery.next_attempt_at
                and delivery.next_attempt_at > now + dt.timedelta(seconds=5)
            )
        ):
            return delivery
        Delivery.objects.filter(pk=delivery.pk).update(
            attempts=F("attempts") + 1, claimed_until=now + CLAIM, next_attempt_at=None
        )
    message = delivery.message
    outbound = (
        _outbound_for(delivery=delivery, message=message, conversation=message.conversation)
        if message is not None
        else _outbound_own(delivery)
    )
    if (
        delivery.channel in (ChannelKind.SMS, ChannelKind.WHATSAPP)
        and delivery.provider == "twilio"
    ):
        later = _pace(delivery, outbound.from_address)
        if later:
            return later
    try:
        receipt = _provider_send(delivery.provider, outbound)
    except ProviderError as exc:
        delivery.refresh_from_db()
        if exc.temporary and delivery.attempts <= len(RETRY_DELAYS):
            delay = RETRY_DELAYS[delivery.attempts - 1]
            delivery.error = exc.reason
            delivery.claimed_until = None
            delivery.next_attempt_at = timezone.now() + dt.timedelta(seconds=delay)
            delivery.save(update_fields=["error", "claimed_until", "next_attempt_at", "updated_at"])
            enqueue_on_commit(
                Job.INBOX_DELIVERY_SEND,
                delivery_id=delivery.pk,
                countdown=delay,
            )
            logger.info(
                "inbox.delivery.retry",
                extra={"delivery_id": delivery.pk, "attempts": delivery.attempts},
            )
        else:
            Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.QUEUED).update(
                status=Delivery.Status.FAILED,
                error=exc.reason,
                claimed_until=None,
                updated_at=timezone.now(),
            )
            logger.info("inbox.delivery.failed", extra={"delivery_id": delivery.pk})
        delivery.refresh_from_db()
        return delivery
    Delivery.objects.filter(pk=delivery.pk).update(
        provider_message_id=receipt.provider_message_id,
        error="",
        claimed_until=None,
        updated_at=timezone.now(),
    )
    status = receipt.status if receipt.status in Delivery.RANK else Delivery.Status.SENT
    with transaction.atomic():
        delivery_status_apply(
            status=DeliveryStatus(
                provider=delivery.provider,
                provider_id=f"receipt:{delivery.pk}",
                provider_message_id=receipt.provider_message_id,
                status=max(status, Delivery.Status.SENT, key=lambda s: Delivery.RANK.get(s, 0)),
            )
        )
    delivery.refresh_from_db()
    return delivery


def delivery_retry(*, delivery: Delivery) -> Delivery:
    """The retry button: a failed delivery goes back to the queue."""
    if delivery.status != Delivery.Status.FAILED:
        raise ApplicationError(_("Only a failed message can be sent again."))
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.QUEUED,
            error="",
            provider_message_id="",
            attempts=0,
            claimed_until=None,
            next_attempt_at=None,
        )
        enqueue_on_commit(Job.INBOX_DELIVERY_SEND, delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def _outbound_for(
    *, delivery: Delivery, message: Message, conversation: Conversation
) -> OutboundMessage:
    account = conversation.channel_account
    if delivery.channel == ChannelKind.EMAIL:
        from_address = (
            account.address if account.kind == ChannelKind.EMAIL else settings.DEFAULT_FROM_EMAIL
        )
        return OutboundMessage(
            channel=delivery.channel,
            to_address=delivery.to_address,
            from_address=from_address,
            subject=message.subject,
            text=message.text,
            reply_to=reply_address(conversation),
            message_id=message.message_id,
            in_reply_to=message.in_reply_to,
            references=message.references,
        )
    sender = account.address if account.kind == delivery.channel else ""
    if not sender:
        sender = (
            ChannelAccount.objects.filter(kind=delivery.channel, is_active=True)
            .values_list("address", flat=True)
            .first()
            or ""
        )
    return OutboundMessage(
        channel=delivery.channel,
        to_address=delivery.to_address,
        from_address=sender,
        text=message.text,
        status_callback=settings.PUBLIC_BASE_URL + reverse("inbox:twilio-status"),
    )


def _pace(delivery: Delivery, sender: str) -> Delivery | None:
    """Keep to the sender's messages-per-second limit (``inbox.pacing``): sleep for a slot that
    is near, or hand the delivery back for later (not counted as an attempt)."""
    import math
    import time

    from inbox import pacing

    rate = (
        ChannelAccount.objects.filter(kind=delivery.channel, address=sender)
        .values_list("send_rate", flat=True)
        .first()
    ) or settings.SMS_SEND_RATE
    wait = pacing.reserve(sender=f"{delivery.channel}:{sender}", rate=rate)
    if wait >= 0:
        time.sleep(wait)
        return None
    delay = math.ceil(-wait)
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            attempts=F("attempts") - 1,
            claimed_until=None,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
        )
        enqueue_on_commit(Job.INBOX_DELIVERY_SEND, delivery_id=delivery.pk, countdown=delay)
    delivery.refresh_from_db()
    return delivery


def _sender_for(channel: str) -> str:
    return (
        ChannelAccount.objects.filter(kind=channel, is_active=True)
        .values_list("address", flat=True)
        .first()
        or ""
    )


def _outbound_own(delivery: Delivery) -> OutboundMessage:
    """A delivery that carries its own content (a survey invitation, not a conversation reply)."""
    if delivery.channel == ChannelKind.EMAIL:
        return OutboundMessage(
            channel=delivery.channel,
            to_address=delivery.to_address,
            from_address=delivery.from_address or settings.DEFAULT_FROM_EMAIL,
            subject=delivery.subject,
            text=delivery.text,
            html=delivery.html,
            headers=dict(delivery.headers),
            # Our own Message-ID: the receipt of a backend without ids (the dev outbox) still
            # names this delivery alone.
            message_id=email_message_id(),
        )
    return OutboundMessage(
        channel=delivery.channel,
        to_address=delivery.to_address,
        from_address=delivery.from_address or _sender_for(delivery.channel),
        text=delivery.text,
        status_callback=settings.PUBLIC_BASE_URL + reverse("inbox:twilio-status"),
    )


@dataclass(frozen=True)
class DeliveryDraft:
    """What another app asks the inbox to send, outside any conversation."""

    channel: str
    to_address: str
    text: str
    subject: str = ""
    html: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    from_address: str = ""


def deliveries_queue(*, drafts: list[DeliveryDraft]) -> list[Delivery]:
    """Queue messages that belong to no conversation (survey invitations): the rows in bulk,
    then, after commit, send tasks in batches. Suppressed addresses are the caller's to skip."""
    rows = Delivery.objects.bulk_create(
        [
            Delivery(
                channel=draft.channel,
                provider=provider_for(draft.channel),
                to_address=draft.to_address,
                subject=draft.subject[:255],
                text=draft.text,
                html=draft.html,
                headers=draft.headers,
                from_address=draft.from_address,
            )
            for draft in drafts
        ],
        batch_size=1000,
    )
    ids = [row.pk for row in rows]
    for start in range(0, len(ids), SEND_BATCH):
        enqueue_on_commit(
            Job.INBOX_DELIVERY_SEND_BATCH, delivery_ids=ids[start : start + SEND_BATCH]
        )
    return rows


SEND_BATCH = 100
# A batch stops starting sends this long before its claim runs out (an ESP call may take this
# long to time out): what is left goes back to the queue rather than risk being sent twice.
SEND_MARGIN = dt.timedelta(seconds=30)


def deliveries_send(*, delivery_ids: list[int]) -> int:
    """Send a batch of deliveries; returns how many this call sent or failed for good.

    Email that carries its own content (survey invitations) goes out together
    (``_emails_send``); anything else one by one, each with its own claim (``delivery_send``).
    """
    ids = list(dict.fromkeys(delivery_ids))
    done, claimed = _emails_send(delivery_ids=ids)
    rest = [pk for pk in ids if pk not in claimed]
    if rest:
        single = set(
            Delivery.objects.filter(pk__in=rest)
            .exclude(channel=ChannelKind.EMAIL, message__isnull=True)
            .values_list("pk", flat=True)
        )
        for delivery_id in rest:
            if delivery_id in single:
                delivery = delivery_send(delivery_id=delivery_id)
                if delivery is not None and delivery.status != Delivery.Status.QUEUED:
                    done += 1
    return done


def _emails_claim(delivery_ids: list[int], now: dt.datetime) -> list[Delivery]:
    """Claim the batch's sendable email deliveries that carry their own content, in one
    ``UPDATE … RETURNING``, by the rules of ``delivery_send``: queued, no provider id yet, no
    live claim, retry due. A row another worker is claiming at the same moment waits for its
    commit and is then re-checked, so it is claimed once."""
    table = Delivery._meta.db_table
    ops = connection.ops
    columns = ("id", "provider", "to_address", "from_address", "subject", "text", "html")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET attempts = attempts + 1, claimed_until = %s, "  # noqa: S608 - our table
            "next_attempt_at = NULL "
            f"WHERE id IN ({', '.join(['%s'] * len(delivery_ids))}) "
            "AND channel = %s AND message_id IS NULL AND status = %s "
            "AND provider_message_id = '' "
            "AND (claimed_until IS NULL OR claimed_until <= %s) "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= %s) "
            f"RETURNING {', '.join(columns)}, headers, attempts",
            [
                ops.adapt_datetimefield_value(now + CLAIM),
                *delivery_ids,
                ChannelKind.EMAIL.value,
                Delivery.Status.QUEUED.value,
                ops.adapt_datetimefield_value(now),
                ops.adapt_datetimefield_value(now + dt.timedelta(seconds=5)),
            ],
        )
        rows = cursor.fetchall()
    order = {pk: n for n, pk in enumerate(delivery_ids)}
    claimed = []
    for row in sorted(rows, key=lambda r: order[r[0]]):
        delivery = Delivery(channel=ChannelKind.EMAIL, **dict(zip(columns, row[:7], strict=True)))
        delivery.headers = json.loads(row[7]) if isinstance(row[7], str) else row[7]
        delivery.attempts = row[8]
        claimed.append(delivery)
    return claimed


def _receipt_record(delivery: Delivery, receipt: Receipt) -> None:
    """One statement per receipt, as it comes: a worker killed mid-batch leaves at most the
    message in flight unrecorded (to be sent again once its claim runs out). Statuses only
    move forward."""
    target = max(
        receipt.status if receipt.status in Delivery.RANK else Delivery.Status.SENT,
        Delivery.Status.SENT,
        key=lambda s: Delivery.RANK.get(s, 0),
    )
    behind = [s for s, rank in Delivery.RANK.items() if rank < Delivery.RANK[target]]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} SET provider_message_id = %s, error = '', "  # noqa: S608 - our table
            "claimed_until = NULL, updated_at = %s, "
            f"status = CASE WHEN status IN ({', '.join(['%s'] * len(behind))}) THEN %s "
            "ELSE status END WHERE id = %s",
            [
                receipt.provider_message_id,
                connection.ops.adapt_datetimefield_value(timezone.now()),
                *behind,
                target,
                delivery.pk,
            ],
        )


def _send_error_record(delivery: Delivery, error: ProviderError) -> int | None:
    """A provider error, as ``delivery_send`` handles it: a temporary one is retried with
    backoff (returns the delay, the caller queues the retry), a permanent one, or one past the
    last retry, fails the delivery with the provider's reason."""
    if error.temporary and delivery.attempts <= len(RETRY_DELAYS):
        delay = RETRY_DELAYS[delivery.attempts - 1]
        Delivery.objects.filter(pk=delivery.pk).update(
            error=error.reason,
            claimed_until=None,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
            updated_at=timezone.now(),
        )
        logger.info(
            "inbox.delivery.retry",
            extra={"delivery_id": delivery.pk, "attempts": delivery.attempts},
        )
        return delay
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.QUEUED).update(
        status=Delivery.Status.FAILED,
        error=error.reason,
        claimed_until=None,
        updated_at=timezone.now(),
    )
    logger.info("inbox.delivery.failed", extra={"delivery_id": delivery.pk})
    return None


def _emails_send(*, delivery_ids: list[int]) -> tuple[int, set[int]]:
    """Send the batch's own-content email deliveries over one ESP connection: one statement
    claims them all, each receipt is recorded as it comes back, retries are queued per delay as
    one batch. Returns how many were sent or failed, and the ids claimed."""
    from inbox.channels import email

    if not delivery_ids:
        return 0, set()
    now = timezone.now()
    deliveries = _emails_claim(delivery_ids, now)
    if not deliveries:
        return 0, set()
    stop_at = now + CLAIM - SEND_MARGIN
    done = 0
    retries: dict[int, list[int]] = {}
    attempted = 0
    results = email.send_many(_outbound_own(d) for d in deliveries)
    try:
        for delivery in deliveries:
            if timezone.now() >= stop_at:
                break
            result = next(results)
            attempted += 1
            if isinstance(result, ProviderError):
                delay = _send_error_record(delivery, result)
                if delay is None:
                    done += 1
                else:
                    retries.setdefault(delay, []).append(delivery.pk)
            else:
                _receipt_record(delivery, result)
                done += 1
    finally:
        results.close()
    left = [d.pk for d in deliveries[attempted:]]
    if left:
        # Not attempted before the claim ran short: back to the queue, not counted as an attempt.
        with transaction.atomic():
            Delivery.objects.filter(pk__in=left).update(
                attempts=F("attempts") - 1, claimed_until=None
            )
            enqueue_on_commit(Job.INBOX_DELIVERY_SEND_BATCH, delivery_ids=left)
    for delay, ids in retries.items():
        enqueue_on_commit(Job.INBOX_DELIVERY_SEND_BATCH, delivery_ids=ids, countdown=delay)
    logger.info(
        "inbox.deliveries.sent",
        extra={"claimed": len(deliveries), "done": done, "left": len(left)},
    )
    return done, {d.pk for d in deliveries}


def _provider_send(provider: str, outbound: OutboundMessage) -> Receipt:
    from inbox import outbox
    from inbox.channels import email, twilio

    if outbound.channel == ChannelKind.EMAIL:
        return email.send(outbound)
    if provider == "twilio":
        return twilio.send(outbound)
    return outbox.send_sms(outbound)


# ------------------------------------------------------------------------------------------------
# Conversation state
# ------------------------------------------------------------------------------------------------
def conversation_assign(*, conversation: Conversation, assignee: Any, by: Any) -> Conversation:
    """Give the conversation to ``assignee`` (or nobody); they are told when someone else did it."""
    from cxm.core.services import notification_send

    if assignee is not None and not (
        assignee.is_active and assignee.has_perm("inbox.view_conversation")
    ):
        raise ApplicationError(_("That person cannot work the inbox."), field="assignee")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",)).get(pk=conversation.pk)
        if conversation.assignee_id == getattr(assignee, "pk", None):
            return conversation
        conversation.assignee = assignee
        conversation.save(update_fields=["assignee"])
        if assignee is not None and getattr(by, "pk", None) != assignee.pk:
            notification_send(
                user=assignee,
                text=_("%(by)s assigned “%(subject)s” to you")
                % {"by": by.get_full_name(), "subject": conversation.subject or conversation.pk},
                url=conversation_url(conversation.pk),
            )
    logger.info(
        "inbox.conversation.assigned",
        extra={"conversation_id": conversation.pk, "by": getattr(by, "pk", None)},
    )
    return conversation


def conversation_set_team(*, conversation: Conversation, team: Any, by: Any) -> Conversation:
    """Move the conversation to another team; an assignee outside that team lets go of it."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",)).get(pk=conversation.pk)
        if conversation.team_id == getattr(team, "pk", None):
            return conversation
        conversation.team = team
        fields = ["team"]
        if (
            team is not None
            and conversation.assignee_id
            and not team.members.filter(pk=conversation.assignee_id).exists()
        ):
            conversation.assignee = None
            fields.append("assignee")
        conversation.save(update_fields=fields)
    sla_refresh(conversation_id=conversation.pk)
    return conversation


def conversation_set_status(*, conversation: Conversation, status: str, by: Any) -> Conversation:
    if status not in Conversation.Status.values:
        raise ApplicationError(_("Unknown status."), field="status")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",)).get(pk=conversation.pk)
        if conversation.status == status:
            return conversation
        conversation.status = status
        conversation.resolved_at = (
            timezone.now() if status == Conversation.Status.RESOLVED else None
        )
        if status != Conversation.Status.SNOOZED:
            conversation.snoozed_until = None
        conversation.save(update_fields=["status", "resolved_at", "snoozed_until"])
        if status == Conversation.Status.RESOLVED:
            journeys_services.interaction_record(
                customer=conversation.customer,
                kind="conversation.resolved",
                channel=_timeline_channel(conversation.channel),
                summary=conversation.subject[:200],
                source_type="inbox.conversation",
                source_id=conversation.pk,
            )
    logger.info(
        "inbox.conversation.status", extra={"conversation_id": conversation.pk, "status": status}
    )
    sla_refresh(conversation_id=conversation.pk)
    return conversation


def inbound_simulate(
    *, channel: str, from_address: str, to_address: str, subject: str, text: str
) -> InboundEvent:
    """The dev outbox's "simulate inbound": play the customer on any channel, through the same
    intake as a provider webhook."""
    import secrets

    if channel == ChannelKind.EMAIL:
        from_address = journeys_services.normalize_email(from_address)
    elif channel in (ChannelKind.SMS, ChannelKind.WHATSAPP):
        from_address = journeys_services.normalize_phone(from_address)
    inbound = InboundMessage(
        provider="simulated",
        provider_id=secrets.token_hex(16),
        channel=channel,
        from_address=from_address,
        to_address=to_address,
        subject=subject,
        text=text,
        message_id=email_message_id() if channel == ChannelKind.EMAIL else "",
        received_at=timezone.now(),
    )
    event, _created = inbound_event_record(
        provider="simulated",
        kind="message",
        provider_id=inbound.provider_id,
        payload=inbound.as_json(),
    )
    return event


# ------------------------------------------------------------------------------------------------
# Phone calls and the API channel
# ------------------------------------------------------------------------------------------------
def call_log(
    *,
    customer: Customer,
    author: Any,
    direction: str,
    duration_seconds: int,
    outcome: str,
    notes: str,
    conversation: Conversation | None = None,
) -> Message:
    """An agent logs a phone call, into an existing conversation or a new phone conversation."""
    if direction not in ("in", "out"):
        raise ApplicationError(_("Choose inbound or outbound."), field="direction")
    if duration_seconds < 0 or duration_seconds > 24 * 3600:
        raise ApplicationError(
            _("The duration must be between 0 seconds and a day."), field="duration_seconds"
        )
    now = timezone.now()
    with transaction.atomic():
        if conversation is None:
            account = (
                ChannelAccount.objects.filter(kind=ChannelKind.PHONE, is_active=True)
                .order_by("id")
                .first()
            )
            if account is None:
                account = ChannelAccount.objects.create(
                    kind=ChannelKind.PHONE, name=_("Phone"), address="phone"
                )
            conversation = Conversation.objects.create(
                customer=customer,
                channel_account=account,
                channel=ChannelKind.PHONE,
                subject=(notes.splitlines()[0] if notes else _("Phone call"))[:255],
                team=account.team,
                assignee=author,
                last_message_at=now,
            )
            _conversation_created_publish(conversation)
        message = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.INBOUND
            if direction == "in"
            else Message.Direction.OUTBOUND,
            channel=ChannelKind.PHONE,
            author=author,
            text=notes.strip(),
            data={
                "call": {
                    "direction": direction,
                    "duration_seconds": duration_seconds,
                    "outcome": outcome,
                }
            },
            created_at=now,
        )
        updates: dict[str, Any] = {"last_message_at": now}
        if direction == "in" and conversation.first_customer_message_at is None:
            updates["first_customer_message_at"] = now
            updates["first_response_at"] = now  # a call answered is a response
        elif (
            direction == "out"
            and conversation.first_response_at is None
            and conversation.first_customer_message_at
        ):
            updates["first_response_at"] = now
        Conversation.objects.filter(pk=conversation.pk).update(**updates)
        journeys_services.interaction_record(
            customer=customer,
            kind="call.logged",
            channel="phone",
            occurred_at=now,
            summary=(notes or outcome)[:200],
            source_type="inbox.conversation",
            source_id=conversation.pk,
            data={"direction": direction, "duration_seconds": duration_seconds, "outcome": outcome},
            idempotency_key=f"inbox:message:{message.pk}",
        )
        _announce_reply(message)
    sla_refresh(conversation_id=message.conversation_id)
    return message


def api_message_receive(
    *, account: ChannelAccount, customer: dict[str, Any], text: str, subject: str, external_id: str
) -> tuple[InboundEvent, bool]:
    """``POST /api/v1/inbox/messages/``: a message from any other system, stored once per
    ``external_id`` and threaded like any other."""
    import secrets

    row = journeys_services.customer_clean(
        {k: v for k, v in customer.items() if k in ("email", "phone", "external_id", "name")}
    )
    if not row.ok:
        field, message = next(iter(row.errors.items()))
        raise ApplicationError(message, field=f"customer.{field}")
    result = journeys_services.customers_upsert([row])[0]
    if result.customer is None:
        field, message = next(iter(result.errors.items()))
        raise ApplicationError(message, field=f"customer.{field}")
    found = result.customer
    inbound = InboundMessage(
        provider="api",
        provider_id=external_id or secrets.token_hex(16),
        channel=ChannelKind.API,
        from_address=found.email or found.phone or (found.external_id or ""),
        to_address=account.address,
        subject=subject,
        text=text,
        from_name=found.name,
        received_at=timezone.now(),
        customer_id=found.pk,
    )
    return inbound_event_record(
        provider=f"api:{account.pk}",
        kind="message",
        provider_id=inbound.provider_id,
        payload=inbound.as_json(),
    )


# ------------------------------------------------------------------------------------------------
# Web chat
# ------------------------------------------------------------------------------------------------
def webchat_message_receive(*, visitor: Any, text: str, page: str = "") -> Message:
    """A visitor's chat message; our own channel, so it is threaded at once (no provider retries)."""
    with transaction.atomic():
        if visitor.customer_id is None:
            customer = Customer.objects.create(
                external_id=f"webchat-visitor-{visitor.pk}", name=_("Website visitor")
            )
            visitor.customer = customer
            visitor.save(update_fields=["customer"])
        inbound = InboundMessage(
            provider="webchat",
            provider_id=new_token(),
            channel=ChannelKind.WEBCHAT,
            from_address=visitor.customer.email or f"visitor-{visitor.pk}",
            to_address=visitor.account.address,
            text=text,
            received_at=timezone.now(),
            customer_id=visitor.customer_id,
        )
        message = message_receive(
            inbound=inbound, conversation=visitor.conversation, account=visitor.account
        )
        if visitor.conversation_id != message.conversation_id:
            visitor.conversation_id = message.conversation_id
            visitor.save(update_fields=["conversation"])
        if page:
            message.data = {**message.data, "page": page}
            message.save(update_fields=["data"])
    return message


def webchat_visitor_identify(*, visitor: Any, email: str, name: str) -> None:
    """The visitor leaves an email address for the reply.

    Anyone can type any address, so it is never taken as proof of identity: if another customer
    already has it, the visitor keeps their own record, the address is noted as *claimed*, and
    an agent can merge the two after checking. Otherwise the visitor's record gets the address.
    """
    try:
        email = journeys_services.normalize_email(email)
    except ValueError as exc:
        raise ApplicationError(str(exc), field="email") from exc
    with transaction.atomic():
        customer = visitor.customer
        if customer is None:
            customer = Customer.objects.create(
                external_id=f"webchat-visitor-{visitor.pk}", name=name or _("Website visitor")
            )
            visitor.customer = customer
            visitor.save(update_fields=["customer"])
        if Customer.objects.filter(email__iexact=email).exclude(pk=customer.pk).exists():
            customer.attributes = {**(customer.attributes or {}), "claimed_email": email}
            customer.save(update_fields=["attributes", "updated_at"])
            logger.info("inbox.webchat.email_claimed", extra={"customer_id": customer.pk})
            return
        customer.email = email
        if name and customer.external_id and customer.external_id.startswith("webchat-visitor-"):
            customer.name = name
        customer.save(update_fields=["email", "name", "updated_at"])


# ------------------------------------------------------------------------------------------------
# The sweeper: work whose task was lost (a wiped broker, a worker killed past the visibility
# timeout) is queued again. Every task is safe to run twice, so sweeping early does no harm.
# ------------------------------------------------------------------------------------------------
def stuck_work_requeue(*, older_than: dt.timedelta = dt.timedelta(minutes=5)) -> dict[str, int]:
    now = timezone.now()
    events = list(
        InboundEvent.objects.filter(
            processed_at__isnull=True,
            received_at__lt=now - older_than,
            attempts__lt=MAX_PROCESS_ATTEMPTS,
        ).values_list("pk", flat=True)[:1000]
    )
    deliveries = list(
        Delivery.objects.filter(
            status=Delivery.Status.QUEUED, provider_message_id="", created_at__lt=now - older_than
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now - older_than))
        .values_list("pk", flat=True)[:1000]
    )
    with transaction.atomic():
        for event_id in events:
            enqueue_on_commit(Job.INBOX_INBOUND_PROCESS, event_id=event_id)
        for delivery_id in deliveries:
            enqueue_on_commit(Job.INBOX_DELIVERY_SEND, delivery_id=delivery_id)
    if events or deliveries:
        logger.info(
            "inbox.sweep.requeued", extra={"events": len(events), "deliveries": len(deliveries)}
        )
    return {"events": len(events), "deliveries": len(deliveries)}


# ------------------------------------------------------------------------------------------------
# Notes, labels, priority, snooze, canned responses
# ------------------------------------------------------------------------------------------------
MENTION_RE = re.compile(r"(?<![\w@])@([\w.+-]{2,64})", re.UNICODE)


def _mentioned_users(text: str, conversation: Conversation) -> list[Any]:
    """Colleagues named with @firstname or @emailname who can see this conversation."""
    from cxm.accounts.models import User

    handles = {h.lower().rstrip(".") for h in MENTION_RE.findall(text)}
    if not handles:
        return []
    candidates = User.objects.filter(is_active=True)
    if conversation.team_id:
        candidates = candidates.filter(
            Q(teams=conversation.team_id)
            | Q(groups__permissions__codename="view_all_conversations")
        )
    found = []
    for user in candidates.distinct().only("id", "email", "name", "language"):
        local = user.email.split("@")[0].lower()
        first = (user.name.split(" ")[0] if user.name else "").lower()
        if local in handles or (first and first in handles):
            found.append(user)
    return found


def note_add(*, conversation: Conversation, author: Any, text: str) -> Message:
    """An internal note; colleagues @mentioned by first name or email name are notified."""
    from cxm.core.services import notification_send

    text = text.strip()
    if not text:
        raise ApplicationError(_("Write a note first."), field="text")
    with transaction.atomic():
        note = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.NOTE,
            channel=conversation.channel,
            author=author,
            text=text,
            created_at=timezone.now(),
        )
        for user in _mentioned_users(text, conversation):
            if user.pk != getattr(author, "pk", None):
                notification_send(
                    user=user,
                    text=_("%(author)s mentioned you in “%(subject)s”")
                    % {
                        "author": author.get_full_name(),
                        "subject": conversation.subject or conversation.pk,
                    },
                    url=conversation_url(conversation.pk) + f"#message-{note.pk}",
                    email=True,
                )
    return note


def conversation_set_priority(*, conversation: Conversation, priority: int) -> Conversation:
    if priority not in Conversation.Priority.values:
        raise ApplicationError(_("Unknown priority."), field="priority")
    Conversation.objects.filter(pk=conversation.pk).update(priority=priority)
    conversation.priority = priority
    sla_refresh(conversation_id=conversation.pk)
    return conversation


def conversation_set_labels(*, conversation: Conversation, names: list[str]) -> Conversation:
    from inbox.models import Label

    cleaned = sorted({n.strip().lower()[:50] for n in names if n.strip()})
    with transaction.atomic():
        labels = [Label.objects.get_or_create(name=name)[0] for name in cleaned]
        conversation.labels.set(labels)
    return conversation


def conversation_snooze(*, conversation: Conversation, until: dt.datetime, by: Any) -> Conversation:
    if until <= timezone.now():
        raise ApplicationError(_("Choose a moment in the future."), field="until")
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(
            status=Conversation.Status.SNOOZED, snoozed_until=until
        )
    conversation.refresh_from_db()
    return conversation


def snoozed_wake() -> int:
    """Snoozed conversations whose time has come are open again (beat, every minute)."""
    return Conversation.objects.filter(
        status=Conversation.Status.SNOOZED, snoozed_until__lte=timezone.now()
    ).update(status=Conversation.Status.OPEN, snoozed_until=None)


def canned_render(*, text: str, conversation: Conversation, agent: Any) -> str:
    customer = conversation.customer
    values = {
        "first_name": (customer.name.split(" ")[0] if customer.name else ""),
        "name": customer.name,
        "agent_name": agent.get_full_name() if agent else "",
    }
    return re.sub(r"\{(first_name|name|agent_name)\}", lambda m: values[m.group(1)], text)


# ------------------------------------------------------------------------------------------------
# SLA due times
# ------------------------------------------------------------------------------------------------
def _policy_for(conversation: Conversation) -> Any:
    from inbox.models import SlaPolicy

    policy = (
        SlaPolicy.objects.filter(team_id=conversation.team_id).first()
        if conversation.team_id
        else None
    )
    return policy or conversation.channel_account.sla_policy


def sla_refresh(*, conversation_id: int) -> None:
    """Recompute a conversation's due times from its policy, priority and messages."""
    from inbox.models import Holiday
    from inbox.sla import add_business_minutes, business_hours_of

    conversation = Conversation.objects.select_related("channel_account__sla_policy").get(
        pk=conversation_id
    )
    policy = _policy_for(conversation)
    target = policy.targets.filter(priority=conversation.priority).first() if policy else None
    dues: dict[str, Any] = {
        "first_response_due_at": None,
        "next_response_due_at": None,
        "resolution_due_at": None,
    }
    if (
        target is not None
        and conversation.status != Conversation.Status.RESOLVED
        and conversation.first_customer_message_at
    ):
        hours = (
            business_hours_of(
                timezone=policy.timezone,
                start=policy.day_start,
                end=policy.day_end,
                workdays=policy.workdays,
                holidays=list(Holiday.objects.values_list("day", flat=True)),
            )
            if policy.business_hours_only
            else None
        )
        start = conversation.first_customer_message_at
        if conversation.first_response_at is None:
            dues["first_response_due_at"] = add_business_minutes(
                start, target.first_response_minutes, hours
            )
        else:
            last_reply = (
                conversation.messages.filter(direction=Message.Direction.OUTBOUND)
                .order_by("-created_at")
                .values_list("created_at", flat=True)
                .first()
            )
            waiting_since = conversation.last_customer_message_at
            if waiting_since and (last_reply is None or waiting_since > last_reply):
                dues["next_response_due_at"] = add_business_minutes(
                    waiting_since, target.next_response_minutes, hours
                )
        dues["resolution_due_at"] = add_business_minutes(start, target.resolution_minutes, hours)
    running = [d for d in dues.values() if d is not None]
    Conversation.objects.filter(pk=conversation.pk).update(
        **dues, sla_due_at=min(running) if running else None
    )


# ------------------------------------------------------------------------------------------------
# Auto-assignment: round robin among the team's available members, under their cap
# ------------------------------------------------------------------------------------------------
def auto_assign(*, conversation: Conversation) -> Any:
    """Give a new conversation to the next available member of its team, if the team routes."""
    from inbox.models import AgentSetting, TeamRouting

    if conversation.team_id is None or conversation.assignee_id is not None:
        return None
    routing = (
        TeamRouting.objects.select_for_update()
        .filter(team_id=conversation.team_id, auto_assign=True)
        .first()
    )
    if routing is None:
        return None
    members = list(routing.team.members.filter(is_active=True).order_by("id"))
    if not members:
        return None
    settings_by_user = {s.user_id: s for s in AgentSetting.objects.filter(user__in=members)}
    open_counts = dict(
        Conversation.objects.filter(
            assignee__in=members, status__in=[Conversation.Status.OPEN, Conversation.Status.PENDING]
        )
        .values_list("assignee")
        .annotate(n=models_count("id"))
        .values_list("assignee", "n")
    )
    start = next((i + 1 for i, m in enumerate(members) if m.pk == routing.last_assigned_id), 0)
    for offset in range(len(members)):
        candidate = members[(start + offset) % len(members)]
        setting = settings_by_user.get(candidate.pk)
        available = setting.available if setting else True
        cap = setting.max_open if setting else 25
        if available and open_counts.get(candidate.pk, 0) < cap:
            Conversation.objects.filter(pk=conversation.pk).update(assignee=candidate)
            routing.last_assigned = candidate
            routing.save(update_fields=["last_assigned"])
            conversation.assignee = candidate
            logger.info(
                "inbox.conversation.auto_assigned",
                extra={"conversation_id": conversation.pk, "user_id": candidate.pk},
            )
            return candidate
    return None


def models_count(field: str) -> Any:
    from django.db.models import Count

    return Count(field)


def availability_set(*, user: Any, available: bool) -> None:
    from inbox.models import AgentSetting

    AgentSetting.objects.update_or_create(user=user, defaults={"available": available})


def team_routing_set(*, team: Any, auto_assign: bool) -> None:
    from inbox.models import TeamRouting

    TeamRouting.objects.update_or_create(team=team, defaults={"auto_assign": auto_assign})


def conversations_bulk_update(
    *, user: Any, conversation_ids: list[int], action: str, label: str = ""
) -> int:
    """Assign to me, resolve or label many conversations; only those the user may see."""
    from inbox.models import Label
    from inbox.selectors import visible_conversations

    targets = list(visible_conversations(user=user).filter(pk__in=conversation_ids[:500]))
    if action == "take":
        for conversation in targets:
            conversation_assign(conversation=conversation, assignee=user, by=user)
    elif action == "resolve":
        for conversation in targets:
            conversation_set_status(
                conversation=conversation, status=Conversation.Status.RESOLVED, by=user
            )
    elif action == "label":
        name = label.strip().lower()[:50]
        if not name:
            raise ApplicationError(_("Name the label."), field="label")
        tag, _created = Label.objects.get_or_create(name=name)
        for conversation in targets:
            conversation.labels.add(tag)
    else:
        raise ApplicationError(_("Unknown action."), field="action")
    return len(targets)


def media_fetch(*, message_id: int) -> int:
    """Download a WhatsApp/MMS message's media into attachments (outside any transaction).
    Safe to run twice: media already stored is skipped."""
    from inbox.channels import twilio
    from inbox.channels.base import InboundAttachment, ProviderError

    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return 0
    urls = message.data.get("media", [])
    done = set(message.data.get("media_fetched", []))
    fetched: list[str] = []
    for url in urls:
        if url in done:
            continue
        try:
            content, content_type = twilio.fetch_media(url)
        except ProviderError as exc:
            logger.info(
                "inbox.media.unavailable",
                extra={"message_id": message.pk, "temporary": exc.temporary},
            )
            if exc.temporary:
                raise  # the task retries
            continue
        filename = (
            f"media-{len(done) + len(fetched) + 1}{mimetypes.guess_extension(content_type) or ''}"
        )
        holder = InboundMessage(
            provider="twilio",
            provider_id="",
            channel=message.channel,
            from_address="",
            to_address="",
            attachments=(InboundAttachment(filename, content_type, content),),
        )
        rejected = _store_attachments(message, holder)
        if rejected:
            message.data = {
                **message.data,
                "rejected_attachments": [*message.data.get("rejected_attachments", []), *rejected],
            }
        fetched.append(url)
    if fetched:
        message.data = {**message.data, "media_fetched": sorted(done | set(fetched))}
        message.save(update_fields=["data"])
    return len(fetched)


def inbound_payloads_purge(*, older_than: dt.timedelta = dt.timedelta(days=30)) -> int:
    """Processed notifications keep their provider id (for once-only intake) but not the message
    they carried: after 30 days the payload is emptied, so erased customers do not linger here."""
    cutoff = timezone.now() - older_than
    return (
        InboundEvent.objects.filter(processed_at__lt=cutoff).exclude(payload={}).update(payload={})
    )

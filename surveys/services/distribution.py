"""Distributing surveys: who is invited, on which channel, when — and who is left out, and why.

A distribution is planned in bulk: one invitation row per customer of its audience (the database
refuses a second one for the same distribution), skipped ones with their reason. Planned
invitations become inbox deliveries when they are due (``invitations_dispatch``, run after
planning and every minute by beat), so schedules, send windows, pause and cancel all come down
to which rows are due. The inbox sends them (claims, retries, suppression webhooks).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from cxm.core.services import audit_record
from cxm.errors import ApplicationError, Conflict
from cxm.jobs import Job, enqueue_on_commit
from inbox import services as inbox
from inbox.models import Suppression
from journeys.models import Customer, Interaction, Touchpoint
from journeys.selectors import CustomerFilter
from surveys.models import Distribution, Invitation, Response, Survey, TriggerRule
from surveys.services.builder import new_token
from surveys.services.responding import language_for

logger = logging.getLogger(__name__)

SEND_CHANNELS = ("email", "sms", "whatsapp")
MERGE_FIELDS = ("first_name", "touchpoint", "agent_name", "link")
MERGE_RE = re.compile(r"\{([^{}]*)\}")
TEXT_KEYS = ("subject", "intro", "sms")
PLAN_CHUNK = 2000
DISPATCH_CHUNK = 1000
OPT_OUT_REASONS = {Suppression.Reason.OPT_OUT, Suppression.Reason.STOP}


def contact_days(distribution: Distribution | None) -> int:
    if distribution is not None and distribution.contact_days is not None:
        return distribution.contact_days
    return settings.SURVEY_CONTACT_DAYS


def merge_fields_check(text: str, field: str) -> None:
    unknown = [name for name in MERGE_RE.findall(text) if name not in MERGE_FIELDS]
    if unknown:
        raise ApplicationError(
            _("Unknown merge field {%(name)s}. Use %(known)s.")
            % {"name": unknown[0], "known": ", ".join(f"{{{name}}}" for name in MERGE_FIELDS)},
            field=field,
        )


def merge(text: str, values: dict[str, str]) -> str:
    return MERGE_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _segment_filter(segment: dict[str, Any]) -> CustomerFilter:
    return CustomerFilter(
        {k: v for k, v in segment.items() if k != "attributes"}, queryset=Customer.objects.all()
    )


def audience_customers(distribution: Distribution) -> QuerySet[Customer]:
    """The customers a distribution is for, in id order (planning walks them in chunks)."""
    customers = Customer.objects.all()
    if distribution.audience == Distribution.Audience.SEGMENT:
        customers = _segment_filter(distribution.segment).qs
        segment = distribution.segment
        for key, value in (segment.get("attributes") or {}).items():
            customers = customers.filter(**{f"attributes__{key}": value})
        now = timezone.now()
        if segment.get("stage"):
            customers = customers.filter(
                Exists(
                    Interaction.objects.filter(
                        customer=OuterRef("pk"), touchpoint__stage_id=segment["stage"]
                    )
                )
            )
        if segment.get("active_days"):
            since = now - dt.timedelta(days=int(segment["active_days"]))
            customers = customers.filter(
                Exists(Interaction.objects.filter(customer=OuterRef("pk"), occurred_at__gte=since))
            )
        if segment.get("unsurveyed_days"):
            since = now - dt.timedelta(days=int(segment["unsurveyed_days"]))
            customers = customers.exclude(
                Exists(Response.objects.filter(customer=OuterRef("pk"), completed_at__gte=since))
            )
    elif distribution.audience == Distribution.Audience.LIST:
        customers = customers.filter(pk__in=distribution.customer_ids)
    elif distribution.audience == Distribution.Audience.API:
        customers = customers.none()
    return customers.order_by("pk")


@transaction.atomic
def distribution_create(
    *,
    survey: Survey,
    name: str,
    audience: str,
    channels: list[str],
    segment: dict[str, Any] | None = None,
    customer_ids: list[int] | None = None,
    prefer_customer_channel: bool = True,
    send_at: dt.datetime | None = None,
    window: tuple[dt.time, dt.time] | None = None,
    expires_days: int | None = None,
    reminder_days: int | None = None,
    contact_days: int | None = None,
    texts: dict[str, dict[str, str]] | None = None,
    reply_mode: bool = False,
    repeat_months: int | None = None,
    by: Any = None,
) -> Distribution:
    """A draft distribution, checked: nothing is planned or sent until it is started."""
    if survey.status != Survey.Status.ACTIVE:
        raise ApplicationError(_("Activate the survey before sending it."), field="survey")
    if not name.strip():
        raise ApplicationError(_("Give the distribution a name."), field="name")
    if audience not in Distribution.Audience.values:
        raise ApplicationError(_("Choose who receives it."), field="audience")
    channels = [c for c in channels if c]
    if not channels or not set(channels) <= set(SEND_CHANNELS):
        raise ApplicationError(
            _("Choose at least one channel: email, SMS or WhatsApp."), field="channels"
        )
    if send_at is not None and send_at < timezone.now() - dt.timedelta(minutes=1):
        raise ApplicationError(_("The send time is in the past."), field="send_at")
    if window is not None and window[0] == window[1]:
        raise ApplicationError(_("The send window is empty."), field="window_start")
    if reminder_days is not None and expires_days is not None and reminder_days >= expires_days:
        raise ApplicationError(
            _("The reminder must go out before the link expires."), field="reminder_days"
        )
    texts = texts or {}
    for language, values in texts.items():
        if language not in survey.languages:
            raise ApplicationError(_("This survey is not offered in that language."), field="texts")
        for key, text in values.items():
            if key not in TEXT_KEYS:
                raise ApplicationError(_("Unknown text."), field="texts")
            merge_fields_check(text, key)
    segment = segment or {}
    if audience == Distribution.Audience.SEGMENT:
        check = _segment_filter(segment)
        if not check.is_valid():
            name_, errors = next(iter(check.errors.items()))
            raise ApplicationError(f"{name_}: {errors[0]}", field="segment")
    if audience == Distribution.Audience.LIST and not customer_ids:
        raise ApplicationError(_("The list has no customers."), field="customers")
    distribution = Distribution.objects.create(
        survey=survey,
        name=name.strip(),
        audience=audience,
        segment=segment,
        customer_ids=sorted(set(customer_ids or [])),
        channels=channels,
        prefer_customer_channel=prefer_customer_channel,
        send_at=send_at,
        window_start=window[0] if window else None,
        window_end=window[1] if window else None,
        expires_days=expires_days,
        reminder_days=reminder_days,
        contact_days=contact_days,
        texts=texts,
        reply_mode=reply_mode,
        repeat_months=repeat_months,
        created_by=by if getattr(by, "pk", None) else None,
    )
    if audience != Distribution.Audience.API and not audience_customers(distribution).exists():
        raise ApplicationError(_("No customer matches this audience."), field="audience")
    return distribution


def distribution_start(*, distribution: Distribution, by: Any) -> Distribution:
    with transaction.atomic():
        distribution = Distribution.objects.select_for_update().get(pk=distribution.pk)
        if distribution.status != Distribution.Status.DRAFT:
            raise Conflict(_("This distribution has already started."))
        distribution.status = Distribution.Status.SENDING
        distribution.started_at = timezone.now()
        distribution.save(update_fields=["status", "started_at"])
        audit_record(
            action="distribution.started",
            actor=by,
            object_type="surveys.distribution",
            object_id=distribution.pk,
        )
        enqueue_on_commit(Job.SURVEYS_PLAN, distribution_id=distribution.pk)
    return distribution


def distribution_set_status(*, distribution: Distribution, status: str, by: Any) -> Distribution:
    """Pause, resume or cancel. Cancelling drops what has not been sent yet."""
    moves = {
        Distribution.Status.PAUSED: {Distribution.Status.SENDING},
        Distribution.Status.SENDING: {Distribution.Status.PAUSED},
        Distribution.Status.CANCELLED: {Distribution.Status.SENDING, Distribution.Status.PAUSED},
    }
    with transaction.atomic():
        distribution = Distribution.objects.select_for_update().get(pk=distribution.pk)
        if distribution.status not in moves.get(status, set()):  # type: ignore[call-overload]
            raise Conflict(_("The distribution cannot go from %(from)s to %(to)s.") % {
                "from": distribution.get_status_display(), "to": status,
            })  # fmt: skip
        distribution.status = status
        if status == Distribution.Status.CANCELLED:
            distribution.finished_at = timezone.now()
            Invitation.objects.filter(
                distribution=distribution, status=Invitation.Status.PLANNED
            ).update(status=Invitation.Status.CANCELLED)
        distribution.save(update_fields=["status", "finished_at"])
        audit_record(
            action=f"distribution.{status}",
            actor=by,
            object_type="surveys.distribution",
            object_id=distribution.pk,
        )
        if status == Distribution.Status.SENDING:
            enqueue_on_commit(Job.SURVEYS_DISPATCH)
    return distribution


# ------------------------------------------------------------------------------------------------
# Planning
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    channel: str = ""
    address: str = ""
    skip: str = ""


def _address(customer: Customer, channel: str) -> str:
    return (customer.email if channel == "email" else customer.phone).strip().lower()


def channel_choose(
    customer: Customer,
    channels: list[str],
    *,
    prefer_customer_channel: bool,
    suppressed: dict[tuple[str, str], str],
) -> Choice:
    """The first channel of the order that reaches the customer and is not opted out of."""
    order = list(channels)
    preferred = customer.preferred_channel
    if prefer_customer_channel and preferred in channels:
        order.remove(preferred)
        order.insert(0, preferred)
    reasons = []
    for channel in order:
        address = _address(customer, channel)
        if not address:
            reasons.append(Invitation.Skip.NO_ADDRESS)
            continue
        reason = suppressed.get((channel, address))
        if reason is not None:
            reasons.append(
                Invitation.Skip.OPTED_OUT
                if reason in OPT_OUT_REASONS
                else Invitation.Skip.SUPPRESSED
            )
            continue
        return Choice(channel=channel, address=address)
    for reason in (Invitation.Skip.OPTED_OUT, Invitation.Skip.SUPPRESSED):
        if reason in reasons:
            return Choice(skip=reason)
    return Choice(skip=Invitation.Skip.NO_ADDRESS)


def _suppressions(customers: list[Customer], channels: list[str]) -> dict[tuple[str, str], str]:
    wanted = {(c, _address(customer, c)) for customer in customers for c in channels}
    addresses = {address for _c, address in wanted if address}
    if not addresses:
        return {}
    return {
        (channel, address): reason
        for channel, address, reason in Suppression.objects.filter(
            channel__in=channels, address__in=addresses
        ).values_list("channel", "address", "reason")
    }


def _recently_invited(customer_ids: list[int], days: int, now: dt.datetime) -> set[int]:
    if days <= 0:
        return set()
    return set(
        Invitation.objects.filter(
            customer_id__in=customer_ids, created_at__gte=now - dt.timedelta(days=days)
        )
        .exclude(status__in=[Invitation.Status.SKIPPED, Invitation.Status.CANCELLED])
        .values_list("customer_id", flat=True)
    )


def send_time(
    start: dt.datetime, customer: Customer, window: tuple[dt.time, dt.time] | None
) -> dt.datetime:
    """``start``, or the next opening of the send window in the customer's timezone."""
    if window is None:
        return start
    try:
        zone = zoneinfo.ZoneInfo(customer.timezone) if customer.timezone else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = None
    local = timezone.localtime(start, zone or timezone.get_default_timezone())
    opens, closes = window
    now_t = local.time()
    inside = opens <= now_t < closes if opens < closes else (now_t >= opens or now_t < closes)
    if inside:
        return start
    day = local.date() if now_t < opens else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, opens, tzinfo=local.tzinfo)


def _chunks(customers: QuerySet[Customer]) -> Iterator[list[Customer]]:
    last = 0
    while True:
        chunk = list(customers.filter(pk__gt=last)[:PLAN_CHUNK])
        if not chunk:
            return
        last = chunk[-1].pk
        yield chunk


def _invitation_rows(
    distribution: Distribution, customers: Iterable[Customer], now: dt.datetime
) -> list[Invitation]:
    survey = distribution.survey
    customers = list(customers)
    suppressed = _suppressions(customers, distribution.channels)
    recent = _recently_invited([c.pk for c in customers], contact_days(distribution), now)
    window = (
        (distribution.window_start, distribution.window_end)
        if distribution.window_start and distribution.window_end
        else None
    )
    start = max(distribution.send_at or now, now)
    rows = []
    for customer in customers:
        choice = channel_choose(
            customer,
            distribution.channels,
            prefer_customer_channel=distribution.prefer_customer_channel,
            suppressed=suppressed,
        )
        skip = choice.skip or (Invitation.Skip.THROTTLED if customer.pk in recent else "")
        due = send_time(start, customer, window)
        expires = (
            due + dt.timedelta(days=distribution.expires_days)
            if distribution.expires_days
            else None
        )
        rows.append(
            Invitation(
                survey=survey,
                distribution=distribution,
                customer=customer,
                token=new_token(),
                channel=choice.channel or distribution.channels[0],
                address=choice.address,
                touchpoint_id=survey.touchpoint_id,
                language=language_for(survey, wanted=[], customer=customer),
                status=Invitation.Status.SKIPPED if skip else Invitation.Status.PLANNED,
                skip_reason=skip,
                send_at=None if skip else due,
                expires_at=expires,
            )
        )
    return rows


def distribution_plan(*, distribution_id: int) -> int:
    """Create the invitations of a started distribution, a chunk at a time (safe to run again:
    the unique constraint leaves customers already planned alone). Returns how many were new."""
    distribution = Distribution.objects.select_related("survey").get(pk=distribution_id)
    if distribution.status not in (Distribution.Status.SENDING, Distribution.Status.PAUSED):
        return 0
    before = distribution.invitations.count()
    for chunk in _chunks(audience_customers(distribution)):
        rows = _invitation_rows(distribution, chunk, timezone.now())
        with transaction.atomic():
            Invitation.objects.bulk_create(rows, ignore_conflicts=True)
            enqueue_on_commit(Job.SURVEYS_DISPATCH)
    with transaction.atomic():
        Distribution.objects.filter(pk=distribution.pk).update(planned_at=timezone.now())
        enqueue_on_commit(Job.SURVEYS_DISPATCH)
    created = distribution.invitations.count() - before
    logger.info(
        "surveys.distribution.planned",
        extra={"distribution_id": distribution.pk, "invitations": created},
    )
    return created


# ------------------------------------------------------------------------------------------------
# Sending
# ------------------------------------------------------------------------------------------------
def invitations_dispatch(*, limit: int = DISPATCH_CHUNK) -> int:
    """Turn due planned invitations of sending distributions into inbox deliveries; rows
    locked with SKIP LOCKED so several workers share the work. Queues itself again while
    there is more."""
    from surveys.messages import invitation_drafts

    now = timezone.now()
    with transaction.atomic():
        # Lock the chunk first, then read it with its relations: one query doing both joined
        # every due row to its customer and sorted them all whenever the planner believed few
        # were due (statistics from before a big plan), 0.35 s a chunk at 100,000 due.
        locked = list(
            Invitation.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=Invitation.Status.PLANNED, send_at__lte=now)
            .filter(
                # Single invitations (the API, trigger rules) belong to no distribution.
                Q(distribution__isnull=True) | Q(distribution__status=Distribution.Status.SENDING)
            )
            .order_by("send_at")
            .values_list("pk", flat=True)[:limit]
        )
        due = list(
            Invitation.objects.select_related("survey", "customer", "touchpoint", "distribution")
            .filter(pk__in=locked)
            .order_by("send_at", "pk")
        )
        if not due:
            _finish_distributions()
            _replan_lost()
            return 0
        finishing = {i.distribution_id for i in due}
        suppressed = {
            (channel, address): reason
            for channel, address, reason in Suppression.objects.filter(
                address__in={i.address for i in due}
            ).values_list("channel", "address", "reason")
        }
        sendable, skipped, later = [], [], []
        for invitation in due:
            reason = suppressed.get((invitation.channel, invitation.address))
            window = _window(invitation.distribution)
            opens = send_time(now, invitation.customer, window) if window else now
            if invitation.expires_at and max(opens, now) >= invitation.expires_at:
                # Paused or held up past its link's expiry: never sent with a dead link.
                invitation.status = Invitation.Status.SKIPPED
                invitation.skip_reason = Invitation.Skip.OUTSIDE_WINDOW
                skipped.append(invitation)
            elif opens > now + dt.timedelta(minutes=1):
                # Due while its window is shut (after a pause, or beat was down): wait for it.
                invitation.send_at = opens
                later.append(invitation)
            elif reason is not None:
                invitation.status = Invitation.Status.SKIPPED
                invitation.skip_reason = (
                    Invitation.Skip.OPTED_OUT
                    if reason in OPT_OUT_REASONS
                    else Invitation.Skip.SUPPRESSED
                )
                skipped.append(invitation)
            else:
                sendable.append(invitation)
        if later:
            Invitation.objects.bulk_update(later, ["send_at"], batch_size=1000)
        deliveries = inbox.deliveries_queue(drafts=invitation_drafts(sendable))
        for invitation, delivery in zip(sendable, deliveries, strict=True):
            invitation.status = Invitation.Status.QUEUED
            invitation.delivery = delivery
        _invitations_queued(sendable)
        Invitation.objects.bulk_update(skipped, ["status", "skip_reason"], batch_size=1000)
        if len(due) == limit:
            enqueue_on_commit(Job.SURVEYS_DISPATCH)
    _finish_distributions(finishing)
    logger.info("surveys.invitations.dispatched", extra={"count": len(sendable)})
    return len(sendable)


def _invitations_queued(invitations: list[Invitation]) -> None:
    """Write the status and delivery of dispatched invitations. On PostgreSQL one
    ``UPDATE … FROM unnest(…)``: ``bulk_update`` builds a ``CASE WHEN id = …`` per row and
    field, about a fifth of a dispatch chunk's time (profiled)."""
    if not invitations:
        return
    if connection.vendor != "postgresql":
        Invitation.objects.bulk_update(invitations, ["status", "delivery"], batch_size=1000)
        return
    table = Invitation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS i SET status = %s, delivery_id = v.delivery_id "  # noqa: S608 - our table
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, delivery_id) WHERE i.id = v.id",
            # Array literals: psycopg's client-side quoting of a Python list of 1,000 ids
            # costs more than the UPDATE.
            [
                Invitation.Status.QUEUED.value,
                "{" + ",".join(str(i.pk) for i in invitations) + "}",
                "{" + ",".join(str(i.delivery_id) for i in invitations) + "}",
            ],
        )


def _replan_lost() -> None:
    """A planning task lost with its worker: planning again is safe (the unique constraint)."""
    for distribution_id in Distribution.objects.filter(
        status=Distribution.Status.SENDING,
        planned_at__isnull=True,
        started_at__lt=timezone.now() - dt.timedelta(minutes=10),
    ).values_list("pk", flat=True):
        enqueue_on_commit(Job.SURVEYS_PLAN, distribution_id=distribution_id)


def _window(distribution: Distribution | None) -> tuple[dt.time, dt.time] | None:
    if distribution and distribution.window_start and distribution.window_end:
        return (distribution.window_start, distribution.window_end)
    return None


def _finish_distributions(ids: set[int | None] | None = None) -> None:
    """Sending distributions that are planned and have nothing left to send are done."""
    candidates = Distribution.objects.filter(
        status=Distribution.Status.SENDING, planned_at__isnull=False
    ).exclude(audience=Distribution.Audience.API)
    if ids is not None:
        candidates = candidates.filter(pk__in=[i for i in ids if i])
    for distribution in candidates:
        planned = distribution.invitations.filter(status=Invitation.Status.PLANNED).exists()
        if not planned and distribution.invitations.exists():
            Distribution.objects.filter(
                pk=distribution.pk, status=Distribution.Status.SENDING
            ).update(status=Distribution.Status.DONE, finished_at=timezone.now())


def reminders_send(*, limit: int = DISPATCH_CHUNK) -> int:
    """One reminder, on the same channel, to those who have not answered after the
    distribution's reminder days (and whose link has not expired)."""
    from surveys.messages import invitation_drafts

    now = timezone.now()
    with transaction.atomic():
        due = list(
            Invitation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("survey", "customer", "touchpoint", "distribution", "delivery")
            .annotate(
                remind_at=ExpressionWrapper(
                    F("send_at") + F("distribution__reminder_days") * Value(dt.timedelta(days=1)),
                    output_field=DateTimeField(),
                )
            )
            .filter(
                distribution__reminder_days__isnull=False,
                distribution__status__in=[Distribution.Status.SENDING, Distribution.Status.DONE],
                status__in=[Invitation.Status.QUEUED, Invitation.Status.OPENED],
                reminder__isnull=True,
                delivery__status__in=["sent", "delivered", "opened"],
                remind_at__lte=now,
            )
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .exclude(
                # Opted out (or bounced) since the invitation: no reminder.
                Exists(
                    Suppression.objects.filter(
                        channel=OuterRef("channel"), address=OuterRef("address")
                    )
                )
            )
            .order_by("send_at")[:limit]
        )
        if not due:
            return 0
        deliveries = inbox.deliveries_queue(drafts=invitation_drafts(due, reminder=True))
        for invitation, delivery in zip(due, deliveries, strict=True):
            invitation.reminder = delivery
        Invitation.objects.bulk_update(due, ["reminder"], batch_size=1000)
    logger.info("surveys.reminders.sent", extra={"count": len(due)})
    return len(due)


def invitation_unsubscribe(*, invitation: Invitation) -> None:
    """The unsubscribe link of an invitation: the address it went to joins the suppression list
    (the one STOP and bounces use), and the customer's timeline shows it."""
    channel = invitation.channel if invitation.channel in SEND_CHANNELS else "email"
    address = invitation.address or _address(invitation.customer, channel)
    if not address:
        return
    with transaction.atomic():
        inbox.suppression_add(
            channel=channel,
            address=address,
            reason=Suppression.Reason.OPT_OUT,
            customer=invitation.customer,
        )


# ------------------------------------------------------------------------------------------------
# One customer at a time (the trigger API)
# ------------------------------------------------------------------------------------------------
def invitation_request(
    *,
    survey: Survey,
    customer: Customer,
    channels: list[str] | None = None,
    touchpoint: Touchpoint | None = None,
    send_at: dt.datetime | None = None,
    distribution: Distribution | None = None,
    merge: dict[str, Any] | None = None,
    trigger: TriggerRule | None = None,
    conversation_id: int | None = None,
) -> Invitation:
    """Invite one customer now (or at ``send_at``) under the contact rules; a customer who is
    left out raises ``Conflict`` with the reason as its code."""
    if survey.status != Survey.Status.ACTIVE:
        raise ApplicationError(_("This survey is not active."), field="survey")
    channels = channels or list(SEND_CHANNELS)
    if not set(channels) <= set(SEND_CHANNELS):
        raise ApplicationError(_("Choose from email, sms and whatsapp."), field="channels")
    now = timezone.now()
    if send_at is not None and send_at < now - dt.timedelta(minutes=1):
        raise ApplicationError(_("The send time is in the past."), field="send_at")
    choice = channel_choose(
        customer,
        channels,
        prefer_customer_channel=True,
        suppressed=_suppressions([customer], channels),
    )
    skip = choice.skip or (
        Invitation.Skip.THROTTLED
        if _recently_invited([customer.pk], contact_days(distribution), now)
        else ""
    )
    if skip:
        error = Conflict(
            _("Not invited: %(reason)s.") % {"reason": Invitation.Skip(skip).label},
            field="customer",
        )
        error.code = skip
        raise error
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                survey=survey,
                distribution=distribution,
                customer=customer,
                token=new_token(),
                channel=choice.channel,
                address=choice.address,
                touchpoint=touchpoint or survey.touchpoint,
                language=language_for(survey, wanted=[], customer=customer),
                status=Invitation.Status.PLANNED,
                send_at=max(send_at or now, now),
                merge={
                    k: v if k == "interaction" else str(v)[:100]
                    for k, v in (merge or {}).items()
                    if k in MERGE_FIELDS or k == "interaction"
                },
                trigger=trigger,
                conversation_id=conversation_id,
            )
            _dispatch_one(invitation)
    except IntegrityError:
        error = Conflict(_("Not invited: already invited by this distribution."), field="customer")
        error.code = Invitation.Skip.DUPLICATE
        raise error from None
    return invitation


def _dispatch_one(invitation: Invitation) -> None:
    """A single invitation due now goes straight to the inbox; a later one waits for beat."""
    from surveys.messages import invitation_draft

    if invitation.send_at and invitation.send_at > timezone.now():
        return
    [delivery] = inbox.deliveries_queue(drafts=[invitation_draft(invitation)])
    invitation.status = Invitation.Status.QUEUED
    invitation.delivery = delivery
    invitation.save(update_fields=["status", "delivery"])


# ------------------------------------------------------------------------------------------------
# Trigger rules: an interaction of a touchpoint (or kind) invites after a delay
# ------------------------------------------------------------------------------------------------
TRIGGER_TARGETS_KEY = "surveys:trigger-targets"
QUIET_KINDS = ("survey.", "customer.opted_out")  # never trigger on our own entries


def trigger_rule_save(
    *,
    survey: Survey,
    touchpoint: Touchpoint | None,
    kind: str,
    delay_minutes: int,
    sample_percent: int,
    channels: list[str],
) -> TriggerRule:
    kind = kind.strip()
    if touchpoint is None and not kind:
        raise ApplicationError(
            _("Choose a touchpoint or name an interaction kind."), field="touchpoint"
        )
    if not 1 <= sample_percent <= 100:
        raise ApplicationError(_("The sample is between 1 and 100 %."), field="sample_percent")
    if not channels or not set(channels) <= set(SEND_CHANNELS):
        raise ApplicationError(
            _("Choose at least one channel: email, SMS or WhatsApp."), field="channels"
        )
    rule = TriggerRule.objects.create(
        survey=survey,
        touchpoint=touchpoint,
        kind=kind,
        delay_minutes=delay_minutes,
        sample_percent=sample_percent,
        channels=channels,
    )
    cache.delete(TRIGGER_TARGETS_KEY)
    return rule


def trigger_rule_delete(*, rule: TriggerRule) -> None:
    rule.delete()
    cache.delete(TRIGGER_TARGETS_KEY)


def trigger_targets() -> tuple[set[int], set[str]]:
    """Touchpoint ids and kinds that active rules listen to (cached: the interaction log is hot)."""
    targets = cache.get(TRIGGER_TARGETS_KEY)
    if targets is None:
        rules = TriggerRule.objects.filter(is_active=True, survey__status=Survey.Status.ACTIVE)
        targets = (
            {r.touchpoint_id for r in rules if r.touchpoint_id},
            {r.kind for r in rules if r.kind},
        )
        cache.set(TRIGGER_TARGETS_KEY, targets, 60)
    return targets


def _sampled(rule: TriggerRule, interaction_id: int) -> bool:
    digest = hashlib.sha256(f"{rule.pk}:{interaction_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < rule.sample_percent


def _conversation_of(interaction: Interaction) -> int | None:
    """The conversation an interaction reports on (``conversation.resolved``), if any."""
    if interaction.source_type == "inbox.conversation" and interaction.source_id.isdigit():
        return int(interaction.source_id)
    return None


def interaction_triggers(*, interaction_id: int) -> list[Invitation]:
    """Invitations for the rules an interaction matches; customers left out by the contact rules
    are logged with the reason. The same interaction never invites twice for a rule."""
    interaction = (
        Interaction.objects.select_related("customer", "touchpoint")
        .filter(pk=interaction_id)
        .first()
    )
    if interaction is None or interaction.kind.startswith(QUIET_KINDS):
        return []
    match = Q(kind=interaction.kind)
    if interaction.touchpoint_id:
        match |= Q(touchpoint_id=interaction.touchpoint_id)
    rules = TriggerRule.objects.select_related("survey").filter(
        match, is_active=True, survey__status=Survey.Status.ACTIVE
    )
    made = []
    for rule in rules:
        if not _sampled(rule, interaction.pk):
            continue
        if Invitation.objects.filter(trigger=rule, merge__interaction=interaction.pk).exists():
            continue  # this task ran before (at-least-once delivery)
        due = max(
            interaction.occurred_at + dt.timedelta(minutes=rule.delay_minutes), timezone.now()
        )
        try:
            made.append(
                invitation_request(
                    survey=rule.survey,
                    customer=interaction.customer,
                    channels=rule.channels,
                    touchpoint=interaction.touchpoint,
                    send_at=due,
                    trigger=rule,
                    merge={"interaction": interaction.pk},
                    conversation_id=_conversation_of(interaction),
                )
            )
        except Conflict as exc:
            logger.info(
                "surveys.trigger.skipped",
                extra={"rule_id": rule.pk, "interaction_id": interaction.pk, "reason": exc.code},
            )
    return made

"""Scheduled report emails: a user's weekly or monthly email of a dashboard.

A subscription keeps the dashboard's filters without the period: the email always covers the
last full week (Monday to Sunday) or the last full month, in ``settings.TIME_ZONE``, and goes
out on Monday or on the 1st at 07:00. One subscription per user, dashboard and filters;
subscribing again changes how often.

The beat task (``metrics.reports.send``, every 15 minutes) claims each due row on its own: a
short transaction locks it with ``SELECT … FOR UPDATE SKIP LOCKED`` and moves ``next_send_at``
on, and only after commit is the email rendered and sent. So a second run, or two workers at
once, never send a report twice; a send that fails puts the claim back and the next run retries.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from cxm.accounts.models import User
from metrics import presenters, selectors
from metrics.filters import NAMES, Filters, filters_parse
from metrics.models import ReportSubscription

logger = logging.getLogger(__name__)

Frequency = ReportSubscription.Frequency
Dashboard = ReportSubscription.Dashboard

SEND_TIME = dt.time(7, 0)
# The period is the email's own (last week or month) and the grain does not change a figure:
# neither is part of what a subscription keeps.
NOT_KEPT = ("period", "from", "to", "grain")
UNSUBSCRIBE_SALT = "metrics.report.unsubscribe"
QUERY_MAX = 1000  # ReportSubscription.query


# ------------------------------------------------------------------------------------------------
# When
# ------------------------------------------------------------------------------------------------
def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def next_send_at(frequency: str, now: dt.datetime) -> dt.datetime:
    """The first send time after ``now``: Monday 07:00 (weekly) or the 1st of the month 07:00
    (monthly), on the local clock, whatever its offset from UTC that day."""
    zone = _zone()
    day = now.astimezone(zone).date()
    if frequency == Frequency.WEEKLY:
        day -= dt.timedelta(days=day.weekday())
    elif frequency == Frequency.MONTHLY:
        day = day.replace(day=1)
    else:
        raise ValueError(frequency)
    while True:
        # Combined per day rather than adding 7 days to a datetime, so that 07:00 stays 07:00
        # across a change to or from summer time.
        candidate = dt.datetime.combine(day, SEND_TIME, tzinfo=zone)
        if candidate > now:
            return candidate
        day = day + dt.timedelta(days=7) if frequency == Frequency.WEEKLY else _next_month(day)


def report_period(frequency: str, now: dt.datetime) -> tuple[dt.date, dt.date]:
    """The last full week (Monday–Sunday) or month before ``now``, on the local calendar."""
    day = now.astimezone(_zone()).date()
    if frequency == Frequency.WEEKLY:
        end = day - dt.timedelta(days=day.weekday() + 1)
        return end - dt.timedelta(days=6), end
    if frequency == Frequency.MONTHLY:
        end = day.replace(day=1) - dt.timedelta(days=1)
        return end.replace(day=1), end
    raise ValueError(frequency)


# ------------------------------------------------------------------------------------------------
# Subscribing
# ------------------------------------------------------------------------------------------------
def query_params(query: str) -> dict[str, str]:
    """The dashboard filters of a query string (other parameters are left out)."""
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True, max_num_fields=100)
    return {name: value for name, value in pairs if name in NAMES}


ID_FILTERS = ("survey", "journey", "stage", "touchpoint", "team", "agent")


def filters_read(
    params: Mapping[str, str], *, user: User | None, today: dt.date | None = None
) -> Filters:
    """``filters_parse`` for input from outside (the API, a subscription's query): values that
    would not reach it whole are refused here with an error naming the filter. "²" passes
    ``str.isdigit`` but not ``int()``, and PostgreSQL refuses text with a NUL character."""
    clean: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in NAMES:
        raw = params.get(name)
        if raw is None:
            continue
        raw = str(raw)
        if "\x00" in raw:
            errors[name] = _("Remove the NUL character.")
        elif name in ID_FILTERS and raw.strip() and not raw.strip().isascii():
            errors[name] = _("Not a valid id.")
        else:
            clean[name] = raw
    f = filters_parse(clean, user=user, today=today)
    return replace(f, errors={**f.errors, **errors}) if errors else f


def _kept_query(f: Filters, *, user: User) -> str:
    params = {k: v for k, v in f.params().items() if k not in NOT_KEPT}
    if not user.has_perm("metrics.view_all_metrics"):
        # Forced to the user's own figures when the email is made; not a choice to keep.
        params.pop("agent", None)
    return urlencode(params)


def report_subscribe(
    *,
    user: User,
    dashboard: str,
    frequency: str,
    query: str,
    now: dt.datetime | None = None,
) -> tuple[ReportSubscription, bool]:
    """Subscribe ``user`` to a dashboard's email with the filters of ``query``; returns the
    subscription and whether it is new. The same dashboard and filters again change how often.

    Raises ``ValidationError`` naming each field at fault (``query.<filter>`` for a filter)."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    if dashboard not in Dashboard.values:
        errors["dashboard"] = [_("Choose one of the dashboards offered.")]
    if frequency not in Frequency.values:
        errors["frequency"] = [_("Choose weekly or monthly.")]
    kept = ""
    if len(query) > QUERY_MAX:
        errors["query"] = [_("The filters are too long to keep.")]
    else:
        f = filters_read(query_params(query), user=user)
        errors.update({f"query.{name}": [message] for name, message in f.errors.items()})
        kept = _kept_query(f, user=user)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # The model has no unique key on (user, dashboard, query): the user's row is the lock
        # that keeps two subscribes at once from both creating one.
        User.objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
        subscription = ReportSubscription.objects.filter(
            user=user, dashboard=dashboard, query=kept
        ).first()
        if subscription is None:
            subscription = ReportSubscription.objects.create(
                user=user,
                dashboard=dashboard,
                frequency=frequency,
                query=kept,
                next_send_at=next_send_at(frequency, now),
            )
            created = True
        else:
            created = False
            if subscription.frequency != frequency:
                subscription.frequency = frequency
                subscription.next_send_at = next_send_at(frequency, now)
                subscription.save(update_fields=["frequency", "next_send_at"])
    logger.info(
        "metrics.report.subscribed",
        extra={"subscription_id": subscription.pk, "user_id": user.pk, "new": created},
    )
    return subscription, created


def report_unsubscribe(*, subscription: ReportSubscription) -> None:
    pk, user_id = subscription.pk, subscription.user_id
    ReportSubscription.objects.filter(pk=pk).delete()
    logger.info("metrics.report.unsubscribed", extra={"subscription_id": pk, "user_id": user_id})


def unsubscribe_token(subscription: ReportSubscription) -> str:
    """The key of the email's unsubscribe link: signed, so it works without signing in; it
    names one subscription of one user, and does nothing once that is gone."""
    return signing.dumps(
        [subscription.pk, subscription.user_id], salt=UNSUBSCRIBE_SALT, compress=True
    )


def unsubscribe_token_read(token: str) -> tuple[int, int] | None:
    """The (subscription id, user id) of a token, or None when it was not made by us."""
    try:
        value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return None
    return value[0], value[1]


def report_subscription_for_token(token: str) -> ReportSubscription | None:
    ids = unsubscribe_token_read(token)
    if ids is None:
        return None
    return ReportSubscription.objects.filter(pk=ids[0], user_id=ids[1]).first()


def report_unsubscribe_by_token(*, token: str) -> bool:
    """Unsubscribe by an email's link; False when the token is not ours. Unsubscribing twice
    is fine (the second time there is nothing left to delete)."""
    ids = unsubscribe_token_read(token)
    if ids is None:
        return False
    deleted, _rows = ReportSubscription.objects.filter(pk=ids[0], user_id=ids[1]).delete()
    if deleted:
        logger.info(
            "metrics.report.unsubscribed",
            extra={"subscription_id": ids[0], "user_id": ids[1], "by": "link"},
        )
    return True


def report_subscriptions_for_user(
    *, user: Any, dashboard: str | None = None
) -> list[ReportSubscription]:
    subscriptions = ReportSubscription.objects.filter(user=user).order_by("dashboard", "pk")
    if dashboard is not None:
        subscriptions = subscriptions.filter(dashboard=dashboard)
    return list(subscriptions)


def report_subscription_get_for_user(*, user: Any, pk: int) -> ReportSubscription | None:
    return ReportSubscription.objects.filter(user=user, pk=pk).first()


# ------------------------------------------------------------------------------------------------
# Describing filters and links
# ------------------------------------------------------------------------------------------------
def dashboard_path(dashboard: str) -> str:
    """The dashboard's page (metrics/urls.py)."""
    if dashboard == Dashboard.OVERVIEW:
        return reverse("metrics:dashboard")
    return reverse(f"metrics:dashboard-{dashboard}")


def _is_id(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and len(raw) < 19


def filters_describe_many(queries: Iterable[str]) -> dict[str, str]:
    """A line naming the filters of each query string ("" for none), with the names of the
    surveys, touchpoints, teams… looked up once for all of them."""
    parsed = {query: query_params(query) for query in set(queries)}
    wanted: dict[str, set[int]] = {}
    for params in parsed.values():
        for name in ID_FILTERS:
            raw = params.get(name, "")
            if _is_id(raw):
                wanted.setdefault(name, set()).add(int(raw))
    names = {name: selectors.labels(name, ids) for name, ids in wanted.items()}
    labels = {
        "survey": _("Survey"),
        "journey": _("Journey"),
        "stage": _("Stage"),
        "touchpoint": _("Touchpoint"),
        "channel": _("Channel"),
        "team": _("Team"),
        "agent": _("Agent"),
        "language": _("Language"),
    }
    out = {}
    for query, params in parsed.items():
        parts = []
        for name, label in labels.items():
            raw = params.get(name, "")
            if not raw:
                continue
            if name in ("channel", "language"):  # codes, not ids
                shown = selectors.labels(name, [raw]).get(raw, raw)
            else:
                shown = names.get(name, {}).get(int(raw), raw) if _is_id(raw) else raw
            parts.append(f"{label}: {shown}")
        if params.get("attribute"):
            parts.append(f"{params['attribute']}: {params.get('value', '')}")
        out[query] = " · ".join(parts)
    return out


# ------------------------------------------------------------------------------------------------
# What each dashboard's email shows: its cards or its table, as the dashboard does
# (metrics/views.py), shaped by the same presenters so the numbers read the same.
# ------------------------------------------------------------------------------------------------
def _overview_cards(f: Filters) -> list[presenters.Card]:
    return [presenters.card(figure) for figure in selectors.overview(f).figures]


def _channels_table(f: Filters) -> presenters.Table:
    return presenters.breakdown_table(
        selectors.breakdown(f, "channel"),
        name="channels",
        caption=_("Figures per channel"),
        by_label=_("Channel"),
        keys=("nps", "csat", "ces", "frt", "handling"),
    )


def _touchpoints_table(f: Filters) -> presenters.Table:
    rows = selectors.breakdown(f, "touchpoint")
    for row in rows:
        if not row.key:
            row.label = _("Not linked to a touchpoint")
    return presenters.breakdown_table(
        rows,
        name="touchpoints",
        caption=_("Figures per touchpoint"),
        by_label=_("Touchpoint"),
        keys=("nps", "csat", "ces"),
    )


def _agents_table(f: Filters) -> presenters.Table:
    rows = [row for row in selectors.breakdown(f, "agent") if row.key]
    rows.sort(key=lambda row: row.label.lower())
    return presenters.breakdown_table(
        rows,
        name="agents",
        caption=_("Figures per agent"),
        by_label=_("Agent"),
        keys=("csat", "nps", "frt", "handling"),
    )


def _visits_table(f: Filters) -> presenters.Table:
    return presenters.intent_table(selectors.visit_intent(f))


def table_lines(table: presenters.Table) -> list[str]:
    """A table as lines of the plain-text email: "Email: Responses 13; NPS +40 (n = 5 …)"."""
    lines = []
    for row in table.rows:
        parts = []
        for column, cell in zip(table.columns[1:], row[1:], strict=False):
            text = f"{column.label} {cell.text}"
            if cell.detail:
                text += f" ({cell.detail})"
            if cell.flag:
                text += f", {cell.flag}"
            parts.append(text)
        lines.append(f"{row[0].text}: " + "; ".join(parts))
    return lines


TABLES: dict[str, Callable[[Filters], presenters.Table]] = {
    Dashboard.CHANNELS: _channels_table,
    Dashboard.TOUCHPOINTS: _touchpoints_table,
    Dashboard.AGENTS: _agents_table,
    Dashboard.VISITS: _visits_table,
}


def period_text(frequency: str, start: dt.date, end: dt.date) -> str:
    if frequency == Frequency.MONTHLY:
        return formats.date_format(start, "F Y")
    return f"{formats.date_format(start, 'j F')} – {formats.date_format(end, 'j F Y')}"


# ------------------------------------------------------------------------------------------------
# The email
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportEmail:
    subject: str
    text: str
    html: str
    headers: dict[str, str]


def report_render(
    *, subscription: ReportSubscription, now: dt.datetime, base_url: str
) -> ReportEmail:
    """The email of one subscription for the last full period before ``now``, in the user's
    language, with the figures the user may see (an agent's own only)."""
    user = subscription.user
    with translation.override(user.language):
        start, end = report_period(subscription.frequency, now)
        params = {
            **query_params(subscription.query),
            "period": "custom",
            "from": start.isoformat(),
            "to": end.isoformat(),
        }
        f = filters_read(params, user=user, today=timezone.localdate(now))
        dashboard = Dashboard(subscription.dashboard)
        cards: list[presenters.Card] = []
        tables: list[presenters.Table] = []
        if f.valid:
            if dashboard == Dashboard.OVERVIEW:
                cards = _overview_cards(f)
            else:
                tables.append(TABLES[dashboard](f))
        period = period_text(subscription.frequency, start, end)
        if subscription.frequency == Frequency.MONTHLY:
            subject = _("%(dashboard)s, monthly report: %(period)s")
        else:
            subject = _("%(dashboard)s, weekly report: %(period)s")
        subject = subject % {"dashboard": dashboard.label, "period": period}
        unsubscribe = base_url + reverse(
            "metrics:report-unsubscribe-token", args=[unsubscribe_token(subscription)]
        )
        context = {
            "user": user,
            "subject": subject,
            "dashboard": dashboard.label,
            "frequency": Frequency(subscription.frequency).label,
            "period": period,
            "filters": filters_describe_many([subscription.query])[subscription.query],
            # Filters that no longer match what exists (a survey deleted since, say).
            "errors": [f"{name}: {message}" for name, message in f.errors.items()],
            "cards": [card for card in cards if card.n],
            # Figures with nothing to compute from are named on one line, not given a row each.
            "empty": ", ".join(card.label for card in cards if not card.n),
            "tables": [{"table": table, "lines": table_lines(table)} for table in tables],
            "small_sample": any(card.small_sample for card in cards)
            or any(cell.flag for table in tables for row in table.rows for cell in row),
            "dashboard_url": f"{base_url}{dashboard_path(dashboard)}?{f.query()}",
            "manage_url": base_url + reverse("metrics:report-list"),
            "unsubscribe_url": unsubscribe,
            "language": translation.get_language(),
        }
        text = render_to_string("metrics/email/report.txt", context)
        html = render_to_string("metrics/email/report.html", context)
    return ReportEmail(
        subject=subject,
        text=text,
        html=html,
        # RFC 2369 and RFC 8058: mail clients offer an unsubscribe button that POSTs the link.
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def _email_send(email: ReportEmail, to: str) -> None:
    message = EmailMultiAlternatives(
        subject=email.subject, body=email.text, to=[to], headers=email.headers
    )
    message.attach_alternative(email.html, "text/html")
    message.send()


# ------------------------------------------------------------------------------------------------
# Sending what is due
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Claim:
    subscription: ReportSubscription
    due: dt.datetime
    last_sent_at: dt.datetime | None


def _claim_next(now: dt.datetime, skip: set[int]) -> _Claim | None:
    """Take the next due subscription: lock it (passing over rows another run holds), move its
    next send time on and commit, so that nobody else sends it."""
    with transaction.atomic():
        subscription = (
            ReportSubscription.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user")
            .filter(next_send_at__lte=now)
            .exclude(pk__in=skip)
            .order_by("next_send_at", "pk")
            .first()
        )
        if subscription is None:
            return None
        claim = _Claim(subscription, subscription.next_send_at, subscription.last_sent_at)
        subscription.next_send_at = next_send_at(subscription.frequency, now)
        subscription.last_sent_at = now
        subscription.save(update_fields=["next_send_at", "last_sent_at"])
    return claim


def _unclaim(claim: _Claim) -> None:
    """Put a failed send back as it was (unless the user changed it meanwhile)."""
    subscription = claim.subscription
    ReportSubscription.objects.filter(
        pk=subscription.pk, next_send_at=subscription.next_send_at
    ).update(next_send_at=claim.due, last_sent_at=claim.last_sent_at)


def _may_receive(user: User) -> bool:
    return bool(user.is_active and user.email and user.has_perm("metrics.view_dashboard"))


def reports_send_due(*, now: dt.datetime | None = None, base_url: str | None = None) -> int:
    """Send every report that is due; returns how many were sent. Safe to run twice or at the
    same time in two workers (see the module's docstring)."""
    now = now or timezone.now()
    base_url = base_url if base_url is not None else settings.PUBLIC_BASE_URL
    sent = 0
    tried: set[int] = set()
    while (claim := _claim_next(now, tried)) is not None:
        subscription = claim.subscription
        tried.add(subscription.pk)
        ids = {"subscription_id": subscription.pk, "user_id": subscription.user_id}
        if not _may_receive(subscription.user):
            # Deactivated, or no longer allowed to see the dashboards: nothing to send, and the
            # subscription waits (a reactivated user gets the next one).
            logger.info("metrics.report.skipped", extra=ids)
            continue
        try:
            email = report_render(subscription=subscription, now=now, base_url=base_url)
            _email_send(email, subscription.user.email)
        except Exception:
            # One report that cannot be made or sent must not hold up the others; it is retried
            # on the next run.
            logger.exception("metrics.report.failed", extra=ids)
            _unclaim(claim)
            continue
        sent += 1
        logger.info("metrics.report.sent", extra=ids)
    return sent


def subscription_rows(subscriptions: list[ReportSubscription]) -> list[dict[str, Any]]:
    """The subscriptions as the pages show them: labels, the filters in words, the dates."""
    described = filters_describe_many(s.query for s in subscriptions)
    return [
        {
            "subscription": s,
            "dashboard": Dashboard(s.dashboard).label,
            "frequency": Frequency(s.frequency).label,
            "filters": described[s.query],
            "dashboard_url": dashboard_path(s.dashboard) + (f"?{s.query}" if s.query else ""),
        }
        for s in subscriptions
    ]

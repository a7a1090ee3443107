"""Recurring distributions (quarterly relational NPS and the like): when a run is due, a copy
starts with the same audience and settings; the contact rules still apply to every customer."""

from __future__ import annotations

import calendar
import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from cxm.jobs import Job, enqueue_on_commit
from surveys.models import Distribution

logger = logging.getLogger(__name__)

COPIED = (
    "survey_id", "name", "audience", "segment", "customer_ids", "channels",
    "prefer_customer_channel", "window_start", "window_end", "expires_days", "reminder_days",
    "contact_days", "texts", "reply_mode", "repeat_months", "created_by_id",
)  # fmt: skip


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def next_run_at(distribution: Distribution) -> dt.datetime | None:
    if not distribution.repeat_months or distribution.started_at is None:
        return None
    return add_months(distribution.started_at, distribution.repeat_months)


def distributions_repeat(*, now: dt.datetime | None = None) -> int:
    """Start the next run of every recurring distribution that is due; safe to run twice (a
    distribution has one next run, enforced by the database)."""
    now = now or timezone.now()
    started = 0
    for distribution in Distribution.objects.filter(
        repeat_months__isnull=False,
        status__in=[Distribution.Status.SENDING, Distribution.Status.DONE],
        next_run__isnull=True,
    ):
        due = next_run_at(distribution)
        if due is None or due > now:
            continue
        values = {name: getattr(distribution, name) for name in COPIED}
        try:
            with transaction.atomic():
                run = Distribution.objects.create(
                    **values,
                    status=Distribution.Status.SENDING,
                    started_at=now,
                    previous=distribution,
                )
                enqueue_on_commit(Job.SURVEYS_PLAN, distribution_id=run.pk)
        except IntegrityError:
            continue
        started += 1
        logger.info(
            "surveys.distribution.repeated",
            extra={"distribution_id": run.pk, "previous_id": distribution.pk},
        )
    return started

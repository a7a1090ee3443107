"""The names of all Celery tasks, and the one way services ask for one.

Services never import ``tasks.py`` (which imports services): they name the job here and it is sent
by name after the surrounding transaction commits, so a task never runs against data that was
rolled back or is not yet visible to the worker.
"""

from __future__ import annotations

import enum
from typing import Any

from django.db import transaction

from cxm.celery import app


class Job(enum.StrEnum):
    ACCOUNTS_PURGE_EXPIRED_SESSIONS = "accounts.purge_expired_sessions"
    ACCOUNTS_SEND_PASSWORD_LINK = "accounts.send_password_link"  # noqa: S105 - a task name
    CORE_PURGE_IDEMPOTENCY_RECORDS = "core.purge_idempotency_records"
    CORE_NOTIFICATION_EMAIL = "core.notification_email"
    INBOX_INBOUND_PROCESS = "inbox.inbound.process"
    INBOX_INBOUND_DRAIN = "inbox.inbound.drain"
    INBOX_DELIVERY_SEND = "inbox.outbound.send"
    INBOX_DELIVERY_SEND_BATCH = "inbox.outbound.send_batch"
    SURVEYS_DISPATCH = "surveys.send.dispatch"
    SURVEYS_PLAN = "surveys.send.plan"
    SURVEYS_REMIND = "surveys.send.remind"
    SURVEYS_TRIGGER = "surveys.trigger"
    SURVEYS_REPLY = "surveys.reply"
    SURVEYS_REPEAT = "surveys.send.repeat"
    METRICS_REFRESH = "metrics.refresh"
    METRICS_REBUILD = "metrics.rebuild"
    METRICS_FOLLOWUP_OPEN = "metrics.followups.open"
    METRICS_FOLLOWUP_CONTACTED = "metrics.followups.contacted"
    METRICS_FOLLOWUPS_ESCALATE = "metrics.followups.escalate"
    METRICS_FOLLOWUPS_SWEEP = "metrics.followups.sweep"
    METRICS_REPORTS_SEND = "metrics.reports.send"
    INBOX_SWEEP = "inbox.sweep"
    INBOX_PURGE_PAYLOADS = "inbox.purge_payloads"
    INBOX_MEDIA_FETCH = "inbox.inbound.media_fetch"
    INBOX_WAKE_SNOOZED = "inbox.wake_snoozed"
    CUSTOMER_IMPORT_SWEEP = "journeys.customer_import_sweep"
    CUSTOMER_IMPORT_RUN = "journeys.customer_import_run"
    PURGE_OLD_IMPORT_FILES = "journeys.purge_old_import_files"
    WEBHOOKS_DELIVER = "webhooks.deliver"
    WEBHOOKS_SWEEP = "webhooks.sweep"
    WEBHOOKS_PURGE = "webhooks.purge"


def enqueue_on_commit(job: Job, /, *, countdown: int | None = None, **kwargs: Any) -> None:
    """Queue ``job`` with keyword arguments (ids, not objects) once the transaction commits."""

    def send() -> None:
        app.send_task(job.value, kwargs=kwargs, countdown=countdown)

    transaction.on_commit(send, robust=False)

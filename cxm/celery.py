"""The Celery application. Settings live in cxm/settings.py under the CELERY_ prefix."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxm.settings")

app = Celery("cxm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["cxm.core", "cxm.accounts", "journeys", "inbox", "surveys", "metrics"])

# Every task name starts with its app, and each app's work goes to its own queue so that a burst
# of outbound sends never delays inbound webhooks (docs/architecture.md).
app.conf.task_routes = {
    "inbox.inbound.*": {"queue": "inbound"},
    "inbox.outbound.*": {"queue": "outbound"},
    "surveys.send.*": {"queue": "outbound"},
    "metrics.*": {"queue": "metrics"},
}

app.conf.beat_schedule = {
    "accounts-purge-expired-sessions": {
        "task": "accounts.purge_expired_sessions",
        "schedule": crontab(hour=3, minute=17),
    },
    "core-purge-idempotency-records": {
        "task": "core.purge_idempotency_records",
        "schedule": crontab(hour=4, minute=5),
    },
    "inbox-sweep": {"task": "inbox.sweep", "schedule": 300.0},
    "inbox-wake-snoozed": {"task": "inbox.wake_snoozed", "schedule": 60.0},
    "inbox-purge-payloads": {
        "task": "inbox.purge_payloads",
        "schedule": crontab(hour=4, minute=23),
    },
    "surveys-dispatch": {"task": "surveys.send.dispatch", "schedule": 60.0},
    "surveys-remind": {"task": "surveys.send.remind", "schedule": 600.0},
    "surveys-repeat": {"task": "surveys.send.repeat", "schedule": 3600.0},
    "metrics-refresh": {"task": "metrics.refresh", "schedule": 60.0},
    "metrics-rebuild": {"task": "metrics.rebuild", "schedule": crontab(hour=2, minute=53)},
    "metrics-followups-escalate": {"task": "metrics.followups.escalate", "schedule": 60.0},
    "metrics-followups-sweep": {"task": "metrics.followups.sweep", "schedule": 60.0},
    "metrics-reports-send": {"task": "metrics.reports.send", "schedule": crontab(minute="*/15")},
    "journeys-customer-import-sweep": {"task": "journeys.customer_import_sweep", "schedule": 300.0},
    "journeys-purge-old-import-files": {
        "task": "journeys.purge_old_import_files",
        "schedule": crontab(hour=3, minute=41),
    },
}

# Outgoing webhooks (docs/webhooks.md): one task per event on the default queue; the sweep
# queues retries that have fallen due (and deliveries whose task was lost), so retry times are
# kept to within its 30 s.
app.autodiscover_tasks(["cxm.webhooks"])
app.conf.beat_schedule["webhooks-sweep"] = {"task": "webhooks.sweep", "schedule": 30.0}
app.conf.beat_schedule["webhooks-purge"] = {
    "task": "webhooks.purge",
    "schedule": crontab(hour=4, minute=47),
}

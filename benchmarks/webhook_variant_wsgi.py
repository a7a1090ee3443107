"""The app's WSGI application with the webhook's store replaced, for ``benchmarks/inbox.py`` only.

What-if cases of the webhook benchmark, to show where the intake's time goes (the app is not
changed): ``CXM_BENCH_WEBHOOK_VARIANT`` names the replacement of
``inbox.services.inbound_event_record``:

* ``upsert-send``: one autocommit ``INSERT … ON CONFLICT ON CONSTRAINT inbox_inboundevent_once DO
  NOTHING RETURNING id`` (no transaction, no exception on a duplicate), then the same Celery
  ``send_task`` as the app when a row was inserted;
* ``upsert``: the same statement without publishing a task per event (a worker would have to
  claim unprocessed events itself).
"""

from __future__ import annotations

import json
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxm.settings")

from django.db import connection

from cxm.jobs import Job, app
from cxm.wsgi import application  # noqa: F401 - what gunicorn serves
from inbox import services

VARIANT = os.environ.get("CXM_BENCH_WEBHOOK_VARIANT", "")
SQL = (
    "INSERT INTO inbox_inboundevent (provider, kind, provider_id, payload, received_at, attempts, "
    "error) VALUES (%s, %s, %s, %s::jsonb, now(), 0, '') ON CONFLICT ON CONSTRAINT "
    "inbox_inboundevent_once DO NOTHING RETURNING id"
)


def _record(*, provider: str, kind: str, provider_id: str, payload: dict[str, Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(SQL, [provider, kind, provider_id, json.dumps(payload)])
        row = cursor.fetchone()
    if row and VARIANT == "upsert-send":
        app.send_task(Job.INBOX_INBOUND_PROCESS.value, kwargs={"event_id": row[0]})
    return row, row is not None


if VARIANT in ("upsert", "upsert-send"):
    services.inbound_event_record = _record

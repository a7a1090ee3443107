"""Outgoing webhooks (issue 8): the cost of publishing an event, and the fan-out of events to five
subscribers through real Celery workers to a receiver on 127.0.0.1.

* **Publish** (in this process, workers stopped): ``event_publish("customer.updated", …)`` in its
  own transaction, as a request does it, timed per event: with no subscriber (the cached list,
  nothing written), and with five subscribers (one ``bulk_create`` of five deliveries, then after
  commit one ``webhooks.deliver`` task for them published to Redis). Statements per publish
  counted.
  The events published with five subscribers are the load of the fan-out below.
* **Fan-out**: the real send path, run by real workers (``celery -A cxm worker --pool prefork
  --concurrency 1``, several processes, ``WEBHOOKS_ALLOW_PRIVATE_TARGETS=true`` in their
  environment, ``LOG_LEVEL=WARNING``), each task sending its event's five deliveries: claiming
  each, resolving and checking the address, signing, POSTing over a new connection, and
  recording the attempt. Then the same with one task per delivery, for the ratio. The receiver is a threaded HTTP/1.1
  server in this process that answers ``200`` and records the arrival time and the
  ``X-Cxm-Delivery`` header of each request. Deliveries per second = deliveries received ÷ the
  time from the first to the last arrival (worker start-up excluded); wall time from the
  workers' start until every delivery is recorded delivered beside it. CPU seconds of the
  workers, PostgreSQL and this process (the receiver) say where the time went.
"""

from __future__ import annotations

import os
import socketserver
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection

from benchmarks.common import Section, Timing, log, ms, verdict

TARGET_PER_S = 200.0
SUBSCRIBERS = 5
WORKERS = 4


class _Handler(socketserver.StreamRequestHandler):
    """HTTP/1.1 read by hand (cheaper than http.server); one request per connection, as cxm's
    sender closes each."""

    server: _Server

    def handle(self) -> None:
        receiver = self.server.receiver
        while True:
            if not self.rfile.readline(65537):
                return
            started = time.thread_time()
            length, delivery = 0, ""
            while True:
                header = self.rfile.readline(65537)
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _sep, value = header.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"x-cxm-delivery":
                    delivery = value.strip().decode()
            self.rfile.read(length)
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
            )
            with receiver.lock:
                receiver.hits.append((time.monotonic(), delivery))
                receiver.cpu += time.thread_time() - started


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    receiver: Receiver


@dataclass
class Receiver:
    hits: list[tuple[float, str]] = field(default_factory=list)
    cpu: float = 0.0
    lock: Any = field(default_factory=threading.Lock)
    server: _Server | None = None

    def start(self) -> Receiver:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.receiver = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def url(self, path: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _reset() -> None:
    from benchmarks.distribution import flush_broker

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE webhooks_webhookattempt, webhooks_webhookdelivery, "
            "webhooks_webhooksubscription RESTART IDENTITY CASCADE"
        )
    flush_broker()  # also empties the cache (the cached subscription list)


def _publish_many(count: int, *, counted: int = 20) -> tuple[Timing, Timing, int]:
    """``count`` events, each in its own transaction; the time of ``event_publish`` inside the
    transaction (the rows) and of the whole (rows, commit and the task publishes). The first
    ``counted`` are not timed: their statements are counted (which slows them down)."""
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    from cxm.webhooks.services import event_publish

    inside: list[float] = []
    whole: list[float] = []
    statements = 0
    event_publish("followup.closed", {})  # the cache, warm (nobody subscribes to this one here)
    for n in range(count):
        data = {"customer_id": n, "changed": ["name"], "customer": {"id": n, "name": f"C {n}"}}
        if n < counted:
            with CaptureQueriesContext(connection) as queries, transaction.atomic():
                event_publish("customer.updated", data)
            # The statements of the publish itself (not the transaction's BEGIN and COMMIT).
            own = [q for q in queries.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
            statements = max(statements, len(own))
            continue
        started = time.perf_counter()
        with transaction.atomic():
            event_publish("customer.updated", data)
            inside.append(time.perf_counter() - started)
        whole.append(time.perf_counter() - started)
    return Timing(inside), Timing(whole), statements


def _db_counters() -> tuple[int, int]:
    """Sessions opened and transactions committed in the database so far (pg_stat_database)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT sessions, xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        sessions, commits = cursor.fetchone()
    return int(sessions), int(commits)


def _status_counts(ids: tuple[int, int]) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, count(*) FROM webhooks_webhookdelivery WHERE id BETWEEN %s AND %s "
            "GROUP BY status",
            list(ids),
        )
        return dict(cursor.fetchall())


def _fan_out(var_dir: Path, receiver: Receiver, *, name: str, time_limit: float) -> dict[str, Any]:
    """Start the workers on what is queued, wait until every pending delivery is finished, and
    measure it (the deliveries of earlier runs are finished already)."""
    from benchmarks.distribution import Workers, _own_cpu, _pg_cpu

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(id), max(id), count(*) FROM webhooks_webhookdelivery "
            "WHERE status = 'pending'"
        )
        low, high, deliveries = cursor.fetchone()
        cursor.execute("SELECT coalesce(max(id), 0) FROM webhooks_webhookattempt")
        attempts_before = int(cursor.fetchone()[0])
    span_ids = (low, high)
    receiver.hits.clear()
    receiver.cpu = 0.0
    connection.close()
    workers = Workers(
        var_dir,
        count=WORKERS,
        env={**os.environ, "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true", "LOG_LEVEL": "WARNING"},
        name=name,
    )
    pg_before, own_before = _pg_cpu(), _own_cpu()
    db_before = _db_counters()
    started = time.monotonic()
    try:
        workers.start_all()
        ready = time.monotonic()
        deadline = started + time_limit
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if _status_counts(span_ids).get("pending", 0) == 0:
                break
        finished = time.monotonic()
        worker_cpu = workers.cpu_total()
        pg_cpu, own_cpu = _pg_cpu() - pg_before, _own_cpu() - own_before
        db_after = _db_counters()
    finally:
        workers.stop_all()
    counts = _status_counts(span_ids)
    hits = sorted(receiver.hits)
    span = max(hits[-1][0] - hits[0][0], 1e-9) if hits else 1e-9
    distinct = len({d for _at, d in hits})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY duration_ms), "
            "count(*) FROM webhooks_webhookattempt WHERE id > %s",
            [attempts_before],
        )
        (p50, p95), attempts = cursor.fetchone()
    return {
        "deliveries": deliveries,
        "received": len(hits),
        "distinct": distinct,
        "duplicates": len(hits) - distinct,
        "succeeded": counts.get("succeeded", 0),
        "failed": counts.get("failed", 0),
        "attempts": attempts,
        "per_s": len(hits) / span if hits else 0.0,
        "span": span,
        "wall": finished - started,
        "startup": ready - started,
        "attempt_p50": p50 or 0.0,
        "attempt_p95": p95 or 0.0,
        "worker_cpu": worker_cpu,
        "pg_cpu": pg_cpu,
        "receiver_cpu": receiver.cpu,
        "own_cpu": own_cpu,
        "sessions": db_after[0] - db_before[0],
        "commits": db_after[1] - db_before[1],
    }


def bench_webhooks(
    var_dir: Path, *, events: int = 2000, time_limit: float = 300.0
) -> tuple[Section, list[Section], dict[str, Any]]:
    from django.conf import settings

    from cxm import jobs
    from cxm.webhooks import services

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    _reset()
    receiver = Receiver().start()
    found: dict[str, Any] = {"events": events, "subscribers": SUBSCRIBERS, "workers": WORKERS}
    try:
        log(f"webhooks: publish {events:,} events with no subscriber")
        _none_inside, none_whole, none_statements = _publish_many(events)
        for n in range(SUBSCRIBERS):
            services.subscription_create(
                name=f"Tool {n}",
                url=receiver.url(f"/tool/{n}"),
                events=["customer.updated"],
                by=None,
            )
        log(f"webhooks: publish {events:,} events to {SUBSCRIBERS} subscribers")
        five_inside, five_whole, five_statements = _publish_many(events)
        found["publish"] = {
            "none": none_whole,
            "none_statements": none_statements,
            "inside": five_inside,
            "whole": five_whole,
            "statements": five_statements,
        }
        log(f"webhooks: {WORKERS} workers send {events * SUBSCRIBERS:,} deliveries")
        found["fanout"] = _fan_out(var_dir, receiver, name="hooks", time_limit=time_limit)

        # The same path with one task per delivery instead of one per event, for the ratio.
        single = max(events // 4, 50)
        real = jobs.app.send_task

        def one_each(name: str, kwargs: Any = None, **options: Any) -> None:
            for pk in (kwargs or {}).get("delivery_ids", []):
                real(name, kwargs={"delivery_ids": [pk]}, **options)

        jobs.app.send_task = one_each  # type: ignore[method-assign]
        try:
            _publish_many(single, counted=0)
        finally:
            jobs.app.send_task = real  # type: ignore[method-assign]
        log(f"webhooks: the same with one task per delivery ({single * SUBSCRIBERS:,})")
        found["single"] = _fan_out(var_dir, receiver, name="hooks1", time_limit=time_limit)
    finally:
        receiver.stop()
    fan = found["fanout"]
    found["ok"] = (
        fan["succeeded"] == fan["deliveries"]
        and fan["received"] == fan["deliveries"]
        and fan["duplicates"] == 0
    )
    return _report(found)


def _report(found: dict[str, Any]) -> tuple[Section, list[Section], dict[str, Any]]:
    publish, fan = found["publish"], found["fanout"]
    events, subscribers, workers = found["events"], found["subscribers"], found["workers"]
    table = Section(
        key="webhooks-targets",
        title="Outgoing webhooks (issue 8)",
        columns=["Target", "Measured", "Result"],
    )
    table.add(
        f"Fan-out of events to {subscribers} subscribers through the real send path: at least "
        f"{TARGET_PER_S:.0f} deliveries/s to a receiver on 127.0.0.1",
        f"{fan['per_s']:,.0f} deliveries/s ({fan['received']:,} in {fan['span']:.1f} s, "
        f"{workers} worker processes); {fan['succeeded']:,} of {fan['deliveries']:,} delivered, "
        f"{fan['duplicates']} duplicates",
        verdict(fan["per_s"] >= TARGET_PER_S and found["ok"]),
    )
    table.add(
        "Publishing is cheap: rows in the request, HTTP never",
        f"{ms(publish['whole'].median_ms)} median per event with {subscribers} subscribers "
        f"(p95 {ms(publish['whole'].p95_ms)}; {publish['statements']} statement); "
        f"{ms(publish['none'].median_ms)} with none ({publish['none_statements']} statements)",
        "pass" if publish["statements"] <= 1 and publish["none_statements"] == 0 else "**FAIL**",
    )

    pub = Section(
        key="webhooks-publish",
        title=f"Publishing an event ({events:,} events, in process)",
        columns=["Case", "Median", "p95", "SQL statements"],
    )
    pub.intro = (
        '`cxm.webhooks.services.event_publish("customer.updated", …)` in a transaction of its '
        "own, as a request does it, workers stopped. With subscribers, the rows are one "
        "`bulk_create`; after commit, one `webhooks.deliver` task for the event's deliveries is "
        "published to Redis (`cxm.jobs.enqueue_on_commit`). The list of active subscriptions "
        "comes from the cache (30 s)."
    )
    pub.add(
        "No subscriber (cached list, nothing written)",
        ms(publish["none"].median_ms),
        ms(publish["none"].p95_ms),
        str(publish["none_statements"]),
    )
    pub.add(
        f"{subscribers} subscribers: `event_publish` inside the transaction (the INSERT)",
        ms(publish["inside"].median_ms),
        ms(publish["inside"].p95_ms),
        str(publish["statements"]),
    )
    pub.add(
        f"{subscribers} subscribers: the whole transaction (INSERT, COMMIT, one task published)",
        ms(publish["whole"].median_ms),
        ms(publish["whole"].p95_ms),
        str(publish["statements"]),
    )

    run = Section(
        key="webhooks-fanout",
        title=f"{fan['deliveries']:,} deliveries through {workers} workers",
        columns=["Measure", "Value"],
    )
    run.intro = (
        f"The {events:,} events published above, {subscribers} deliveries each, sent by {workers} "
        "worker processes (`celery -A cxm worker -Q outbound,default,inbound,metrics --pool "
        "prefork --concurrency 1` each, `LOG_LEVEL=WARNING`, started after the publishing) to a "
        "threaded HTTP/1.1 receiver in the benchmark process that answers 200 at once. One "
        "task per event; every delivery goes through `webhooks.deliver` → "
        "`deliveries_attempt` → `delivery_attempt`: the claim (one `UPDATE … FROM … "
        "RETURNING`), the destination check (resolve, every address checked), the signature, "
        "a new connection to the checked address, and the attempt recorded (one statement: "
        "the attempt's INSERT inside the delivery's UPDATE)."
    )
    cpu_total = fan["worker_cpu"] + fan["pg_cpu"] + fan["receiver_cpu"] + fan["own_cpu"]
    run.add("Deliveries per second (first → last arrival)", f"{fan['per_s']:,.0f}/s")
    run.add(
        "Received / distinct / duplicates",
        f"{fan['received']:,} / {fan['distinct']:,} / {fan['duplicates']}",
    )
    run.add(
        "Delivered / failed / attempts recorded",
        f"{fan['succeeded']:,} / {fan['failed']:,} / {fan['attempts']:,}",
    )
    run.add(
        "Wall time from the workers' start (of it, start-up until all answered a ping)",
        f"{fan['wall']:.1f} s ({fan['startup']:.1f} s)",
    )
    run.add(
        "Database sessions opened / transactions committed during the run",
        f"{fan['sessions']:,} / {fan['commits']:,} "
        f"({fan['commits'] / max(fan['received'], 1):.1f} per delivery)",
    )
    run.add(
        "One attempt's HTTP exchange (`duration_ms`, whole milliseconds), median / p95",
        f"{fan['attempt_p50']:.1f} / {fan['attempt_p95']:.1f} ms",
    )
    run.add(
        "CPU seconds: workers / PostgreSQL / receiver / rest of this process",
        f"{fan['worker_cpu']:.1f} / {fan['pg_cpu']:.1f} / {fan['receiver_cpu']:.1f} / "
        f"{max(fan['own_cpu'] - fan['receiver_cpu'], 0):.1f} s",
    )
    if fan["received"]:
        run.notes.append(
            f"CPU per delivery, everything counted: {cpu_total * 1000 / fan['received']:.2f} ms "
            f"(workers {fan['worker_cpu'] * 1000 / fan['received']:.2f}, PostgreSQL "
            f"{fan['pg_cpu'] * 1000 / fan['received']:.2f}) on two cores."
        )
    single = found.get("single")
    if single and single["received"]:
        one = Section(
            key="webhooks-single",
            title="One task per event against one task per delivery (same run)",
            columns=[
                "Tasks",
                "Deliveries/s",
                "DB sessions opened",
                "Workers + PostgreSQL CPU per delivery",
            ],
        )
        one.intro = (
            f"{single['deliveries']:,} more deliveries published the same way, but queued as one "
            "`webhooks.deliver` task per delivery (the publishing process splits each task), "
            "sent by the same number of workers."
        )
        for label, run_ in (
            (f"One per event ({subscribers} deliveries each)", fan),
            ("One per delivery", single),
        ):
            per = (run_["worker_cpu"] + run_["pg_cpu"]) * 1000 / max(run_["received"], 1)
            one.add(
                label,
                f"{run_['per_s']:,.0f}/s",
                f"{run_['sessions']:,} for {run_['received']:,}",
                f"{per:.2f} ms (workers {run_['worker_cpu'] * 1000 / max(run_['received'], 1):.2f},"
                f" PostgreSQL {run_['pg_cpu'] * 1000 / max(run_['received'], 1):.2f})",
            )
        one.notes.append(
            "Celery's Django fix-up (celery/fixups/django.py, Celery 5.7) closes Django's "
            "database connections before and after **every** task unless `CELERY_DB_REUSE_MAX` "
            "is set, so each task opens a new PostgreSQL connection (a backend process, "
            "authentication, cold catalog caches) whatever `CONN_MAX_AGE` says. With one task "
            "per delivery that connection is most of a delivery's cost; one task per event "
            "shares it among the event's deliveries. `deliveries_attempt` keeps them "
            "independent: each delivery is claimed on its own, and after a failed or slow "
            "attempt the rest of the task's deliveries are queued as tasks of their own."
        )
        sections_extra = [one]
    else:
        sections_extra = []
    notes = findings(found)
    sections = [pub, run, *sections_extra]
    if notes:
        found_section = Section(key="webhooks-findings", title="Found in this run", columns=[])
        found_section.notes += notes
        sections.append(found_section)
    return table, sections, found


def findings(found: dict[str, Any]) -> list[str]:
    fan = found["fanout"]
    notes = []
    if fan["per_s"] < TARGET_PER_S:
        per = (fan["worker_cpu"] + fan["pg_cpu"]) * 1000 / max(fan["received"], 1)
        notes.append(
            f"- **Below {TARGET_PER_S:.0f} deliveries/s**: {fan['per_s']:,.0f}/s, "
            f"{per:.2f} ms of worker and PostgreSQL CPU per delivery on two cores."
        )
    if fan["duplicates"] or fan["failed"]:
        notes.append(
            f"- **{fan['duplicates']} duplicates and {fan['failed']} failed deliveries** in a run "
            "without kills or errors: see the worker logs in the benchmark's var directory."
        )
    return notes


INTRO = (
    "Figures for the speed targets of the outgoing webhooks (issue 8): what publishing an event "
    "costs the request that publishes it, and how fast real workers fan events out to five "
    "subscribers on 127.0.0.1 (`benchmarks/webhooks.py`). This section is written by "
    "`benchmarks/run.py --write` on its own when only this benchmark runs (`--only webhooks`): "
    "it replaces the part of this file between its two markers and leaves every other figure "
    "here as it was."
)


def run(selected: set[str], args: Any, var_dir: Path) -> tuple[Section | None, list[Section]]:
    """The entry of ``benchmarks/run.py``: its table of targets and its sections."""
    if "webhooks" not in selected:
        return None, []
    table, sections, _found = bench_webhooks(var_dir, events=args.webhook_events)
    return table, sections

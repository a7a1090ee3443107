"""Ingestion benchmarks through a real HTTP server: ``POST /api/v1/interactions/`` behind gunicorn.

* **Batches**: ``{"events": [...]}`` of 1,000 events, posted by a client in this process (threads
  of ``http.client``, one keep-alive connection each) to ``gunicorn cxm.wsgi -w 2``. Every event
  names its customer by ``external_id``: most are customers already in the table, some are new
  (with an email and a name); most carry a touchpoint key; each has its own ``idempotency_key``.
  Bounded by a number of batches and a time limit.
* **Single events**: one event per POST, driven by ``wrk`` (Debian package) with a Lua script
  (``benchmarks/single_event.lua``) that gives every request its own idempotency key, so each
  creates one interaction. In the same run, the same load on two baseline views served by the same
  gunicorn command (``benchmarks/baseline_urls.py``): one that only parses the body and one that
  inserts one interaction with the ORM, so the API's figure reads as a ratio.

In-process, the same batch is also run through ``interactions_ingest`` with the queries captured,
to show where a batch's time goes (PostgreSQL or Python).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import random
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection

from benchmarks.common import Section, Timing, log, ms, repeat, verdict
from benchmarks.data import (
    FIRST_NAMES,
    INTERACTION_KINDS,
    bench_touchpoints,
    ensure_customers,
)
from benchmarks.server import Load, Server, gunicorn, have_wrk, post_json, python_load, wrk

HERE = Path(__file__).resolve().parent
TARGET_BATCH_PER_S = 5000.0
TARGET_SINGLE_RPS = 500.0
PATH = "/api/v1/interactions/"
MIN_CUSTOMERS = 100_000


def ingest_token() -> str:
    """A CX lead's API token (the role that may add interactions)."""
    from cxm.accounts.models import User
    from cxm.accounts.services import api_token_create, user_create

    email = "bench-ingest@example.org"
    user = User.objects.filter(email=email).first() or user_create(
        email=email, name="Bench Ingest", roles=["cx_lead"], password="bench-password-1234"
    )
    if not user.has_perm("journeys.add_interaction"):
        raise RuntimeError("the cx_lead role cannot add interactions")
    return api_token_create(user=user, name="ingest benchmark").secret


# ------------------------------------------------------------------------------------------------
# The events
# ------------------------------------------------------------------------------------------------
@dataclass
class Mix:
    new_share: float = 0.2  # events whose customer is not in the table yet
    touchpoint_share: float = 0.9  # events that name a touchpoint


def make_event(
    rng: random.Random, *, key: str, existing: int | None, new_id: str, touchpoint: bool
) -> dict[str, Any]:
    tp_kinds = [k for k in INTERACTION_KINDS if k[0]]
    other_kinds = [k for k in INTERACTION_KINDS if not k[0]]
    tp, channel, kind, summary, _data, _w = rng.choice(tp_kinds if touchpoint else other_kinds)
    number = rng.randrange(1, 99_999)
    if existing is not None:
        customer: dict[str, Any] = {"external_id": f"CX{existing:08d}"}
    else:
        first = rng.choice(FIRST_NAMES)
        customer = {
            "external_id": new_id,
            "email": f"{first.lower()}.{new_id.lower()}@example.net",
            "name": f"{first} {new_id}",
        }
    occurred = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=rng.randrange(30 * 86400))
    event: dict[str, Any] = {
        "kind": kind,
        "occurred_at": occurred.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "customer": customer,
        "summary": summary.format(n=number),
        "data": {"ref": f"A{number}", "source": "benchmark"},
        "idempotency_key": key,
    }
    if touchpoint and tp:
        event["touchpoint"] = tp
    else:
        event["channel"] = channel
    return event


def make_batches(
    count: int, size: int, *, customers: int, mix: Mix, nonce: str, seed: int = 31
) -> list[list[dict[str, Any]]]:
    """``count`` batches of ``size`` events, each naming distinct customers."""
    rng = random.Random(seed)
    batches = []
    for b in range(count):
        new = round(size * mix.new_share)
        existing = rng.sample(range(customers), size - new)
        slots: list[int | None] = [*existing, *([None] * new)]
        rng.shuffle(slots)
        batches.append(
            [
                make_event(
                    rng,
                    key=f"bench-{nonce}-{b}-{j}",
                    existing=slot,
                    new_id=f"EV{nonce}-{b}-{j}",
                    touchpoint=rng.random() < mix.touchpoint_share,
                )
                for j, slot in enumerate(slots)
            ]
        )
    return batches


# ------------------------------------------------------------------------------------------------
# Batches over HTTP
# ------------------------------------------------------------------------------------------------
@dataclass
class BatchRun:
    concurrency: int
    batches: int
    events: int
    created: int
    wall_s: float
    latency: Timing
    statuses: dict[int, int] = field(default_factory=dict)
    stopped_early: bool = False

    @property
    def per_s(self) -> float:
        return self.created / self.wall_s


def post_batches(
    port: int, token: str, bodies: list[bytes], *, concurrency: int, time_limit: float
) -> BatchRun:
    """POST every body (or until ``time_limit``) from ``concurrency`` keep-alive connections."""
    lock = threading.Lock()
    queue = list(range(len(bodies)))
    latencies: list[float] = []
    created = [0, 0]  # created, events sent
    statuses: dict[int, int] = {}
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + time_limit
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while True:
                with lock:
                    if not queue or time.perf_counter() > deadline:
                        return
                    index = queue.pop(0)
                t0 = time.perf_counter()
                conn.request("POST", PATH, body=bodies[index], headers=headers)
                response = conn.getresponse()
                raw = response.read()
                elapsed = time.perf_counter() - t0
                with lock:
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    latencies.append(elapsed)
                    if response.status == 200:
                        answer = json.loads(raw)
                        created[0] += answer["created"]
                        created[1] += answer["created"] + answer["duplicate"] + answer["rejected"]
                        if answer["rejected"] and len(errors) < 3:
                            bad = next(r for r in answer["results"] if r["status"] == "rejected")
                            errors.append(json.dumps(bad)[:500])
                    elif len(errors) < 3:
                        errors.append(f"{response.status}: {raw[:500]!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        log(f"    errors: {errors}")
    return BatchRun(
        concurrency=concurrency,
        batches=len(latencies),
        events=created[1],
        created=created[0],
        wall_s=wall,
        latency=Timing(latencies),
        statuses=statuses,
        stopped_early=bool(queue),
    )


def in_process_batch(
    batches: list[list[dict[str, Any]]],
) -> dict[str, float]:
    """``interactions_ingest`` on these batches in this process, with the queries captured."""
    from django.test.utils import CaptureQueriesContext

    from journeys import services

    totals: list[float] = []
    sql: list[float] = []
    queries: list[int] = []
    for events in batches:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            results = services.interactions_ingest(events=events)
            totals.append(time.perf_counter() - started)
        if any(r.status != "created" for r in results):
            raise RuntimeError("an in-process batch did not create every event")
        sql.append(sum(float(q["time"]) for q in captured.captured_queries))
        queries.append(len(captured.captured_queries))
    return {
        "total_ms": statistics.median(totals) * 1000,
        "sql_ms": statistics.median(sql) * 1000,
        "queries": statistics.median(queries),
    }


def bench_batches(
    log_dir: Path, *, batches: int, size: int, time_limit: float, concurrencies: tuple[int, ...]
) -> tuple[Section, dict[str, Any]]:
    log(f"Ingestion: batches of {size:,} through gunicorn (-w 2)")
    customers = ensure_customers(MIN_CUSTOMERS)
    bench_touchpoints()
    token = ingest_token()
    nonce = uuid.uuid4().hex[:8]
    mix = Mix()
    warm = 4
    plans = make_batches(
        warm + batches * len(concurrencies) + 3, size, customers=customers, mix=mix, nonce=nonce
    )
    bodies = [json.dumps({"events": events}).encode() for events in plans]
    log(
        f"  {len(bodies)} bodies of {size:,} events ({statistics.median(map(len, bodies)) / 1024:.0f} KB "
        f"each), {mix.new_share:.0%} new customers, {mix.touchpoint_share:.0%} with a touchpoint"
    )
    interactions_before = _count("SELECT count(*) FROM journeys_interaction")
    runs: list[BatchRun] = []
    with gunicorn(log_dir, name="ingest") as server:
        warm_run = post_batches(server.port, token, bodies[:warm], concurrency=2, time_limit=120)
        log(f"  warm-up: {warm_run.batches} batches, {warm_run.created:,} created")
        offset = warm
        for concurrency in concurrencies:
            run = post_batches(
                server.port,
                token,
                bodies[offset : offset + batches],
                concurrency=concurrency,
                time_limit=time_limit,
            )
            offset += batches
            runs.append(run)
            log(
                f"  {concurrency} client(s): {run.batches} batches, {run.created:,} created in "
                f"{run.wall_s:.1f} s = {run.per_s:,.0f} interactions/s; batch median "
                f"{run.latency.median_ms:.0f} ms, p95 {run.latency.p95_ms:.0f} ms; {run.statuses}"
            )
    stored = _count("SELECT count(*) FROM journeys_interaction") - interactions_before
    sent = warm_run.created + sum(r.created for r in runs)
    keyed = _count(
        "SELECT count(*) FROM journeys_interaction WHERE idempotency_key LIKE %s",
        [f"bench-{nonce}-%"],
    )
    new_customers = _count(
        "SELECT count(*) FROM journeys_customer WHERE external_id LIKE %s", [f"EV{nonce}-%"]
    )
    table = _count("SELECT count(*) FROM journeys_interaction")
    profile = in_process_batch(plans[offset : offset + 3])
    log(
        f"  in-process interactions_ingest: {profile['total_ms']:.0f} ms per batch, of which SQL "
        f"{profile['sql_ms']:.0f} ms in {profile['queries']:.0f} queries"
    )

    section = Section(
        key="ingest",
        title=f"Ingestion API: batches of {size:,} through gunicorn",
        intro=(
            f'`POST {PATH}` with `{{"events": [...]}}` of {size:,} events and `Authorization: Bearer '
            "<token>` (a CX lead's token), to `gunicorn cxm.wsgi -w 2` (sync workers) on loopback, "
            "from threads of `http.client` in the benchmark process with one keep-alive connection "
            f"each. Every event names a distinct customer by `external_id`: {1 - mix.new_share:.0%} "
            f"are among the {customers:,} customers in the table, {mix.new_share:.0%} are new (with "
            f"an email and a name); {mix.touchpoint_share:.0%} carry one of {len(bench_touchpoints())} "
            "touchpoint keys (the others a channel); each has its own `idempotency_key`, a summary, a "
            "small `data` object and an `occurred_at` in the last 30 days. After "
            f"{warm} warm-up batches, each run posts up to {batches} batches (time limit "
            f"{time_limit:.0f} s). The interaction table held {interactions_before:,} rows before "
            f"and {table:,} after. Interactions/s = interactions created ÷ wall time of the run; "
            "latency is per batch as the client saw it (with more clients than workers it includes "
            f"waiting for a worker). Target: at least {TARGET_BATCH_PER_S:,.0f} interactions/s."
        ),
        columns=[
            "Clients",
            "Batches",
            "Interactions created",
            "Wall time",
            "Interactions/s",
            "Batch median",
            "Batch p95",
            f"Target (≥ {TARGET_BATCH_PER_S:,.0f}/s)",
        ],
    )
    for run in runs:
        section.add(
            run.concurrency,
            run.batches,
            f"{run.created:,}",
            f"{run.wall_s:.1f} s",
            f"{run.per_s:,.0f}",
            ms(run.latency.median_ms),
            ms(run.latency.p95_ms),
            verdict(run.per_s >= TARGET_BATCH_PER_S),
        )
    section.notes.append(
        f"Check: the API reported {sent:,} interactions created (warm-up included); the table grew "
        f"by {stored:,} and holds {keyed:,} with this run's idempotency keys "
        f"({verdict(sent == stored == keyed)}); {new_customers:,} new customers were created."
    )
    section.notes.append(
        f"Where a batch's time goes: the same kind of batch through `interactions_ingest` in this "
        f"process (no HTTP, no JSON parsing or rendering) takes **{profile['total_ms']:.0f} ms** "
        f"(median of 3), of which {profile['sql_ms']:.0f} ms waiting for PostgreSQL in "
        f"{profile['queries']:.0f} queries and the rest Python: validation, customer matching, "
        "building the model instances."
    )
    figures = {"runs": runs, "profile": profile, "customers": customers, "check": sent == stored}
    return section, figures


def _count(sql: str, params: list[Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return int(cursor.fetchone()[0])


# ------------------------------------------------------------------------------------------------
# Single events: wrk against the API and two baseline views
# ------------------------------------------------------------------------------------------------
SCRIPT = HERE / "single_event.lua"


def _python_request(conn_no: int, n: int) -> tuple[str, str, bytes, dict[str, str]]:
    """The Python load generator's request (the same body the Lua script builds)."""
    import os

    rng = random.Random(conn_no * 1_000_003 + n)
    customers = int(os.environ["CXM_BENCH_CUSTOMERS"])
    event = make_event(
        rng,
        key=f"single-{os.environ['CXM_BENCH_NONCE']}-{conn_no}-{n}",
        existing=rng.randrange(customers) if rng.random() >= 0.1 else None,
        new_id=f"ES{os.environ['CXM_BENCH_NONCE']}-{conn_no}-{n}",
        touchpoint=rng.random() < 0.9,
    )
    headers = {"Content-Type": "application/json"}
    if os.environ.get("CXM_BENCH_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['CXM_BENCH_TOKEN']}"
    return "POST", os.environ["CXM_BENCH_PATH"], json.dumps(event).encode(), headers


def _load(
    port: int,
    path: str,
    *,
    token: str,
    nonce: str,
    customers: int,
    touchpoints: str,
    seconds: int,
    connections: int,
) -> Load:
    if have_wrk():
        return wrk(
            f"http://127.0.0.1:{port}{path}",
            script=SCRIPT,
            script_args=[token or "-", nonce, str(customers), touchpoints],
            seconds=seconds,
            connections=connections,
        )
    import os

    connection.close()  # the load generator forks: no child should share the database socket
    os.environ.update(
        CXM_BENCH_CUSTOMERS=str(customers),
        CXM_BENCH_NONCE=nonce,
        CXM_BENCH_TOKEN=token,
        CXM_BENCH_PATH=path,
    )
    return python_load(
        port, _python_request, seconds=seconds, processes=2, threads=max(1, connections // 2)
    )


@dataclass
class SingleCase:
    label: str
    load: Load
    stored: int | None = None
    cpu_ms: float = 0.0


def bench_single(
    log_dir: Path, *, seconds: int, connections: int
) -> tuple[Section, dict[str, Any]]:
    import os

    tool = "wrk" if have_wrk() else "a Python load generator (wrk is not installed)"
    log(f"Single events: {seconds} s of load per case with {tool}, {connections} connections")
    customers = ensure_customers(MIN_CUSTOMERS)
    touchpoints = ",".join(bench_touchpoints())
    token = ingest_token()
    nonce = uuid.uuid4().hex[:8]
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM journeys_customer")
        customer_id = cursor.fetchone()[0]
    os.environ["CXM_BENCH_CUSTOMER_ID"] = str(customer_id)
    cases: list[SingleCase] = []

    def measure(
        label: str, server: Server, path: str, *, auth: bool, tps: str = touchpoints
    ) -> SingleCase:
        before = _count("SELECT count(*) FROM journeys_interaction")
        cpu = server.cpu_seconds()
        load = _load(
            server.port,
            path,
            token=token if auth else "",
            nonce=f"{nonce}{len(cases)}",
            customers=customers,
            touchpoints=tps,
            seconds=seconds,
            connections=connections,
        )
        time.sleep(0.5)  # requests still in a worker when the load stopped
        cpu = server.cpu_seconds() - cpu
        stored = _count("SELECT count(*) FROM journeys_interaction") - before
        case = SingleCase(
            label,
            load,
            stored if "bare" not in path else None,
            cpu_ms=cpu / load.requests * 1000 if load.requests else 0.0,
        )
        cases.append(case)
        log(
            f"  {label}: {load.rps:,.0f} req/s, p50 {load.latency_ms.get('50%', 0):.1f} ms, "
            f"p99 {load.latency_ms.get('99%', 0):.1f} ms, {load.errors} errors, stored "
            f"{case.stored}, gunicorn CPU {case.cpu_ms:.2f} ms/request"
        )
        return case

    def warm_up(server: Server) -> None:
        auth = {"Authorization": f"Bearer {token}"}
        for n in range(6):
            status, body = post_json(
                server.port,
                PATH,
                {"kind": "warm.up", "customer": {"external_id": f"CX{n:08d}"}},
                auth,
            )
            if status != 201:
                raise RuntimeError(f"single-event warm-up answered {status}: {body}")

    with gunicorn(
        log_dir, name="baseline", settings="benchmarks.baseline_settings", probe="/bench/bare"
    ) as base:
        for path in ("/bench/bare", "/bench/insert"):
            post_json(base.port, path, {"kind": "warm.up"}, {})
        measure(BARE, base, "/bench/bare", auth=False)
        insert_case = measure(INSERT, base, "/bench/insert", auth=False)
    with gunicorn(log_dir, name="single") as app:
        warm_up(app)
        api = measure(API, app, PATH, auth=True)
        no_tp = measure(API_NO_TP, app, PATH, auth=True, tps="")
    profile = single_event_profile(token, customers)
    log(
        f"  in process: request {profile['request']:.2f} ms, token + permission "
        f"{profile['auth']:.2f} ms, interactions_ingest {profile['ingest']:.2f} ms, one-INSERT "
        f"view {profile['insert']:.2f} ms; {profile['queries']} queries"
    )

    section = Section(
        key="single",
        title="Ingestion API: one event per request through gunicorn",
        intro=(
            f"`POST {PATH}` with one event (not a batch) per request, to `gunicorn cxm.wsgi -w 2` "
            f"(sync workers: one request per connection) on loopback, driven by {tool} "
            f"(`benchmarks/single_event.lua`) for {seconds} s per case with {connections} "
            "connections. Every request carries its own `idempotency_key`, so each creates one "
            "interaction; 90 % of the events name an existing customer by `external_id`, 10 % a new "
            "one (with an email and a name). The baselines run under the same gunicorn command, "
            "with the app's settings and middleware and a benchmark URLconf "
            "(`benchmarks/baseline_settings.py`, `benchmarks/baseline_urls.py`; the app's settings "
            "take `ROOT_URLCONF` from no environment variable, so a settings module that imports "
            "them and changes only that is used): a view that parses the JSON body and answers, and "
            "one that also inserts one row into the same interaction table through the ORM — the "
            "most an endpoint that stores one row per request can do here. **CPU/request** is the user + system CPU of gunicorn's master and "
            "workers during the load divided by the requests served (PostgreSQL and the load "
            "generator not included). All cases share the two cores with PostgreSQL and the load "
            f"generator. Target: at least {TARGET_SINGLE_RPS:,.0f} requests/s."
        ),
        columns=[
            "Case",
            "Requests/s",
            "Latency p50",
            "p90",
            "p99",
            "Errors",
            "Interactions stored",
            "gunicorn CPU/request",
            "Of the one-INSERT view",
            f"Target (≥ {TARGET_SINGLE_RPS:,.0f}/s)",
        ],
    )
    for case in cases:
        section.add(
            case.label,
            f"{case.load.rps:,.0f}",
            ms(case.load.latency_ms.get("50%", 0)),
            ms(case.load.latency_ms.get("90%", 0)),
            ms(case.load.latency_ms.get("99%", 0)),
            case.load.errors,
            f"{case.stored:,}" if case.stored is not None else "",
            f"{case.cpu_ms:.2f} ms",
            f"{case.load.rps / insert_case.load.rps:.0%}",
            verdict(case.load.rps >= TARGET_SINGLE_RPS and case.load.errors == 0)
            if case.label in (API, API_NO_TP)
            else "",
        )
    section.notes.append(
        "Where one request's time goes, in this process through Django's test client (no HTTP; "
        "medians of 200): the whole single-event POST takes "
        f"**{profile['request']:.2f} ms** against **{profile['insert']:.2f} ms** for the one-INSERT "
        f"view; token authentication plus the permission check alone {profile['auth']:.2f} ms; "
        f"`interactions_ingest` of one event alone {profile['ingest']:.2f} ms. The request runs "
        f"**{profile['queries']} SQL statements** (transaction control included, each a round trip "
        "to PostgreSQL; cache calls to Redis not counted): "
        + "; ".join(f"{n}× {kind}" for kind, n in profile["kinds"].items())
        + "."
    )
    figures = {
        "api": api,
        "no_touchpoint": no_tp,
        "insert": insert_case,
        "cases": cases,
        "profile": profile,
    }
    return section, figures


BARE = "Baseline: bare view (parse the body, answer; no database)"
INSERT = "Baseline: view doing one INSERT (ORM `create`)"
API = "API: one event per POST (token; 90 % with a touchpoint, 10 % new customers)"
API_NO_TP = "API: the same without touchpoint keys"


def single_event_profile(token: str, customers: int, *, n: int = 200) -> dict[str, Any]:
    """One single-event POST in this process: its queries, and where its time goes.

    Medians over ``n`` runs of: the whole request through Django's test client (with
    ``close_old_connections`` around it, as a server does); token authentication plus the
    permission check alone; ``interactions_ingest`` of one event alone; and the one-INSERT
    baseline view through the test client.
    """
    from django.db import close_old_connections
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from cxm.accounts.authentication import ApiTokenAuthentication
    from cxm.permissions import RolePermission
    from journeys import services
    from journeys.api import InteractionIngestApi

    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {token}")
    rng = random.Random(77)
    counter = [0]

    def event() -> dict[str, Any]:
        counter[0] += 1
        return {
            "kind": "page.viewed",
            "touchpoint": "web.visit",
            "customer": {"external_id": f"CX{rng.randrange(customers):08d}"},
            "summary": "Viewed /products/1",
            "data": {"ref": "A1", "source": "benchmark"},
            "idempotency_key": f"profile-{uuid.uuid4().hex}-{counter[0]}",
        }

    def post() -> Any:
        close_old_connections()
        try:
            response = client.post(PATH, event(), content_type="application/json")
        finally:
            close_old_connections()
        if response.status_code != 201:
            raise RuntimeError(
                f"single event answered {response.status_code}: {response.content[:300]!r}"
            )
        return response

    factory = APIRequestFactory()

    view = InteractionIngestApi()

    def auth() -> None:
        request = Request(factory.post(PATH, HTTP_AUTHORIZATION=f"Bearer {token}"))
        found = ApiTokenAuthentication().authenticate(request)
        assert found is not None
        request.user = found[0]
        if not RolePermission().has_permission(request, view):
            raise RuntimeError("the token's user may not add interactions")

    def ingest() -> None:
        services.interactions_ingest(events=[event()])

    def insert() -> None:
        close_old_connections()
        try:
            client.post("/bench/insert", {"kind": "page.viewed"}, content_type="application/json")
        finally:
            close_old_connections()

    post()
    with CaptureQueriesContext(connection) as captured:
        post()
    queries = list(captured.captured_queries)  # the next request clears connection.queries
    kinds: dict[str, int] = {}
    for query in queries:
        sql = query["sql"].lstrip()
        word = sql.split(None, 1)[0].upper()
        if word in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            table = _table_of(sql)
            key = f"{word} {table}" if table else word
        else:
            key = word
        kinds[key] = kinds.get(key, 0) + 1
    timings = {
        "request": repeat(post, n=n, warmup=20),
        "auth": repeat(auth, n=n, warmup=20),
        "ingest": repeat(ingest, n=n, warmup=20),
    }
    with override_settings(ROOT_URLCONF="benchmarks.baseline_urls"):
        timings["insert"] = repeat(insert, n=n, warmup=20)
    return {
        "queries": len(queries),
        "kinds": kinds,
        **{key: t.median_ms for key, t in timings.items()},
    }


def _table_of(sql: str) -> str:
    import re

    match = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql, re.IGNORECASE)
    return match.group(1) if match else ""

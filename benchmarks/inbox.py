"""Inbox benchmarks: the Twilio inbound webhook behind gunicorn, the inbox views at a million
conversations, and a replay of duplicated webhooks.

* **Webhook** (``inbox-webhook``): ``POST /inbox/twilio/inbound/`` with a form body signed with
  ``X-Twilio-Signature`` (twilio's ``RequestValidator.compute_signature``, precomputed in Python
  and written to a file that ``benchmarks/twilio_inbound.lua`` cycles through, each line its own
  ``MessageSid``), against ``gunicorn cxm.wsgi -w 2`` with ``TWILIO_AUTH_TOKEN`` and
  ``PUBLIC_BASE_URL`` in its environment. Side by side in the same run: the one-INSERT baseline
  view of ``benchmarks/baseline_urls.py`` under the same gunicorn command. No worker runs, so only
  the intake is measured (verify, parse, store once, queue a task on Redis, answer).
* **Views** (``inbox-views``): 1,000,000 conversations and 5,000,000 messages loaded with COPY
  (indexes dropped and built again after, the full-text GIN index of migration 0008 included),
  ``ANALYZE``; then ``GET /inbox/mine/``, ``/inbox/unassigned/`` and searches through Django's
  test client as an agent of one team, the selectors alone, and ``EXPLAIN (ANALYZE, BUFFERS)``.
* **Replay** (``inbox-replay``): 10,000 distinct signed webhooks each posted 5 times, shuffled,
  concurrently; the stored events counted; then processed in this process's children with
  ``inbox.services.inbound_event_process`` and the messages counted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import multiprocessing
import os
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.db import connection

from benchmarks.common import Section, Timing, log, ms, repeat, serve, verdict
from benchmarks.server import Load, Server, free_port, gunicorn, have_wrk, post_json, wrk

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "twilio_inbound.lua"
WEBHOOK = "/inbox/twilio/inbound/"
AUTH_TOKEN = "bench-twilio-auth-token-5f0c2b"
TO_NUMBER = "+3197010203040"
TARGET_RATIO = 0.60
TARGET_P99_MS = 50.0
TARGET_VIEW_MS = 100.0
TARGET_SEARCH_MS = 300.0
WORDS_FOR_SMS = [
    "hallo",
    "mijn",
    "bestelling",
    "is",
    "nog",
    "niet",
    "aangekomen",
    "kunt",
    "u",
    "kijken",
    "waar",
    "het",
    "pakket",
    "blijft",
    "dank",
    "alvast",
]


def _scalar(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


# ------------------------------------------------------------------------------------------------
# Signed Twilio requests
# ------------------------------------------------------------------------------------------------
def signed_request(base_url: str, sid: str, phone: str, text: str) -> tuple[str, str]:
    """(X-Twilio-Signature, form body) of one inbound SMS, as Twilio would post it."""
    from twilio.request_validator import RequestValidator

    params = {
        "ToCountry": "NL",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": text,
        "To": TO_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": phone,
        "FromCountry": "NL",
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(base_url + WEBHOOK, params)
    return signature, urlencode(params)


def phone_of(n: int) -> str:
    return f"+316{10_000_000 + n:08d}"


def write_signed(path: Path, base_url: str, prefix: str, count: int, phones: int) -> list[str]:
    """``count`` signed requests with distinct sids, one per line; returns the sids."""
    rng = random.Random(prefix)
    sids = []
    with path.open("w") as out:
        for n in range(count):
            sid = f"SM{prefix}{n:010d}"
            text = " ".join(rng.choices(WORDS_FOR_SMS, k=rng.randint(3, 12)))
            signature, body = signed_request(base_url, sid, phone_of(n % phones), text)
            out.write(f"{signature}\t{body}\n")
            sids.append(sid)
    return sids


def _events(prefix: str) -> int:
    return int(
        _scalar(
            "SELECT count(*) FROM inbox_inboundevent WHERE provider = 'twilio' AND "
            "provider_id LIKE %s",
            [f"SM{prefix}%"],
        )
    )


# ------------------------------------------------------------------------------------------------
# 1. The webhook against a bare one-INSERT view
# ------------------------------------------------------------------------------------------------
@dataclass
class WebhookCase:
    label: str
    load: Load
    connections: int
    stored: int | None = None
    cpu_ms: float = 0.0


def bench_webhook(
    log_dir: Path, *, seconds: int, connections: int
) -> tuple[Section, dict[str, Any]]:
    from benchmarks.data import ensure_customers
    from benchmarks.ingest import _load

    if not have_wrk():
        raise RuntimeError("the webhook benchmark needs wrk (apt-get install wrk)")
    log(f"Twilio webhook: {seconds} s of wrk per case, {connections} connections")
    customers = ensure_customers(1000)
    os.environ["CXM_BENCH_CUSTOMER_ID"] = str(_scalar("SELECT min(id) FROM journeys_customer"))
    nonce = uuid.uuid4().hex[:6]
    cases: list[WebhookCase] = []

    def measure(label: str, server: Server, conns: int, *, prefix: str | None) -> WebhookCase:
        cpu = server.cpu_seconds()
        if prefix is None:
            load = _load(
                server.port,
                "/bench/insert",
                token="",
                nonce=nonce + str(len(cases)),
                customers=customers,
                touchpoints="",
                seconds=seconds,
                connections=conns,
            )
        else:
            path = log_dir / f"twilio-{prefix}.txt"
            write_signed(path, base_url, prefix, 2500 * seconds, phones=5000)
            load = wrk(
                f"{base_url}{WEBHOOK}",
                script=SCRIPT,
                script_args=[str(path), str(min(2, conns))],
                seconds=seconds,
                connections=conns,
                threads=min(2, conns),
            )
        time.sleep(0.5)
        cpu = server.cpu_seconds() - cpu
        case = WebhookCase(
            label,
            load,
            conns,
            stored=_events(prefix) if prefix else None,
            cpu_ms=cpu / load.requests * 1000 if load.requests else 0.0,
        )
        cases.append(case)
        log(
            f"  {label}: {load.rps:,.0f} req/s, p50 {load.latency_ms.get('50%', 0):.1f} ms, "
            f"p99 {load.latency_ms.get('99%', 0):.1f} ms, {load.errors} errors, stored "
            f"{case.stored}, gunicorn CPU {case.cpu_ms:.2f} ms/request"
        )
        return case

    with gunicorn(
        log_dir, name="baseline-inbox", settings="benchmarks.baseline_settings", probe="/bench/bare"
    ) as base:
        post_json(base.port, "/bench/insert", {"kind": "warm.up"}, {})
        insert = measure(INSERT, base, connections, prefix=None)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": base_url}
    with gunicorn(log_dir, name="twilio", port=port, env=env) as app:
        for n in range(4):  # warm-up: both workers import and connect
            signature, body = signed_request(base_url, f"SMwarm{nonce}{n}", phone_of(n), "hallo")
            status = 0
            for _try in range(5):
                try:
                    status = _post_form(app.port, body, signature)
                    break
                except (OSError, http.client.HTTPException):
                    time.sleep(1)
            if status != 200:
                raise RuntimeError(f"signed webhook warm-up answered {status}:\n{app.tail()}")
        status = _post_form(app.port, body, "bad-signature")
        if status != 403:
            raise RuntimeError(f"a badly signed webhook answered {status}, not 403")
        full = measure(FULL, app, connections, prefix=f"{nonce}f")
        half = measure(HALF, app, 1, prefix=f"{nonce}h")
    variants = []
    for variant, label in (("upsert-send", VARIANT_SEND), ("upsert", VARIANT_NO_TASK)):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PUBLIC_BASE_URL": base_url,
            "CXM_BENCH_WEBHOOK_VARIANT": variant,
        }
        with gunicorn(
            log_dir,
            name=f"twilio-{variant}",
            port=port,
            env=env,
            app="benchmarks.webhook_variant_wsgi",
        ) as what_if:
            signature, body = signed_request(base_url, f"SMwarm{nonce}{variant}", phone_of(0), "hi")
            if _post_form(what_if.port, body, signature) != 200:
                raise RuntimeError(f"the {variant} variant did not answer 200:\n{what_if.tail()}")
            variants.append(measure(label, what_if, connections, prefix=f"{nonce}{variant[-1]}"))

    ratio = full.load.rps / insert.load.rps if insert.load.rps else 0.0
    p99 = half.load.latency_ms.get("99%", 0.0)
    # Each answered request stored its own sid; requests still in flight when wrk stopped (at
    # most one per connection per wrk thread's socket, plus the listen backlog) may add a few.
    checks_ok = all(
        c.load.errors == 0
        and c.stored is not None
        and c.load.requests <= c.stored <= c.load.requests + 4 * c.connections
        for c in (full, half)
    )
    section = Section(
        key="inbox-webhook",
        title="Inbound SMS webhook through gunicorn",
        intro=(
            f"`POST {WEBHOOK}` as Twilio sends it (a form body of 13 fields, signed with "
            "`X-Twilio-Signature`), to `gunicorn cxm.wsgi -w 2` with `TWILIO_AUTH_TOKEN` and "
            f"`PUBLIC_BASE_URL={base_url}` in its environment, driven by wrk "
            f"(`benchmarks/twilio_inbound.lua`) for {seconds} s per case. Every request has its own "
            "`MessageSid` and a correct signature: the bodies are signed beforehand with twilio's "
            "`RequestValidator.compute_signature` and written to a file the Lua script reads, each "
            "wrk thread taking every other line. The view verifies the signature, parses the body, "
            "stores an `InboundEvent` once (the unique constraint makes a second delivery a "
            "no-op) and queues its processing on Redis after commit; no worker runs, so only this "
            "intake is measured. **Stored** counts the events of the case's sids (it should equal "
            "the requests answered, give or take the ones in flight when wrk stopped). The "
            "baseline is the one-INSERT view of `benchmarks/baseline_urls.py` under the same "
            f"gunicorn command, measured in the same run with the same {connections} "
            "connections. wrk cannot fix a request rate (that is wrk2, which Debian lacks), so "
            "**half the load** is emulated with one connection instead of "
            f"{connections}: closed-loop, one request at a time, which keeps one of the two "
            "workers busy, i.e. about half the maximum rate (the measured rate is in the table). "
            f"Targets: at least {TARGET_RATIO:.0%} of the baseline's throughput at full load; p99 "
            f"under {TARGET_P99_MS:.0f} ms at half of it. The two **what if** rows are not the "
            "app: the same gunicorn command serving `benchmarks/webhook_variant_wsgi.py`, which "
            "replaces `inbox.services.inbound_event_record` to show where the intake's time goes."
        ),
        columns=[
            "Case",
            "Connections",
            "Requests/s",
            "Latency p50",
            "p90",
            "p99",
            "Errors",
            "Events stored",
            "gunicorn CPU/request",
            "Of the one-INSERT view",
        ],
    )
    for case in cases:
        section.add(
            case.label,
            case.connections,
            f"{case.load.rps:,.0f}",
            ms(case.load.latency_ms.get("50%", 0)),
            ms(case.load.latency_ms.get("90%", 0)),
            ms(case.load.latency_ms.get("99%", 0)),
            case.load.errors,
            f"{case.stored:,} of {case.load.requests:,}" if case.stored is not None else "",
            f"{case.cpu_ms:.2f} ms",
            f"{case.load.rps / insert.load.rps:.0%}",
        )
    profile = webhook_profile(base_url)
    section.notes.append(
        "In this process through Django's test client (no HTTP; medians of 200): one signed "
        f"webhook takes **{profile['request']:.2f} ms**, of which signature verification "
        f"{profile['verify']:.3f} ms and `inbound_event_record` {profile['record']:.2f} ms (the "
        f"same INSERT in a transaction without the queued task {profile['insert']:.2f} ms; "
        f"queueing the processing task, `celery_app.send_task` to Redis, alone "
        f"{profile['enqueue']:.2f} ms); it runs "
        f"{profile['queries']} SQL statements ("
        + "; ".join(f"{n}× {kind}" for kind, n in profile["kinds"].items())
        + ")."
    )
    figures = {
        "insert": insert,
        "full": full,
        "half": half,
        "ratio": ratio,
        "p99": p99,
        "checks_ok": checks_ok,
        "half_share": half.load.rps / full.load.rps if full.load.rps else 0.0,
        "profile": profile,
        "variants": variants,
    }
    return section, figures


INSERT = "Baseline: view doing one INSERT (ORM `create`)"
VARIANT_SEND = "What if: one `INSERT … ON CONFLICT DO NOTHING` in autocommit, then `send_task`"
VARIANT_NO_TASK = "What if: the same `INSERT … ON CONFLICT` and no task published per event"
FULL = "Webhook: signed inbound SMS, full load"
HALF = "Webhook: the same at about half the load (1 connection)"


def _post_form(port: int, body: str, signature: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            WEBHOOK,
            body=body.encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def webhook_profile(base_url: str, n: int = 200) -> dict[str, Any]:
    """Where one webhook's time goes, in process (test client, captured queries)."""
    from collections import Counter
    from urllib.parse import parse_qsl

    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    from inbox import services
    from inbox.channels import twilio

    prefix = "p" + uuid.uuid4().hex[:6]
    host = base_url.split("://", 1)[1]
    client = Client(HTTP_HOST=host)
    counter = iter(range(10**9))
    with override_settings(TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=base_url):

        def one() -> tuple[str, str]:
            i = next(counter)
            return signed_request(base_url, f"SM{prefix}{i:08d}", phone_of(i), "hallo daar")

        def post() -> Any:
            signature, body = one()
            response = client.post(
                WEBHOOK,
                body,
                content_type="application/x-www-form-urlencoded",
                HTTP_X_TWILIO_SIGNATURE=signature,
            )
            if response.status_code != 200:
                raise RuntimeError(f"in-process webhook answered {response.status_code}")

        request = repeat(post, n=n)
        signature, body = one()
        params = dict(parse_qsl(body))
        verify = repeat(
            lambda: twilio.verify(path=WEBHOOK, params=params, signature=signature), n=n
        )

        def record() -> None:
            i = next(counter)
            services.inbound_event_record(
                provider="twilio",
                kind="message",
                provider_id=f"SM{prefix}r{i}",
                payload={"provider": "twilio"},
            )

        record_t = repeat(record, n=n)

        def insert_only() -> None:
            from django.db import transaction

            from inbox.models import InboundEvent

            i = next(counter)
            with transaction.atomic():
                InboundEvent.objects.create(
                    provider="twilio",
                    kind="message",
                    provider_id=f"SM{prefix}i{i}",
                    payload={"provider": "twilio"},
                )

        insert_t = repeat(insert_only, n=n)

        def enqueue() -> None:
            from cxm.jobs import Job, app

            app.send_task(Job.INBOX_INBOUND_PROCESS.value, kwargs={"event_id": 0})

        enqueue_t = repeat(enqueue, n=n)
        with CaptureQueriesContext(connection) as captured:
            post()
    kinds = Counter(_kind(q["sql"]) for q in captured.captured_queries)
    return {
        "request": request.median_ms,
        "verify": verify.median_ms,
        "record": record_t.median_ms,
        "insert": insert_t.median_ms,
        "enqueue": enqueue_t.median_ms,
        "queries": len(captured.captured_queries),
        "kinds": dict(kinds),
    }


def _kind(sql: str) -> str:
    head = sql.strip().split()[0].upper() if sql.strip() else "?"
    match = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql)
    return f"{head} {match.group(1)}" if match and head != "SAVEPOINT" else head


# ------------------------------------------------------------------------------------------------
# 2. The views at 1,000,000 conversations and 5,000,000 messages
# ------------------------------------------------------------------------------------------------
CONV_COLUMNS = [
    "id",
    "customer_id",
    "channel_account_id",
    "channel",
    "subject",
    "status",
    "priority",
    "team_id",
    "assignee_id",
    "reply_token",
    "first_customer_message_at",
    "first_response_at",
    "last_message_at",
    "last_customer_message_at",
    "resolved_at",
    "sla_due_at",
    "created_at",
]
MSG_COLUMNS = [
    "conversation_id",
    "direction",
    "channel",
    "subject",
    "text",
    "html",
    "from_address",
    "to_address",
    "message_id",
    "in_reply_to",
    "references",
    "provider_id",
    "is_auto_reply",
    "data",
    "created_at",
]
RARE_WORD = "zeppelinhaven"
RARE_COUNT = 15
COMMON_WORD = "bestelling"
TEAMS = ["Bench Support", "Bench Sales", "Bench Billing", "Bench Returns"]
AGENTS_PER_TEAM = 10
SYLLABLES = [
    "ka",
    "ro",
    "ve",
    "lin",
    "dam",
    "ter",
    "bos",
    "mo",
    "ne",
    "sta",
    "pel",
    "gu",
    "rik",
    "zon",
    "wa",
    "der",
    "fi",
    "hu",
    "jo",
    "ste",
]
BASE_WORDS = [
    "bestelling",
    "pakket",
    "levering",
    "factuur",
    "betaling",
    "retour",
    "account",
    "wachtwoord",
    "adres",
    "order",
    "delivery",
    "invoice",
    "refund",
    "payment",
    "return",
    "password",
    "address",
    "tracking",
    "vraag",
    "probleem",
    "kapot",
    "defect",
    "maat",
    "kleur",
    "vervangen",
    "garantie",
    "klacht",
    "korting",
    "code",
    "question",
    "problem",
    "broken",
    "size",
    "colour",
    "replace",
    "warranty",
    "complaint",
    "discount",
    "voucher",
    "hallo",
    "dank",
    "groet",
    "bedankt",
    "please",
    "thanks",
    "hello",
    "regards",
    "today",
    "tomorrow",
    "yesterday",
    "week",
]


def _vocabulary(rng: random.Random, size: int = 5000) -> tuple[list[str], list[float]]:
    words = list(BASE_WORDS)
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen and word != RARE_WORD:
            seen.add(word)
            words.append(word)
    # Zipf-like: the first words are common (BESTELLING first), the tail rare.
    cumulative, total = [], 0.0
    for rank in range(1, len(words) + 1):
        total += 1.0 / rank
        cumulative.append(total)
    return words, cumulative


@dataclass
class InboxData:
    agent_id: int
    team_ids: list[int]
    agent_team: int
    conversations: int
    messages: int
    email: str
    load_s: float
    index_s: float
    table_mb: float
    fulltext_mb: float


def _setup_people() -> tuple[Any, list[int], dict[int, list[int]], list[int]]:
    """Teams, agents (the benchmark's agent in the first team), a channel account per kind."""
    from cxm.accounts.models import Team, User
    from cxm.accounts.services import user_create
    from inbox.models import ChannelAccount

    teams = []
    for name in TEAMS:
        team = Team.objects.filter(name=name).first() or Team.objects.create(name=name)
        teams.append(team)
    email = "bench-inbox-agent@example.org"
    agent = User.objects.filter(email=email).first() or user_create(
        email=email, name="Bench Inbox Agent", roles=["agent"], password="bench-password-1234"
    )
    teams[0].members.add(agent)
    members: dict[int, list[int]] = {}
    for t, team in enumerate(teams):
        ids = []
        for a in range(AGENTS_PER_TEAM):
            mail = f"bench-inbox-{t}-{a}@example.org"
            user = User.objects.filter(email=mail).first() or user_create(
                email=mail, name=f"Agent {t}-{a}", roles=["agent"]
            )
            team.members.add(user)
            ids.append(user.pk)
        members[team.pk] = ids
    members[teams[0].pk].append(agent.pk)
    accounts = []
    for kind, address in (
        ("email", "support@bench.example"),
        ("sms", TO_NUMBER),
        ("whatsapp", "+3197010203041"),
    ):
        account = ChannelAccount.objects.filter(kind=kind, address=address).first()
        if account is None:
            account = ChannelAccount.objects.create(
                kind=kind, name=f"Bench {kind}", address=address, team=teams[0]
            )
        accounts.append((account.pk, kind))
    return agent, [t.pk for t in teams], members, accounts


def load_inbox(conversations: int, per_conversation: int = 5) -> InboxData:
    from benchmarks.data import ensure_customers

    customers = ensure_customers(200_000)
    agent, team_ids, members, accounts = _setup_people()
    customer_min = int(_scalar("SELECT min(id) FROM journeys_customer"))
    rng = random.Random(20260101)
    words, cumulative = _vocabulary(rng)
    texts = []
    for _ in range(100_000):
        texts.append(" ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(4, 14))))
    now = dt.datetime.now(dt.UTC)
    log(
        f"Inbox views: COPY of {conversations:,} conversations, ~{conversations * per_conversation:,} messages"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE inbox_message, inbox_conversation RESTART IDENTITY CASCADE")
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN "
            "('inbox_conversation', 'inbox_message') AND i.indexname NOT IN (SELECT conname "
            "FROM pg_constraint)"
        )
        dropped = cursor.fetchall()
        for name, _definition in dropped:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute("SET session_replication_role = replica")
        conv_counts = [1, 3, 5, 7, 9] if per_conversation == 5 else [per_conversation]
        rare_at = set(rng.sample(range(conversations), RARE_COUNT))
        try:
            conv_sql = f"COPY inbox_conversation ({', '.join(CONV_COLUMNS)}) FROM STDIN"
            quoted = ", ".join(f'"{c}"' for c in MSG_COLUMNS)
            msg_sql = f"COPY inbox_message ({quoted}) FROM STDIN"
            conv_rows: list[str] = []
            msg_rows: list[str] = []
            message_total = 0
            span = 730 * 86400.0
            with cursor.cursor.copy(conv_sql) as copy:
                for i in range(conversations):
                    cid = i + 1
                    team = team_ids[i % len(team_ids)] if rng.random() < 0.97 else None
                    account, channel = accounts[i % 3]
                    roll = rng.random()
                    status = (
                        "open"
                        if roll < 0.07
                        else "pending"
                        if roll < 0.09
                        else "snoozed"
                        if roll < 0.10
                        else "resolved"
                    )
                    pool = members.get(team, []) if team else []
                    if status == "resolved":
                        last = now - dt.timedelta(
                            seconds=span * (1 - i / conversations) + rng.random() * 86400
                        )
                        assignee = rng.choice(pool) if pool and rng.random() < 0.95 else None
                        sla = None
                        resolved = last + dt.timedelta(hours=1)
                    else:
                        last = now - dt.timedelta(seconds=rng.random() * 14 * 86400)
                        assignee = rng.choice(pool) if pool and rng.random() < 0.7 else None
                        sla = now + dt.timedelta(seconds=rng.uniform(-3 * 3600, 24 * 3600))
                        resolved = None
                    created = last - dt.timedelta(hours=rng.randint(1, 72))
                    customer = customer_min + rng.randrange(customers)
                    text = texts[rng.randrange(len(texts))]
                    ts = last.isoformat()
                    conv_rows.append(
                        "\t".join(
                            [
                                str(cid),
                                str(customer),
                                str(account),
                                channel,
                                text[:60],
                                status,
                                str(rng.choice((1, 2, 2, 2, 3, 4))),
                                str(team) if team else r"\N",
                                str(assignee) if assignee else r"\N",
                                uuid.uuid4().hex,
                                created.isoformat(),
                                created.isoformat() if status == "resolved" else r"\N",
                                ts,
                                ts,
                                resolved.isoformat() if resolved else r"\N",
                                sla.isoformat() if sla else r"\N",
                                created.isoformat(),
                            ]
                        )
                        + "\n"
                    )
                    count = conv_counts[i % len(conv_counts)]
                    for m in range(count):
                        body = texts[rng.randrange(len(texts))]
                        if m == 0 and i in rare_at:
                            body = f"{body} {RARE_WORD}"
                        inbound = m % 2 == 0
                        at = last - dt.timedelta(minutes=(count - 1 - m) * 37)
                        msg_rows.append(
                            f"{cid}\t{'in' if inbound else 'out'}\t{channel}\t"
                            f"{text[:60] if m == 0 and channel == 'email' else ''}\t"
                            f"{body} #A{cid * 10 + m}\t\t"
                            f"{'customer' if inbound else 'agent'}\t{'agent' if inbound else 'customer'}"
                            f"\t\t\t\t\tf\t{{}}\t{at.isoformat()}\n"
                        )
                    message_total += count
                    if len(conv_rows) >= 20_000:
                        copy.write("".join(conv_rows).encode())
                        conv_rows.clear()
                if conv_rows:
                    copy.write("".join(conv_rows).encode())
            log(f"  conversations copied ({time.perf_counter() - started:.0f} s); messages")
            with cursor.cursor.copy(msg_sql) as copy:
                for start in range(0, len(msg_rows), 50_000):
                    copy.write("".join(msg_rows[start : start + 50_000]).encode())
            msg_rows.clear()
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        load_s = time.perf_counter() - started
        log(f"  COPY done in {load_s:.0f} s; building {len(dropped)} indexes")
        started = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for _name, definition in dropped:
            cursor.execute(definition)
        cursor.execute("RESET maintenance_work_mem")
        index_s = time.perf_counter() - started
        log(f"  indexes built in {index_s:.0f} s; ANALYZE")
        for table in ("inbox_conversation", "inbox_message"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        cursor.execute("VACUUM (ANALYZE) inbox_conversation")
        cursor.execute("VACUUM (ANALYZE) inbox_message")
        cursor.execute(
            "SELECT cu.email FROM inbox_conversation c JOIN journeys_customer cu ON cu.id = "
            "c.customer_id WHERE c.team_id = %s AND c.assignee_id IS NULL AND c.status <> "
            "'resolved' AND cu.email <> '' ORDER BY c.id LIMIT 1",
            [team_ids[0]],
        )
        email = cursor.fetchone()[0]
    fulltext = _scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'inbox_message_fulltext'")
    if not fulltext:
        raise RuntimeError("the full-text index of migration 0008 is missing")
    return InboxData(
        agent_id=agent.pk,
        team_ids=team_ids,
        agent_team=team_ids[0],
        conversations=conversations,
        messages=message_total,
        email=email,
        load_s=load_s,
        index_s=index_s,
        table_mb=_scalar("SELECT pg_total_relation_size('inbox_message')") / 2**20,
        fulltext_mb=_scalar("SELECT pg_relation_size('inbox_message_fulltext')") / 2**20,
    )


@dataclass
class ViewCase:
    label: str
    url: str
    page: Timing
    selector: Timing
    rows: int
    plan_line: str
    plan_ms: float
    target: float


def _plan_key(sqls: list[str]) -> tuple[str, float, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the slowest conversation query among ``sqls``: its key line
    (the first scan of inbox_conversation or inbox_message), the execution time, the whole plan."""
    best: tuple[str, float, str] = ("", 0.0, "")
    for sql in sqls:
        if "inbox_conversation" not in sql or not sql.lstrip().upper().startswith("SELECT"):
            continue
        if "ORDER BY" not in sql:
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            lines = [r[0] for r in cursor.fetchall()]
        took = next(
            (float(x) for line in lines for x in re.findall(r"Execution Time: ([\d.]+)", line)),
            0.0,
        )
        if took >= best[1]:
            key = next(
                (
                    line.strip().lstrip("-> ").split("  (cost")[0]
                    for line in lines
                    if re.search(r"Scan.* on (inbox_conversation|inbox_message)", line)
                ),
                lines[0].strip(),
            )
            best = (key, took, "\n".join(lines))
    return best


def bench_views(*, conversations: int, requests: int) -> tuple[list[Section], dict[str, Any]]:
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from cxm.accounts.models import User
    from inbox import selectors

    data = load_inbox(conversations)
    agent = User.objects.get(pk=data.agent_id)
    client = Client(HTTP_HOST="localhost")
    client.force_login(agent)
    mine_rows = _scalar(
        "SELECT count(*) FROM inbox_conversation WHERE assignee_id = %s AND status <> 'resolved'",
        [agent.pk],
    )
    unassigned_rows = _scalar(
        "SELECT count(*) FROM inbox_conversation WHERE team_id = %s AND assignee_id IS NULL AND "
        "status <> 'resolved'",
        [data.agent_team],
    )
    rare_hits = _scalar(
        "SELECT count(*) FROM inbox_message WHERE to_tsvector('simple'::regconfig, "
        "coalesce(subject, '') || ' ' || coalesce(text, '')) @@ plainto_tsquery('simple', %s)",
        [RARE_WORD],
    )
    common_hits = _scalar(
        "SELECT count(*) FROM inbox_message WHERE to_tsvector('simple'::regconfig, "
        "coalesce(subject, '') || ' ' || coalesce(text, '')) @@ plainto_tsquery('simple', %s)",
        [COMMON_WORD],
    )
    log(
        f"  agent: {mine_rows:,} open conversations assigned, {unassigned_rows:,} unassigned in "
        f"the team; '{RARE_WORD}' in {rare_hits:,} messages, '{COMMON_WORD}' in {common_hits:,}"
    )
    specs = [
        ("Mine: `GET /inbox/mine/`", "/inbox/mine/", "mine", "", TARGET_VIEW_MS),
        (
            "Unassigned: `GET /inbox/unassigned/`",
            "/inbox/unassigned/",
            "unassigned",
            "",
            TARGET_VIEW_MS,
        ),
        (
            f"Search, rare word (`{RARE_WORD}`, {rare_hits:,} messages)",
            f"/inbox/unassigned/?q={RARE_WORD}",
            "unassigned",
            RARE_WORD,
            TARGET_SEARCH_MS,
        ),
        (
            f"Search, common word (`{COMMON_WORD}`, {common_hits:,} messages)",
            f"/inbox/unassigned/?q={COMMON_WORD}",
            "unassigned",
            COMMON_WORD,
            TARGET_SEARCH_MS,
        ),
        (
            "Search, a customer's email",
            f"/inbox/unassigned/?q={data.email}",
            "unassigned",
            data.email,
            TARGET_SEARCH_MS,
        ),
    ]
    cases = []
    plans: dict[str, str] = {}
    for label, url, view, query, target in specs:
        if query:

            def select(query: str = query) -> Any:
                return selectors.conversation_search_for_user(user=agent, query=query)

        else:

            def select(view: str = view) -> Any:
                return selectors.conversation_list_for_user(user=agent, view=view)

        page = repeat(lambda url=url: serve(client, url), n=requests)
        selector = repeat(select, n=requests)
        result = select()
        rows = len(result) if isinstance(result, list) else len(result.conversations)
        with CaptureQueriesContext(connection) as captured:
            select()
        key, took, plan = _plan_key([q["sql"] for q in captured.captured_queries])
        plans[label] = plan
        case = ViewCase(label, url, page, selector, rows, key, took, target)
        cases.append(case)
        log(
            f"  {label}: page {page.median_ms:.1f} ms (p95 {page.p95_ms:.1f}), selector "
            f"{selector.median_ms:.1f} ms, {rows} rows; {key} ({took:.1f} ms)"
        )

    section = Section(
        key="inbox-views",
        title=f"Inbox views with {data.conversations:,} conversations and {data.messages:,} messages",
        intro=(
            f"{data.conversations:,} conversations and {data.messages:,} messages loaded with COPY "
            f"in {data.load_s:.0f} s (their indexes dropped first and built again after in "
            f"{data.index_s:.0f} s, the full-text GIN index `inbox_message_fulltext` of migration "
            f"0008 included: {data.fulltext_mb:,.0f} MB; messages table with indexes "
            f"{data.table_mb:,.0f} MB), `VACUUM ANALYZE`. {len(TEAMS)} teams of "
            f"{AGENTS_PER_TEAM} agents; 10 % of the conversations not resolved (7 % open, 2 % "
            "pending, 1 % snoozed), 30 % of those unassigned, the rest spread over their team's "
            "agents; 3 % without a team; the open ones active in the last 14 days with an SLA "
            "due between 3 hours ago and a day from now, the resolved ones over two years. "
            "1, 3, 5, 7 or 9 messages per conversation, 4 to 14 words each drawn from a "
            f"Zipf-distributed vocabulary of 5,000 words (`{COMMON_WORD}` the most common), plus "
            f"`{RARE_WORD}` planted in {RARE_COUNT} messages. Requests through Django's test client "
            "as an agent who is a member of one team "
            f"({mine_rows:,} open conversations assigned to them, {unassigned_rows:,} unassigned in "
            f"their team); a search is `GET /inbox/unassigned/?q=…` (the view also runs the "
            "unassigned list, then `conversation_search_for_user`). Median and p95 over "
            f"{requests} requests after 3 warm-ups; **Selector** is "
            "`conversation_list_for_user` or `conversation_search_for_user` alone. **Plan** is the "
            "key line of `EXPLAIN (ANALYZE, BUFFERS)` of the selector's main query (the first scan "
            "of a conversation or message table) and its execution time."
        ),
        columns=[
            "Case",
            "Page median",
            "p95",
            "Selector median",
            "p95",
            "Rows",
            "Plan",
            "EXPLAIN time",
            "Target",
        ],
    )
    for c in cases:
        section.add(
            c.label,
            ms(c.page.median_ms),
            ms(c.page.p95_ms),
            ms(c.selector.median_ms),
            ms(c.selector.p95_ms),
            c.rows,
            f"`{c.plan_line}`",
            ms(c.plan_ms),
            f"< {c.target:.0f} ms: {verdict(c.page.median_ms < c.target)}",
        )
    for c in cases:
        if c.page.median_ms >= c.target:
            section.notes.append(
                f"<details><summary>EXPLAIN (ANALYZE, BUFFERS): {c.label}</summary>\n\n```\n"
                f"{plans[c.label]}\n```\n\n</details>"
            )
    return [section], {"cases": cases, "data": data, "plans": plans}


# ------------------------------------------------------------------------------------------------
# 3. Replay: 10,000 webhooks × 5, shuffled and concurrent
# ------------------------------------------------------------------------------------------------
def _post_many(
    port: int, items: list[tuple[str, str]], threads: int, deadline: float
) -> tuple[int, int, list[int]]:
    """POST (signature, body) pairs from ``threads`` keep-alive connections; (ok, failed, statuses)."""
    lock = threading.Lock()
    position = [0]
    done = [0, 0]
    statuses: dict[int, int] = {}

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                if position[0] >= len(items):
                    break
                signature, body = items[position[0]]
                position[0] += 1
            try:
                conn.request(
                    "POST",
                    WEBHOOK,
                    body=body.encode(),
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": signature,
                    },
                )
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
            with lock:
                done[0 if status == 200 else 1] += 1
                statuses[status] = statuses.get(status, 0) + 1

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return done[0], done[1], sorted(statuses.items())


def _post_part(args: tuple[int, list[tuple[str, str]], int, float]) -> tuple[int, int, list]:
    port, items, threads, deadline = args
    return _post_many(port, items, threads, deadline)


def _process_part(args: tuple[list[int], float]) -> tuple[int, int, float]:
    from django.db import connection as conn

    from inbox import services

    ids, deadline = args
    done = failed = 0
    started = time.perf_counter()
    for event_id in ids:
        if time.monotonic() > deadline:
            break
        try:
            services.inbound_event_process(event_id=event_id)
            done += 1
        except Exception:
            failed += 1
    conn.close()
    return done, failed, time.perf_counter() - started


def bench_replay(
    log_dir: Path, *, distinct: int = 10_000, copies: int = 5, time_limit: float = 300.0
) -> tuple[Section, dict[str, Any]]:
    from inbox.models import InboundEvent, Message

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    prefix = "r" + uuid.uuid4().hex[:6]
    phones = distinct // 5  # five messages per sender: later ones thread into the conversation
    log(f"Replay: {distinct:,} webhooks × {copies}, shuffled, through gunicorn")
    path = log_dir / f"twilio-{prefix}.txt"
    sids = write_signed(path, base_url, prefix, distinct, phones=phones)
    signed = [tuple(line.rstrip("\n").split("\t", 1)) for line in path.open()]
    items = signed * copies
    random.Random(7).shuffle(items)
    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "PUBLIC_BASE_URL": base_url}
    started = time.perf_counter()
    with gunicorn(log_dir, name="replay", port=port, env=env):
        deadline = time.monotonic() + time_limit
        connection.close()
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2) as pool:
            parts = pool.map(_post_part, [(port, items[i::2], 8, deadline) for i in range(2)])
    post_s = time.perf_counter() - started
    ok = sum(p[0] for p in parts)
    failed = sum(p[1] for p in parts)
    statuses: dict[int, int] = {}
    for p in parts:
        for status, n in p[2]:
            statuses[status] = statuses.get(status, 0) + n
    stored = _events(prefix)
    log(f"  {ok:,} answered 200, {failed:,} not ({statuses}) in {post_s:.0f} s; {stored:,} events")

    # Process in two children, split by sender so one sender's messages stay in order.
    events = list(
        InboundEvent.objects.filter(provider="twilio", provider_id__startswith=f"SM{prefix}")
        .order_by("id")
        .values_list("id", "provider_id")
    )
    index = {sid: n for n, sid in enumerate(sids)}
    halves: list[list[int]] = [[], []]
    for event_id, sid in events:
        halves[(index[sid] % phones) % 2].append(event_id)
    messages_before = Message.objects.filter(provider_id__startswith=f"SM{prefix}").count()
    started = time.perf_counter()
    connection.close()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        done = pool.map(_process_part, [(h, time.monotonic() + time_limit) for h in halves])
    process_s = time.perf_counter() - started
    processed = sum(d[0] for d in done)
    process_failed = sum(d[1] for d in done)
    messages = (
        Message.objects.filter(provider_id__startswith=f"SM{prefix}").count() - messages_before
    )
    distinct_messages = (
        Message.objects.filter(provider_id__startswith=f"SM{prefix}")
        .values("provider_id")
        .distinct()
        .count()
    )
    unprocessed = InboundEvent.objects.filter(
        provider_id__startswith=f"SM{prefix}", processed_at__isnull=True
    ).count()
    # Processing twice changes nothing.
    again = events[:200]
    for event_id, _sid in again:
        _process_part(([event_id], time.monotonic() + 60))
    messages_after = Message.objects.filter(provider_id__startswith=f"SM{prefix}").count()
    log(
        f"  processed {processed:,} ({process_failed} failed) in {process_s:.0f} s: "
        f"{messages:,} messages ({distinct_messages:,} distinct sids), {unprocessed} left; "
        f"after processing 200 again: {messages_after:,}"
    )
    ok_all = (
        stored == distinct
        and messages == distinct
        and distinct_messages == distinct
        and messages_after == messages
        and ok == distinct * copies
    )
    section = Section(
        key="inbox-replay",
        title=f"Replay: {distinct:,} webhooks each delivered {copies} times",
        intro=(
            f"{distinct:,} distinct signed inbound SMS ({phones:,} senders, five messages each) "
            f"each posted {copies} times, {distinct * copies:,} requests in a shuffled order, by "
            "2 processes × 8 threads of `http.client` (keep-alive) to `gunicorn cxm.wsgi -w 2`, "
            f"with a {time_limit:.0f} s limit; then the stored events are processed by calling "
            "`inbox.services.inbound_event_process` for each in two forked children of the "
            "benchmark (split by sender; no Celery worker runs), and 200 of them are processed a "
            "second time. Target: exactly one event and one message per distinct webhook."
        ),
        columns=["Step", "Measured", "Expected", "Result"],
    )
    section.add(
        "Requests answered 200",
        f"{ok:,} ({failed:,} not; {post_s:.0f} s, {(ok + failed) / post_s:,.0f} req/s)",
        f"{distinct * copies:,}",
        verdict(ok == distinct * copies),
    )
    section.add("`InboundEvent` rows", f"{stored:,}", f"{distinct:,}", verdict(stored == distinct))
    section.add(
        "`Message` rows after processing",
        f"{messages:,} ({distinct_messages:,} distinct provider ids; {process_s:.0f} s, "
        f"{processed / process_s if process_s else 0:,.0f} events/s, {process_failed} failed, "
        f"{unprocessed} left unprocessed)",
        f"{distinct:,}",
        verdict(messages == distinct and distinct_messages == distinct),
    )
    section.add(
        "`Message` rows after processing 200 events again",
        f"{messages_after:,}",
        f"{messages:,}",
        verdict(messages_after == messages),
    )
    figures = {
        "ok": ok,
        "stored": stored,
        "messages": messages,
        "ok_all": ok_all,
        "post_s": post_s,
        "process_s": process_s,
        "distinct": distinct,
        "copies": copies,
    }
    with contextlib.suppress(OSError):
        path.unlink()
    return section, figures

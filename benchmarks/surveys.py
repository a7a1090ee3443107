"""Surveys benchmarks: the respondent page, completions through gunicorn, and the CSV export.

* **Pages** (``survey-pages``): ``/s/<token>/`` through Django's test client with
  ``close_old_connections()`` around each request, as the other in-process benchmarks do, with CSRF
  checks on (``enforce_csrf_checks=True``: the ``csrftoken`` cookie from a first GET, the form
  token in ``csrfmiddlewaretoken``). Every timed request has its own personal invitation made by
  ``surveys.services.invitation_create``, so each POST is a real first (or last) answer on a
  fresh response. Each POST comes from its own client address (``REMOTE_ADDR``), as respondents
  do, so the per-address rate limit of the page (120 answers a minute) is counted but not hit.
  Baselines in the same process: ``benchmarks/baseline_urls.py``'s bare view (GET) and one-INSERT
  view (POST) through the same client.
* **Load** (``survey-load``): completions through ``gunicorn cxm.wsgi -w 2`` driven by ``wrk``
  with ``benchmarks/survey_complete.lua``, which cycles through a file of pre-built POST bodies,
  one invitation token each, all with the one ``csrftoken`` cookie fetched by a first GET (Django
  accepts the cookie's unmasked secret as the form token). A completion is one POST of the whole
  answer set to an all-on-one-page survey (``display="all"``): it starts the response, stores the
  answers, completes it and writes the timeline interaction. gunicorn runs with
  ``TRUSTED_PROXY_COUNT=1`` and every request names its own address in ``X-Forwarded-For`` (a
  respondent behind a proxy), so the rate limiter runs as in production without throttling a
  single loopback address. Completed ``Response`` rows are counted against the requests
  answered. The baseline is the one-INSERT view under the same gunicorn command in the same run.
* **Export** (``survey-export``): 1,000,000 and 100,000 responses (2–3 answers each) loaded
  with COPY, then ``GET /surveys/<id>/responses.csv`` as a signed-in CX lead in a subprocess
  (the test client, the stream written to /dev/null). Its peak RSS is its own high-water mark
  (``VmHWM`` of ``/proc/self/status``, read just before it exits); ``ru_maxrss`` from ``os.wait4``
  is shown beside it, but on Linux that figure also holds the high-water mark of the image the
  child was forked from (``exec`` folds the old mm's into it), i.e. this benchmark process. An
  export of an empty survey is the baseline.
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.db import connection

from benchmarks.common import Section, Timing, log, ms, verdict
from benchmarks.data import bench_touchpoints, ensure_customers
from benchmarks.server import Load, Server, gunicorn, have_wrk, python_load, wrk

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPT = HERE / "survey_complete.lua"
TARGET_PAGE_MS = 30.0
TARGET_POST_MS = 50.0
TARGET_COMPLETIONS = 300.0
TARGET_EXPORT_RSS_MB = 300.0
FLAT_RATIO = 1.2  # peak RSS at 1,000,000 rows ÷ peak at 100,000 rows still counted as flat
MIN_CUSTOMERS = 100_000
LEAD_EMAIL = "bench-surveys@example.org"
FOLLOW_UP = {  # the NPS template's follow-up question for a score
    **dict.fromkeys(range(7), "improve"),
    **dict.fromkeys((7, 8), "ten"),
    **dict.fromkeys((9, 10), "liked"),
}
WORDS = (
    "bezorging", "snel", "vriendelijk", "personeel", "prijs", "kwaliteit", "retour", "wachttijd",
    "duidelijk", "app", "website", "levering", "pakket", "klantenservice", "helpdesk", "bestelling",
    "product", "maat", "kleur", "korting", "winkel", "kassa", "delivery", "fast", "friendly", "staff",
    "price", "quality", "return", "waiting", "clear", "order", "support", "store",
)  # fmt: skip


def _scalar(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def _kind(sql: str) -> str:
    head = sql.strip().split()[0].upper() if sql.strip() else "?"
    match = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql)
    return f"{head} {match.group(1)}" if match and head != "SAVEPOINT" else head


def _kinds(queries: list[dict[str, Any]]) -> str:
    counts = Counter(_kind(q["sql"]) for q in queries)
    return "; ".join(f"{n}× {kind}" for kind, n in counts.items())


def _ip(n: int) -> str:
    """A distinct client address per request (10.0.0.0/8)."""
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


# ------------------------------------------------------------------------------------------------
# Setup: a CX lead, surveys, invitations
# ------------------------------------------------------------------------------------------------
def lead_user() -> Any:
    from cxm.accounts.models import User
    from cxm.accounts.services import user_create

    user = User.objects.filter(email=LEAD_EMAIL).first() or user_create(
        email=LEAD_EMAIL, name="Bench Surveys", roles=["cx_lead"], password="bench-password-1234"
    )
    if not user.has_perm("surveys.export_responses"):
        raise RuntimeError("the cx_lead role cannot export survey responses")
    return user


def make_survey(name: str, *, display: str, extra_choice: bool = False) -> Any:
    """The NPS template in English and Dutch (a score and one follow-up text question shown by
    the score), on a benchmark touchpoint, active."""
    from surveys import services
    from surveys.models import Question, Survey

    lead = lead_user()
    survey = services.survey_create(
        name=name, kind="nps", default_language="en", languages=["nl"], by=lead
    )
    if extra_choice:
        services.question_save(
            survey=survey,
            language="en",
            key="contact",
            type=Question.Type.SINGLE,
            required=False,
            texts={"text": "How did you contact us?"},
            choice_labels=["Email", "Phone", "Chat", "In the shop"],
        )
    touchpoint = bench_touchpoints()["review.left"]
    Survey.objects.filter(pk=survey.pk).update(display=display, touchpoint_id=touchpoint)
    survey.refresh_from_db()
    return services.survey_status_change(survey=survey, status="active", by=lead)


def make_invitations(survey: Any, count: int, *, offset: int) -> list[tuple[str, str]]:
    """``count`` personal invitations by ``invitation_create``, each for its own customer (the
    customers from ``offset`` on); returns (token, language) pairs."""
    from django.db import transaction

    from journeys.models import Customer
    from surveys import services
    from surveys.models import SurveyChannel

    customers = list(
        Customer.objects.filter(external_id__startswith="CX").order_by("id")[
            offset : offset + count
        ]
    )
    if len(customers) < count:
        raise RuntimeError(f"only {len(customers)} customers from {offset} for {count} invitations")
    out = []
    with transaction.atomic():
        for customer in customers:
            invitation = services.invitation_create(
                survey=survey, customer=customer, channel=SurveyChannel.EMAIL
            )
            out.append((invitation.token, invitation.language))
    return out


def comment(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(4, 14))
    text = " ".join(words).capitalize()
    if rng.random() < 0.2:
        text += ', "echt" goed'
    return text + "."


# ------------------------------------------------------------------------------------------------
# 1. The respondent page in process
# ------------------------------------------------------------------------------------------------
@dataclass
class PageCase:
    key: str
    label: str
    kind: str  # "GET" or "POST"
    timing: Timing
    queries: list[dict[str, Any]]
    baseline: Timing | None = None

    @property
    def target(self) -> float:
        return TARGET_PAGE_MS if self.kind == "GET" else TARGET_POST_MS


class Respondent:
    """Django's test client with CSRF checks on, run like a WSGI server runs a request."""

    def __init__(self) -> None:
        from django.test import Client

        self.client = Client(HTTP_HOST="localhost", enforce_csrf_checks=True)
        self.csrf = ""
        self.addresses = iter(range(1, 10**7))

    def call(self, method: str, url: str, data: dict[str, str] | None, expect: int) -> Any:
        from django.db import close_old_connections

        close_old_connections()
        try:
            if method == "GET":
                response = self.client.get(url)
            else:
                response = self.client.post(
                    url,
                    {**(data or {}), "csrfmiddlewaretoken": self.csrf},
                    REMOTE_ADDR=_ip(next(self.addresses)),
                )
        finally:
            close_old_connections()
        if response.status_code != expect:
            raise RuntimeError(
                f"{method} {url} answered {response.status_code}, not {expect}: "
                f"{response.content[:500]!r}"
            )
        if method == "GET" and not self.csrf:
            self.csrf = (
                response.cookies["csrftoken"].value if "csrftoken" in response.cookies else ""
            )
            if not self.csrf:
                raise RuntimeError("the respondent page set no csrftoken cookie")
        return response


def _steps(fn: Any, items: list[Any], *, warmup: int = 3) -> tuple[Timing, list[dict[str, Any]]]:
    """``fn`` on each item: ``warmup`` untimed, the rest timed except the last, which runs with its
    queries captured."""
    from django.test.utils import CaptureQueriesContext

    for item in items[:warmup]:
        fn(item)
    samples = []
    for item in items[warmup:-1]:
        started = time.perf_counter()
        fn(item)
        samples.append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as captured:
        fn(items[-1])
    return Timing(samples), list(captured.captured_queries)


def bench_pages(*, requests: int) -> tuple[Section, dict[str, Any]]:
    from django.test import override_settings

    from surveys.models import Response

    log(f"Survey pages: {requests} timed requests per case through the test client")
    ensure_customers(MIN_CUSTOMERS)
    n = requests + 4  # 3 warm-ups, the timed ones, one with its queries captured
    one = make_survey(f"Bench NPS, one per screen {uuid.uuid4().hex[:6]}", display="one")
    every = make_survey(f"Bench NPS, all on one page {uuid.uuid4().hex[:6]}", display="all")
    base = _scalar("SELECT count(*) FROM surveys_invitation")
    started = time.perf_counter()
    tokens_one = make_invitations(one, n, offset=base)
    tokens_all = make_invitations(every, n, offset=base + n)
    log(f"  {2 * n} invitations by invitation_create in {time.perf_counter() - started:.1f} s")
    rng = random.Random(5)
    scores = {token: rng.randint(0, 10) for token, _l in tokens_one + tokens_all}
    client = Respondent()
    client.call("GET", f"/s/{tokens_one[0][0]}/", None, 200)  # the csrftoken cookie

    def url(item: tuple[str, str]) -> str:
        return f"/s/{item[0]}/"

    def first(item: tuple[str, str]) -> None:
        token, lang = item
        client.call(
            "POST",
            url(item),
            {
                "question": "recommend",
                "lang": lang,
                "q-recommend": str(scores[token]),
                "action": "next",
            },
            302,
        )

    def last(item: tuple[str, str]) -> None:
        token, lang = item
        key = FOLLOW_UP[scores[token]]
        client.call(
            "POST",
            url(item),
            {"question": key, "lang": lang, f"q-{key}": comment(rng), "action": "next"},
            302,
        )

    def whole(item: tuple[str, str]) -> None:
        token, lang = item
        score = scores[token]
        client.call(
            "POST",
            url(item),
            {
                "lang": lang,
                "q-recommend": str(score),
                f"q-{FOLLOW_UP[score]}": comment(rng),
                "action": "send",
            },
            302,
        )

    def get(item: tuple[str, str]) -> None:
        client.call("GET", url(item), None, 200)

    plan = [
        ("get-fresh", "GET, one question per screen: the first question (no response yet)", "GET", get, tokens_one),
        ("post-first", "POST, one per screen: the first answer (starts the response)", "POST", first, tokens_one),
        ("get-next", "GET, one per screen: the next question (a response in progress)", "GET", get, tokens_one),
        ("post-last", "POST, one per screen: the last answer (completes the response, timeline)", "POST", last, tokens_one),
        ("get-thanks", "GET, one per screen: the thank-you page (completed)", "GET", get, tokens_one),
        ("get-all", "GET, all on one page: the whole form (no response yet)", "GET", get, tokens_all),
        ("post-all", "POST, all on one page: every answer at once (starts and completes)", "POST", whole, tokens_all),
    ]  # fmt: skip
    cases: list[PageCase] = []
    for key, label, kind, fn, items in plan:
        with _quiet():
            timing, queries = _steps(fn, items)
        cases.append(PageCase(key, label, kind, timing, queries))
        log(
            f"  {label}: median {timing.median_ms:.1f} ms, p95 {timing.p95_ms:.1f} ms, "
            f"{len(queries)} SQL statements"
        )

    # Baselines through the same client: the bare view and the one-INSERT view.
    os.environ.setdefault(
        "CXM_BENCH_CUSTOMER_ID", str(_scalar("SELECT min(id) FROM journeys_customer"))
    )
    from django.db import close_old_connections
    from django.test import Client

    plain = Client(HTTP_HOST="localhost")

    def bare(_i: int) -> None:
        close_old_connections()
        try:
            plain.get("/bench/bare")
        finally:
            close_old_connections()

    def insert(_i: int) -> None:
        close_old_connections()
        try:
            plain.post("/bench/insert", {"kind": "page.viewed"}, content_type="application/json")
        finally:
            close_old_connections()

    with override_settings(ROOT_URLCONF="benchmarks.baseline_urls"):
        bare_t, _q = _steps(bare, list(range(n)))
        insert_t, _q = _steps(insert, list(range(n)))
    for case in cases:
        case.baseline = bare_t if case.kind == "GET" else insert_t
    log(
        f"  baselines: bare view {bare_t.median_ms:.2f} ms, one-INSERT view {insert_t.median_ms:.2f} ms"
    )

    completed = Response.objects.filter(
        survey_id__in=[one.pk, every.pk], completed_at__isnull=False
    ).count()
    stored_ok = completed == 2 * n
    interactions = _scalar(
        "SELECT count(*) FROM journeys_interaction WHERE kind = 'survey.response' AND "
        "(data->>'survey_id')::bigint = ANY(%s)",
        [[one.pk, every.pk]],
    )
    sizes = _table_sizes()
    section = Section(
        key="survey-pages",
        title="Respondent page in process",
        intro=(
            "`/s/<token>/` through Django's test client as in the other in-process benchmarks "
            "(middleware, CSRF, rate limiter on Redis, templates; `close_old_connections()` "
            "around each request as a WSGI server runs it; no HTTP, no gunicorn), with CSRF checks "
            "**on**: the `csrftoken` cookie from a first GET and the form token in every POST. "
            "The surveys are the NPS template in English and Dutch on a touchpoint (a 0–10 score; "
            "one of three follow-up text questions, shown by the score). Every request uses its "
            "own personal invitation made by `surveys.services.invitation_create` for its own "
            "customer (the page's language is theirs), and the cases follow one respondent's path: "
            "the first question, the first answer (which starts the response), the next question, "
            "the last answer (which completes it and writes the timeline interaction), the "
            "thank-you page; and on an all-on-one-page survey the whole form and one POST with "
            "every answer. Each POST comes from its own address, so the page's rate limit (120 "
            f"answers a minute per address) is checked but not hit. Median and p95 over {requests} "
            "requests after 3 warm-ups; **SQL** is the statements one more request ran "
            "(transaction control included). The baselines are `benchmarks/baseline_urls.py`'s "
            f"bare view (GET; {ms(bare_t.median_ms)} median) and one-INSERT view (POST; "
            f"{ms(insert_t.median_ms)}) through the same client in the same run. Tables at the "
            f"time: {sizes}. Targets: a page under {TARGET_PAGE_MS:.0f} ms median, an answer "
            f"submitted under {TARGET_POST_MS:.0f} ms median."
        ),
        columns=["Case", "Median", "p95", "SQL", "× baseline", "Target"],
    )
    for case in cases:
        section.add(
            case.label,
            ms(case.timing.median_ms),
            ms(case.timing.p95_ms),
            len(case.queries),
            f"{case.timing.median_ms / case.baseline.median_ms:.1f}×" if case.baseline else "",
            f"< {case.target:.0f} ms: {verdict(case.timing.median_ms < case.target)}",
        )
    section.notes.append(
        f"Check: {completed:,} of the {2 * n:,} invitations' responses completed "
        f"({verdict(stored_ok)}); {interactions:,} `survey.response` interactions on the timelines."
    )
    for case in cases:
        if case.kind == "POST":
            section.notes.append(
                f"SQL of one POST, {case.label.split(':', 1)[1].strip()}: {_kinds(case.queries)}."
            )
    figures = {
        "cases": cases,
        "bare": bare_t,
        "insert": insert_t,
        "check": stored_ok,
        "requests": requests,
    }
    return section, figures


def _table_sizes() -> str:
    counts = []
    for table, label in (
        ("surveys_response", "responses"),
        ("surveys_answer", "answers"),
        ("surveys_invitation", "invitations"),
        ("journeys_interaction", "interactions"),
        ("journeys_customer", "customers"),
    ):
        counts.append(f"{_scalar(f'SELECT count(*) FROM {table}'):,} {label}")
    return ", ".join(counts)


# ------------------------------------------------------------------------------------------------
# 2. Completions through gunicorn
# ------------------------------------------------------------------------------------------------
@dataclass
class LoadCase:
    label: str
    load: Load
    completed: int | None = None
    cpu_ms: float = 0.0
    pg_cpu_ms: float = 0.0
    tokens: int = 0
    answers: int = 0
    interactions: int = 0
    connections: int = 0

    @property
    def answered(self) -> int:
        return self.load.requests - self.load.errors

    @property
    def check(self) -> bool:
        """Each answered request completed its own response (two answers, one interaction);
        requests in flight when the load stopped (one per connection at most) may add a few."""
        if self.completed is None:
            return self.load.errors == 0
        return (
            self.load.errors == 0
            and self.answered <= self.tokens
            and self.answered <= self.completed <= self.answered + self.connections
            and self.answers == 2 * self.completed
            and self.interactions == self.completed
        )


def _http(
    port: int, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body.encode() or None, headers=headers or {})
        response = conn.getresponse()
        raw = response.read()
        cookies = {}
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _sep, val = pair.partition("=")
                cookies[key.strip()] = val.strip()
        return response.status, cookies, raw
    finally:
        conn.close()


def completion_body(token: str, lang: str, csrf: str, rng: random.Random) -> str:
    score = rng.randint(0, 10)
    return urlencode(
        {
            "csrfmiddlewaretoken": csrf,
            "lang": lang,
            "q-recommend": str(score),
            f"q-{FOLLOW_UP[score]}": comment(rng),
            "action": "send",
        }
    )


def write_completions(path: Path, tokens: list[tuple[str, str]], csrf: str, first_ip: int) -> None:
    rng = random.Random(11)
    with path.open("w") as out:
        for n, (token, lang) in enumerate(tokens):
            body = completion_body(token, lang, csrf, rng)
            out.write(f"{_ip(first_ip + n)}\t/s/{token}/\t{body}\n")


_LINES: list[str] = []


def _python_request(conn_no: int, n: int) -> tuple[str, str, bytes, dict[str, str]]:
    """The Python load generator's request: the same lines the Lua script sends."""
    if not _LINES:
        _LINES.extend(Path(os.environ["CXM_BENCH_SURVEY_FILE"]).read_text().splitlines())
    threads = int(os.environ["CXM_BENCH_THREADS"])
    slots = 2 * threads
    slot = (conn_no // 1000) * threads + conn_no % 1000
    ip, path, body = _LINES[(slot + n * slots) % len(_LINES)].split("\t")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"csrftoken={os.environ['CXM_BENCH_CSRF']}",
        "X-Forwarded-For": ip,
    }
    return "POST", path, body.encode(), headers


def _load(port: int, path: Path, csrf: str, *, seconds: int, connections: int) -> Load:
    if have_wrk():
        threads = min(2, connections)
        return wrk(
            f"http://127.0.0.1:{port}/",
            script=SCRIPT,
            script_args=[str(path), str(threads), csrf],
            seconds=seconds,
            connections=connections,
            threads=threads,
        )
    connection.close()  # the load generator forks
    threads = max(1, connections // 2)
    os.environ.update(
        CXM_BENCH_SURVEY_FILE=str(path), CXM_BENCH_CSRF=csrf, CXM_BENCH_THREADS=str(threads)
    )
    return python_load(port, _python_request, seconds=seconds, processes=2, threads=threads)


def postgres_cpu() -> float:
    """User + system CPU seconds of the harness's PostgreSQL so far: the postmaster, its live
    children (backends, checkpointer, WAL writer…) and the children it has reaped."""
    import psutil

    pid = int(_scalar("SELECT pg_backend_pid()"))
    master = psutil.Process(pid).parent()
    if master is None:
        return 0.0
    times = master.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in master.children():
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _count_survey(survey_id: int) -> tuple[int, int, int]:
    """Completed responses, their answers and ``survey.response`` interactions of a survey."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM surveys_response WHERE survey_id = %s AND completed_at IS NOT "
            "NULL",
            [survey_id],
        )
        completed = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT count(*) FROM surveys_answer a JOIN surveys_response r ON r.id = a.response_id "
            "WHERE r.survey_id = %s",
            [survey_id],
        )
        answers = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT count(*) FROM journeys_interaction WHERE kind = 'survey.response' AND "
            "(data->>'survey_id')::bigint = %s",
            [survey_id],
        )
        interactions = int(cursor.fetchone()[0])
    return completed, answers, interactions


def _completions(
    label: str,
    server: Server,
    log_dir: Path,
    *,
    seconds: int,
    connections: int,
    count: int,
) -> LoadCase:
    """A survey of its own, ``count`` invitations, a warm-up, then the load on ``server``."""
    survey = make_survey(f"Bench NPS, all on one page, load {uuid.uuid4().hex[:6]}", display="all")
    offset = int(_scalar("SELECT count(*) FROM surveys_invitation"))
    started = time.perf_counter()
    tokens = make_invitations(survey, count + 8, offset=offset)
    log(
        f"  {count + 8:,} invitations by invitation_create in {time.perf_counter() - started:.1f} s"
    )
    warm, tokens = tokens[:8], tokens[8:]
    # The csrftoken cookie from the page, as a browser gets it; then warm both workers up.
    status, cookies, _raw = _http(server.port, "GET", f"/s/{warm[0][0]}/")
    csrf = cookies.get("csrftoken", "")
    if status != 200 or not csrf:
        raise RuntimeError(
            f"respondent page answered {status} without a csrftoken:\n{server.tail()}"
        )
    rng = random.Random(3)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf}"}
    for n, (token, lang) in enumerate(warm):
        body = completion_body(token, lang, csrf, rng)
        status, _c, raw = _http(
            server.port, "POST", f"/s/{token}/", body, {**headers, "X-Forwarded-For": _ip(n + 1)}
        )
        if status != 302:
            raise RuntimeError(f"a completion answered {status}: {raw[:500]!r}\n{server.tail()}")
    status, _c, _raw = _http(
        server.port,
        "POST",
        f"/s/{tokens[-1][0]}/",
        completion_body(tokens[-1][0], "en", csrf, rng),
        {**headers, "Cookie": "csrftoken=" + "x" * 32},
    )
    if status != 403:
        raise RuntimeError(f"a POST with a wrong CSRF token answered {status}, not 403")
    before = _count_survey(survey.pk)
    if before[0] != len(warm) or before[2] != len(warm):
        raise RuntimeError(f"the warm-up completions did not complete their responses: {before}")
    lines = log_dir / f"survey-completions-{survey.pk}.txt"
    write_completions(lines, tokens, csrf, first_ip=1000)
    cpu, pg_cpu = server.cpu_seconds(), postgres_cpu()
    load = _load(server.port, lines, csrf, seconds=seconds, connections=connections)
    time.sleep(0.5)  # requests still in a worker when the load stopped
    cpu, pg_cpu = server.cpu_seconds() - cpu, postgres_cpu() - pg_cpu
    after = _count_survey(survey.pk)
    completed, answers, interactions = (a - b for a, b in zip(after, before, strict=True))
    case = LoadCase(
        label,
        load,
        completed=completed,
        cpu_ms=cpu / load.requests * 1000 if load.requests else 0,
        pg_cpu_ms=pg_cpu / load.requests * 1000 if load.requests else 0,
        tokens=len(tokens),
        answers=answers,
        interactions=interactions,
        connections=connections,
    )
    log(
        f"  {label}: {load.rps:,.0f} req/s, p50 {load.latency_ms.get('50%', 0):.1f} ms, p99 "
        f"{load.latency_ms.get('99%', 0):.1f} ms, {load.errors} errors, {completed:,} completed "
        f"of {case.answered:,} answered, {answers:,} answers, {interactions:,} interactions, "
        f"gunicorn CPU {case.cpu_ms:.2f} ms/request, PostgreSQL CPU {case.pg_cpu_ms:.2f} ms/request; "
        f"check {verdict(case.check)}"
    )
    if load.errors:
        log(f"    gunicorn log tail:\n{server.tail(1500)}")
    return case


def bench_load(log_dir: Path, *, seconds: int, connections: int) -> tuple[Section, dict[str, Any]]:
    from benchmarks.ingest import _load as insert_load
    from benchmarks.server import post_json

    tool = "wrk" if have_wrk() else "a Python load generator (wrk is not installed)"
    log(f"Survey completions: {seconds} s of load per case with {tool}, {connections} connections")
    ensure_customers(MIN_CUSTOMERS)
    os.environ.setdefault(
        "CXM_BENCH_CUSTOMER_ID", str(_scalar("SELECT min(id) FROM journeys_customer"))
    )
    # Enough tokens that no request of a run repeats one (~2.5× the target rate, at least
    # 6,000); the check says whether a run used more than there were.
    count = max(6000, int(TARGET_COMPLETIONS * 2.5 * seconds))
    env = {"TRUSTED_PROXY_COUNT": "1"}
    cases: list[LoadCase] = []

    with gunicorn(
        log_dir,
        name="baseline-surveys",
        settings="benchmarks.baseline_settings",
        probe="/bench/bare",
        env=env,
    ) as base:
        post_json(base.port, "/bench/insert", {"kind": "warm.up"}, {})
        cpu, pg_cpu = base.cpu_seconds(), postgres_cpu()
        load = insert_load(
            base.port,
            "/bench/insert",
            token="",
            nonce=uuid.uuid4().hex[:6],
            customers=MIN_CUSTOMERS,
            touchpoints="",
            seconds=seconds,
            connections=connections,
        )
        time.sleep(0.5)
        cpu, pg_cpu = base.cpu_seconds() - cpu, postgres_cpu() - pg_cpu
        insert = LoadCase(
            INSERT,
            load,
            cpu_ms=cpu / load.requests * 1000 if load.requests else 0,
            pg_cpu_ms=pg_cpu / load.requests * 1000 if load.requests else 0,
            connections=connections,
        )
        cases.append(insert)
        log(f"  {INSERT}: {load.rps:,.0f} req/s, p99 {load.latency_ms.get('99%', 0):.1f} ms")
    with gunicorn(log_dir, name="surveys", env=env) as app:
        full = _completions(
            FULL, app, log_dir, seconds=seconds, connections=connections, count=count
        )
        cases.append(full)
    with gunicorn(
        log_dir,
        name="surveys-lean",
        app="benchmarks.survey_variant_wsgi",
        env={**env, "CXM_BENCH_SURVEY_VARIANT": "lean"},
    ) as what_if:
        lean = _completions(
            LEAN, what_if, log_dir, seconds=seconds, connections=connections, count=count
        )
        cases.append(lean)

    per_s = (full.completed or 0) / full.load.seconds if full.load.seconds else 0.0
    ratio = full.load.rps / insert.load.rps if insert.load.rps else 0.0
    profile = completion_profile()
    section = Section(
        key="survey-load",
        title="Completed responses through gunicorn",
        intro=(
            "A completion is one `POST /s/<token>/` of a whole answer set (the score, the "
            "follow-up text the score shows, `action=send`) to an all-on-one-page NPS survey "
            '(`display="all"`, English and Dutch, on a touchpoint): it starts the invitation\'s '
            "response, stores both answers, completes the response, marks the invitation "
            "responded and writes the `survey.response` interaction on the customer's timeline, "
            "then redirects (302) to the thank-you page. Served by `gunicorn cxm.wsgi -w 2` (sync "
            "workers) on loopback, driven by "
            f"{tool} (`benchmarks/survey_complete.lua`) for {seconds} s with {connections} "
            f"connections. For each case {count:,} personal invitations were made beforehand by "
            "`invitation_create` (each for its own customer) and written, one POST body each, to "
            "a file the Lua script reads, each wrk thread taking every other line, so no request "
            "repeats a token. CSRF is checked as for a browser: one GET of the page gave the "
            "`csrftoken` cookie, sent with every POST, and its value is the form token (Django "
            "accepts the unmasked secret); a POST with a wrong cookie was refused (403). gunicorn "
            "runs with `TRUSTED_PROXY_COUNT=1` and each request names its own address in "
            "`X-Forwarded-For`, so the page's per-address rate limit runs (on Redis) as it would "
            "for respondents behind a proxy, without throttling the one loopback address. "
            "**Completed** counts the survey's completed `Response` rows after the run against "
            "the requests answered (2xx/3xx); **answers** and **interactions** are its rows in "
            "those tables (two answers and one interaction per completion). The baseline is the "
            "one-INSERT view of `benchmarks/baseline_urls.py` under the same gunicorn command, "
            "measured in the same run with the same connections (JSON POSTs from "
            "`benchmarks/single_event.lua`). **CPU/request** is the user + system CPU during the "
            "load ÷ requests, of gunicorn (master and workers) and of PostgreSQL (postmaster, "
            "backends and background work such as autovacuum; the load generator's is in "
            "neither): with two cores, their sum caps the "
            "rate at about 2,000 ms ÷ (gunicorn + PostgreSQL ms) per second. The **what if** row is not the app: the same gunicorn "
            "command serving `benchmarks/survey_variant_wsgi.py`, which replaces the view's "
            "first-submit path with one transaction of five writes (see there), to show what "
            "the statements cost. "
            f"Target: at least {TARGET_COMPLETIONS:,.0f} completed responses/s."
        ),
        columns=[
            "Case",
            "Requests/s",
            "Latency p50",
            "p90",
            "p99",
            "Errors",
            "Completed (answers, interactions)",
            "gunicorn CPU/request",
            "PostgreSQL CPU/request",
            "Of the one-INSERT view",
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
            f"{case.completed:,} of {case.answered:,} answered = "
            f"{case.completed / case.load.seconds:,.0f}/s ({case.answers:,}, "
            f"{case.interactions:,}): {verdict(case.check)}"
            if case.completed is not None
            else "",
            f"{case.cpu_ms:.2f} ms",
            f"{case.pg_cpu_ms:.2f} ms",
            f"{case.load.rps / insert.load.rps:.0%}",
        )
    section.notes.append(
        f"Check: every answered request completed its own response, with two answers and one "
        f"interaction, and no token was used twice ({full.tokens:,} per case): app "
        f"{verdict(full.check)}, what if {verdict(lean.check)}."
    )
    section.notes.append(
        "Where one completion's time goes, in this process through the test client (no HTTP; "
        f"medians of {profile['n']}): the request takes **{profile['request']:.2f} ms** and runs "
        f"**{profile['queries']} SQL statements** ({profile['kinds']}); "
        f"{profile['sql_ms']:.2f} ms of it is spent inside the database calls (psycopg, the round "
        "trip and PostgreSQL's work; BEGIN and COMMIT not included), the rest in Django and the "
        "ORM. The "
        f"services alone: `response_start` {profile['start']:.2f} ms, `answers_record` "
        f"{profile['record']:.2f} ms, `response_complete` {profile['complete']:.2f} ms (with the "
        f"timeline interaction). The what-if path takes {profile['lean']:.2f} ms with "
        f"{profile['lean_queries']} statements ({profile['lean_kinds']})."
    )
    figures = {
        "insert": insert,
        "full": full,
        "lean": lean,
        "per_s": per_s,
        "lean_per_s": (lean.completed or 0) / lean.load.seconds if lean.load.seconds else 0.0,
        "ratio": ratio,
        "check": full.check,
        "profile": profile,
    }
    return section, figures


INSERT = "Baseline: view doing one INSERT (ORM `create`)"
FULL = "Completions: one POST of a whole answer set each"
LEAN = "What if: the first submit as one transaction of five writes (`survey_variant_wsgi.py`)"


def completion_profile(n: int = 60) -> dict[str, Any]:
    """One completion in this process, on fresh invitations: the request through the test client
    with its statements and the time spent in database calls; the three services it calls; and
    the what-if path of ``benchmarks/survey_variant_wsgi.py`` patched in for a moment."""
    import statistics

    from surveys import services
    from surveys.answers import answer_parse
    from surveys.models import Invitation
    from surveys.scoring import visible_questions
    from surveys.views import respond

    survey = make_survey(f"Bench NPS, profile {uuid.uuid4().hex[:6]}", display="all")
    offset = int(_scalar("SELECT count(*) FROM surveys_invitation"))
    tokens = make_invitations(survey, 3 * n + 12, offset=offset)
    client = Respondent()
    client.call("GET", f"/s/{tokens[0][0]}/", None, 200)
    rng = random.Random(9)

    def post(item: tuple[str, str]) -> None:
        token, lang = item
        score = rng.randint(0, 10)
        client.call(
            "POST",
            f"/s/{token}/",
            {"lang": lang, "q-recommend": str(score), f"q-{FOLLOW_UP[score]}": comment(rng), "action": "send"},
            302,
        )  # fmt: skip

    spent: list[float] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.append(time.perf_counter() - started)

    with _quiet():
        request, queries = _steps(post, tokens[: n + 4])
        with connection.execute_wrapper(timed):
            for item in tokens[n + 4 : n + 4 + 20]:
                post(item)
        sql_ms = sum(spent) / 20 * 1000
        from benchmarks import survey_variant_wsgi as variant

        variant.APP_POST = respond._post
        respond._post = variant._lean_post  # type: ignore[assignment]
        try:
            lean, lean_queries = _steps(post, tokens[n + 24 : 2 * n + 28])
        finally:
            respond._post = variant.APP_POST  # type: ignore[assignment]
        questions = list(survey.questions.all())
        start_t, record_t, complete_t = [], [], []
        for token, lang in tokens[2 * n + 28 :]:
            invitation = Invitation.objects.select_related("survey", "customer").get(token=token)
            score = rng.randint(0, 10)
            data = {"q-recommend": str(score), f"q-{FOLLOW_UP[score]}": comment(rng)}
            t0 = time.perf_counter()
            response = services.response_start(
                survey=invitation.survey, language=lang, invitation=invitation
            )
            t1 = time.perf_counter()
            values = {q.key: answer_parse(q, data) for q in questions}
            given = {q.key: values[q.key].comparable(q) for q in questions}
            visible = visible_questions(questions, given)
            t2 = time.perf_counter()
            services.answers_record(
                response=response,
                values={q: values[q.key] for q in visible},
                language=lang,
                questions=questions,
            )
            t3 = time.perf_counter()
            services.response_complete(response=response, questions=questions)
            t4 = time.perf_counter()
            start_t.append(t1 - t0)
            record_t.append(t3 - t2)
            complete_t.append(t4 - t3)
    return {
        "n": n,
        "request": request.median_ms,
        "queries": len(queries),
        "kinds": _kinds(queries),
        "sql_ms": sql_ms,
        "start": statistics.median(start_t) * 1000,
        "record": statistics.median(record_t) * 1000,
        "complete": statistics.median(complete_t) * 1000,
        "lean": lean.median_ms,
        "lean_queries": len(lean_queries),
        "lean_kinds": _kinds(lean_queries),
    }


class _quiet:
    """Mute the surveys' INFO log line per completion in this process (the benchmark's output
    is its log); gunicorn's workers keep writing it."""

    def __enter__(self) -> None:
        import logging

        self.logger = logging.getLogger("surveys")
        self.level = self.logger.level
        self.logger.setLevel(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)


# ------------------------------------------------------------------------------------------------
# 3. The CSV export of a million responses
# ------------------------------------------------------------------------------------------------
RESPONSE_COLUMNS = (
    "id", "survey_id", "customer_id", "token", "survey_version", "language", "channel",
    "touchpoint_id", "score", "band", "started_at", "updated_at", "completed_at",
)  # fmt: skip
ANSWER_COLUMNS = (
    "response_id",
    "question_id",
    "number",
    "choices",
    "text",
    "created_at",
    "updated_at",
)
EXPORT_URL = "/surveys/{survey_id}/responses.csv"
CURVE_POINTS = (0.2, 0.4, 0.6, 0.8, 0.95)


def _band(score: int) -> str:
    return "positive" if score >= 9 else "neutral" if score >= 7 else "negative"


def export_rows(
    survey: Any,
    questions: dict[str, Any],
    count: int,
    first_id: int,
    customer_ids: list[int],
    touchpoints: list[int],
) -> Any:
    """COPY lines in chunks of 20,000 responses: yields (response lines, answer lines).

    ``count`` responses of ``survey`` with ids from ``first_id`` over the last year, 8 % never
    completed; 85 % of a known customer, 70 % on a touchpoint. Answers: the score; the follow-up
    question the score shows (a comment in 75 %, else an empty answer, i.e. seen and skipped;
    half of the uncompleted responses stopped before it); the choice question in half of them.
    About 2.5 answers a response. ``questions`` (key → question) are read beforehand: no query
    may run on the connection while its COPY is open."""
    choice_keys = [c["key"] for c in questions["contact"].choices]
    follow_ids = {score: questions[key].pk for score, key in FOLLOW_UP.items()}
    recommend, contact = questions["recommend"].pk, questions["contact"].pk
    rng = random.Random(survey.pk)
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    version = str(survey.version)
    responses: list[str] = []
    answers: list[str] = []
    for i in range(count):
        rid = first_id + i
        score = rng.randint(0, 10)
        started = end - dt.timedelta(seconds=rng.randrange(365 * 86400))
        finished = (started + dt.timedelta(seconds=rng.randrange(20, 600))).isoformat()
        stamp = started.isoformat()
        complete = rng.random() >= 0.08
        customer = str(rng.choice(customer_ids)) if rng.random() < 0.85 else r"\N"
        touchpoint = str(rng.choice(touchpoints)) if rng.random() < 0.7 else r"\N"
        language = "nl" if rng.random() < 0.6 else "en"
        channel = rng.choice(("email", "email", "sms", "link", "whatsapp"))
        responses.append(
            f"{rid}\t{survey.pk}\t{customer}\tb{survey.pk:05d}x{i:016d}\t{version}\t{language}\t"
            f"{channel}\t{touchpoint}\t{score}\t{_band(score)}\t{stamp}\t{finished}\t"
            f"{finished if complete else chr(92) + 'N'}\n"
        )
        answers.append(f"{rid}\t{recommend}\t{score}\t[]\t\t{stamp}\t{stamp}\n")
        if complete or rng.random() < 0.5:
            text = comment(rng) if rng.random() < 0.75 else ""
            answers.append(f"{rid}\t{follow_ids[score]}\t\\N\t[]\t{text}\t{finished}\t{finished}\n")
        if rng.random() < 0.5:
            picked = rng.choice(choice_keys)
            answers.append(f'{rid}\t{contact}\t\\N\t["{picked}"]\t\t{finished}\t{finished}\n')
        if len(responses) >= 20_000:
            yield responses, answers
            responses, answers = [], []
    if responses:
        yield responses, answers


def _non_unique_indexes(table: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = "
            "i.indexname JOIN pg_index x ON x.indexrelid = c.oid WHERE i.tablename = %s AND NOT "
            "x.indisunique ORDER BY i.indexname",
            [table],
        )
        return list(cursor.fetchall())


def load_export(var_dir: Path, sizes: list[int]) -> tuple[list[Any], dict[str, Any]]:
    """One survey per size (0: the empty baseline), its responses and answers loaded with COPY.

    The non-unique indexes of both tables are dropped and built again after the load; foreign-key
    triggers are skipped during it (``session_replication_role = replica``: the rows only name
    the surveys, questions, customers and touchpoints just read); the answers' lines are spooled
    to a file while the responses are copied, then copied in a second COPY; ``VACUUM ANALYZE``."""
    ensure_customers(MIN_CUSTOMERS)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM journeys_customer WHERE external_id LIKE 'CX%%' ORDER BY id LIMIT %s",
            [MIN_CUSTOMERS],
        )
        customer_ids = [row[0] for row in cursor.fetchall()]
    touchpoints = list(bench_touchpoints().values())
    surveys = [
        make_survey(
            f"Bench export {size:,} {uuid.uuid4().hex[:6]}", display="one", extra_choice=True
        )
        for size in sizes
    ]
    questions = [{q.key: q for q in survey.questions.all()} for survey in surveys]
    indexes = _non_unique_indexes("surveys_response") + _non_unique_indexes("surveys_answer")
    with connection.cursor() as cursor:
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
    total = sum(sizes)
    spool = var_dir / "survey-answers.copy"
    answers = 0
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('surveys_response', 'id'))")
        first_id = int(cursor.fetchone()[0])
        if total > 1:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('surveys_response', 'id'), %s)",
                [first_id + total - 1],
            )
        cursor.execute("SET session_replication_role = replica")
        try:
            r_sql = f"COPY surveys_response ({', '.join(RESPONSE_COLUMNS)}) FROM STDIN"
            with spool.open("w") as out, cursor.cursor.copy(r_sql) as copy:
                next_id = first_id
                for survey, keyed, size in zip(surveys, questions, sizes, strict=True):
                    for responses, lines in export_rows(
                        survey, keyed, size, next_id, customer_ids, touchpoints
                    ):
                        copy.write("".join(responses).encode())
                        out.write("".join(lines))
                        answers += len(lines)
                    next_id += size
            timings["responses"] = time.perf_counter() - started
            a_sql = f"COPY surveys_answer ({', '.join(ANSWER_COLUMNS)}) FROM STDIN"
            with spool.open("rb") as source, cursor.cursor.copy(a_sql) as copy:
                while block := source.read(8 * 2**20):
                    copy.write(block)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    spool.unlink()
    timings["copy"] = time.perf_counter() - started
    log(
        f"  COPY of {total:,} responses and {answers:,} answers: {timings['copy']:.1f} s "
        f"({(total + answers) / timings['copy']:,.0f} rows/s)"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute("RESET maintenance_work_mem")
    timings["index"] = time.perf_counter() - started
    log(f"  {len(indexes)} indexes built again: {timings['index']:.1f} s")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) surveys_response")
        cursor.execute("VACUUM (ANALYZE) surveys_answer")
    timings["analyze"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('surveys_response'), pg_total_relation_size('surveys_answer')"
        )
        r_bytes, a_bytes = cursor.fetchone()
    return surveys, {
        "timings": timings,
        "answers": answers,
        "total": total,
        "indexes": [name for name, _d in indexes],
        "mb": (r_bytes / 2**20, a_bytes / 2**20),
    }


def export_child() -> None:
    """In a subprocess: sign in as the CX lead and stream the export to /dev/null.

    ``python -c "from benchmarks.surveys import export_child; export_child()" SURVEY EMAIL OUT``
    (with the harness's environment and ``DJANGO_SETTINGS_MODULE``); writes figures as JSON."""
    import json

    import django

    survey_id, email, out_path = sys.argv[1:4]
    django.setup()
    after_setup = _hwm_mb()
    from django.db import close_old_connections
    from django.test import Client

    from cxm.accounts.models import User

    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(email=email))
    close_old_connections()
    before = _hwm_mb()
    started = time.perf_counter()
    response = client.get(EXPORT_URL.format(survey_id=survey_id))
    if response.status_code != 200 or not response.streaming:
        raise SystemExit(
            f"export answered {response.status_code} (streaming: {response.streaming})"
        )
    first = 0.0
    size = lines = 0
    header = b""
    with open(os.devnull, "wb") as sink:
        for chunk in response.streaming_content:  # type: ignore[attr-defined]
            if not header:
                first = time.perf_counter() - started
                header = chunk.split(b"\r\n", 1)[0]
            size += len(chunk)
            lines += chunk.count(b"\n")
            sink.write(chunk)
    response.close()
    elapsed = time.perf_counter() - started
    close_old_connections()
    with open(out_path, "w") as out:
        json.dump(
            {
                "rows": lines - 1,
                "bytes": size,
                "seconds": elapsed,
                "first_s": first,
                "rss_before_mb": before,
                "rss_setup_mb": after_setup,
                "hwm_mb": _hwm_mb(),
                "header": header.decode(),
                "type": response["Content-Type"],
                "disposition": response["Content-Disposition"],
            },
            out,
        )


def _hwm_mb() -> float:
    """This process's peak RSS since its ``exec``: ``VmHWM`` of /proc/self/status, in MB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024  # kB


@dataclass
class ExportRun:
    label: str
    expected: int
    rows: int
    bytes: int
    stream_s: float
    first_s: float
    wall_s: float
    peak_rss_mb: float  # the child's own VmHWM
    rss_before_mb: float
    ru_maxrss_mb: float = 0.0  # from wait4: also the pre-exec image (this process)
    stream_peak_mb: float = 0.0  # the highest psutil sample during the stream
    curve_mb: list[float] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.stream_s if self.stream_s else 0.0


def run_export(var_dir: Path, survey: Any, label: str, expected: int) -> ExportRun:
    import json

    import psutil

    out_path = var_dir / f"survey-export-{survey.pk}.json"
    log_path = var_dir / f"survey-export-{survey.pk}.log"
    samples: list[tuple[float, int]] = []
    code = "from benchmarks.surveys import export_child; export_child()"
    connection.close()  # nothing of ours is held open while the child runs
    with log_path.open("w") as log_file:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(survey.pk), LEAD_EMAIL, str(out_path)],
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        done = threading.Event()

        def sample() -> None:
            try:
                p = psutil.Process(proc.pid)
                while not done.is_set():
                    samples.append((time.perf_counter() - started, p.memory_info().rss))
                    done.wait(0.05)
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                pass

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the export subprocess failed:\n{log_path.read_text()[-3000:]}")
    figures = json.loads(out_path.read_text())
    # the stream's part of the run: from the request (after start-up) to the last byte
    stream_start = wall - figures["seconds"]
    curve = []
    for share in CURVE_POINTS:
        at = [
            rss for t, rss in samples if t <= stream_start + figures["seconds"] * share and rss > 0
        ]
        curve.append((at[-1] if at else 0) / 2**20)
    during = [rss for t, rss in samples if t >= stream_start and rss > 0]
    run = ExportRun(
        label=label,
        expected=expected,
        rows=figures["rows"],
        bytes=figures["bytes"],
        stream_s=figures["seconds"],
        first_s=figures["first_s"],
        wall_s=wall,
        peak_rss_mb=figures["hwm_mb"],
        ru_maxrss_mb=usage.ru_maxrss / 1024,
        rss_before_mb=figures["rss_before_mb"],
        stream_peak_mb=max(during, default=0) / 2**20,
        curve_mb=curve,
    )
    log(
        f"  {label}: {run.rows:,} rows ({run.bytes / 2**20:,.0f} MB) in {run.stream_s:.1f} s = "
        f"{run.rows_per_s:,.0f} rows/s; peak RSS {run.peak_rss_mb:.0f} MB (ru_maxrss "
        f"{run.ru_maxrss_mb:.0f} MB; before the request "
        f"{run.rss_before_mb:.0f} MB, after django.setup() {figures['rss_setup_mb']:.0f} MB, "
        f"highest sample in the stream {run.stream_peak_mb:.0f} MB); "
        f"wall {wall:.1f} s"
    )
    return run


def export_plan(survey: Any, depth: int | None) -> tuple[str, float, int]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the export's chunk query, the first chunk (``None``) or
    the one ``depth`` rows in: its scan of surveys_response, the rows that scan read and threw
    away, and the execution time."""
    from surveys.models import Response

    responses = Response.objects.filter(survey=survey)
    if depth is not None:
        last = (
            Response.objects.filter(survey=survey)
            .order_by("-id")
            .values_list("id", flat=True)[depth]
        )
        responses = responses.filter(pk__lt=last)
    chunk = responses.order_by("-id").values_list(
        "id", "started_at", "completed_at", "language", "channel", "survey_version",
        "customer_id", "customer__email", "touchpoint__name", "score", "band",
    )[:2000]  # fmt: skip
    plan = chunk.explain(analyze=True, buffers=True).splitlines()
    at = next(
        (n for n, line in enumerate(plan) if "Scan" in line and "surveys_response" in line), 0
    )
    scan = re.sub(r"\s*\(cost=.*", "", plan[at]).strip().lstrip("-> ").strip()
    removed = 0
    for line in plan[at + 1 :]:
        if "->" in line:
            break
        if "Rows Removed by Filter" in line:
            removed = int(re.findall(r"\d+", line)[0])
    total = next((line for line in plan if line.startswith("Execution Time")), "")
    return scan, float(re.findall(r"[\d.]+", total)[0]) if total else 0.0, removed


def bench_export(var_dir: Path, *, big: int, small: int) -> tuple[Section, dict[str, Any]]:
    log(f"Survey export: {big:,} and {small:,} responses loaded with COPY")
    lead_user()
    surveys, loaded = load_export(var_dir, [big, small, 0])
    big_survey, small_survey, empty_survey = surveys
    runs = [
        run_export(var_dir, empty_survey, "Empty survey (baseline: start-up, sign-in, header)", 0),
        run_export(var_dir, small_survey, f"{small:,} responses", small),
        run_export(var_dir, big_survey, f"{big:,} responses", big),
    ]
    empty, small_run, big_run = runs
    first_plan = export_plan(big_survey, None)
    middle_plan = export_plan(big_survey, min(big - 1, big // 2))
    ratio = big_run.peak_rss_mb / small_run.peak_rss_mb if small_run.peak_rss_mb else 0.0
    stream_ratio = (
        big_run.stream_peak_mb / small_run.stream_peak_mb if small_run.stream_peak_mb else 0.0
    )
    rows_ok = all(r.rows == r.expected for r in runs)
    r_mb, a_mb = loaded["mb"]
    section = Section(
        key="survey-export",
        title=f"CSV export of {big:,} responses",
        intro=(
            f"{loaded['total']:,} responses in three surveys ({big:,}, {small:,} and none) and "
            f"{loaded['answers']:,} answers ({loaded['answers'] / max(loaded['total'], 1):.1f} a "
            f"response) loaded with COPY in {loaded['timings']['copy']:.0f} s (the non-unique "
            f"indexes of both tables dropped first and built again in "
            f"{loaded['timings']['index']:.0f} s; `VACUUM ANALYZE`; responses with indexes "
            f"{r_mb:,.0f} MB, answers {a_mb:,.0f} MB). Each survey is the NPS template plus a "
            "single-choice question; 8 % of the responses were never completed, 85 % belong to "
            "one of 100,000 customers, 70 % name a touchpoint, and 75 % of the follow-up answers "
            "hold a comment (some with commas and quotes). `GET /surveys/<id>/responses.csv` "
            'runs in a subprocess (`python -c "from benchmarks.surveys import export_child; '
            "export_child()\"` with the harness's environment): Django's test client signed in "
            "as a CX lead (`force_login`), the `StreamingHttpResponse` consumed chunk by chunk "
            "and written to /dev/null. **Peak RSS** is that subprocess's own high-water mark, "
            "start-up included (`VmHWM` of `/proc/self/status`, read just before it exits); "
            "**before the request** is the same after `django.setup()` and the sign-in. "
            "**ru_maxrss** is the kernel's figure from `os.wait4` as `benchmarks/imports.py` "
            "takes it; on Linux it also holds the high-water mark of the image the child was "
            "forked from (`exec` folds the old address space's into it), here the benchmark "
            "process, so it is not the export's own. The RSS during the stream is sampled by "
            "psutil every 50 ms (shown at 20/40/60/80/95 % of the stream, and the highest "
            "sample). **Stream** is the time from the request to the last byte; rows/s = CSV "
            "rows ÷ that. The empty survey's export is the baseline. Target: peak RSS under "
            f"{TARGET_EXPORT_RSS_MB:.0f} MB, flat: the {big:,}-row export's peak within "
            f"{FLAT_RATIO:.1f}× the {small:,}-row export's, and so its highest sample during the "
            "stream (start-up can set the peak of a short export)."
        ),
        columns=[
            "Export",
            "CSV rows",
            "CSV size",
            "Stream",
            "Rows/s",
            "First chunk",
            "Peak RSS",
            "Before the request",
            "ru_maxrss (wait4)",
            "RSS during the stream (20→95 %; highest sample)",
            "Target",
        ],
    )
    for run in runs:
        section.add(
            run.label,
            f"{run.rows:,}" + ("" if run.rows == run.expected else f" (expected {run.expected:,})"),
            f"{run.bytes / 2**20:,.1f} MB",
            f"{run.stream_s:.1f} s" if run.stream_s >= 1 else ms(run.stream_s * 1000),
            f"{run.rows_per_s:,.0f}" if run.rows else "",
            ms(run.first_s * 1000),
            f"{run.peak_rss_mb:.0f} MB",
            f"{run.rss_before_mb:.0f} MB",
            f"{run.ru_maxrss_mb:.0f} MB",
            " → ".join(f"{x:.0f}" for x in run.curve_mb) + f" MB; {run.stream_peak_mb:.0f} MB",
            f"< {TARGET_EXPORT_RSS_MB:.0f} MB: {verdict(run.peak_rss_mb < TARGET_EXPORT_RSS_MB)}",
        )
    section.notes.append(
        f"Peak RSS ratio, {big:,} / {small:,} responses: **{ratio:.2f}** ({big // max(small, 1)}× "
        f"the rows); of the highest samples during the stream: **{stream_ratio:.2f}**; "
        f"{big:,} / the empty survey: {big_run.peak_rss_mb / empty.peak_rss_mb:.2f}. Every "
        f"export had the expected rows: {verdict(rows_ok)}. A chunk's query ({EXPORT_CHUNK_NOTE}) "
        f"under `EXPLAIN ANALYZE`: the first chunk of the {big:,} (whose responses are older "
        f"than the {small:,} survey's) `{first_plan[0]}`, {first_plan[2]:,} rows read and "
        f"filtered out, {first_plan[1]:.1f} ms; half-way through `{middle_plan[0]}`, "
        f"{middle_plan[2]:,} filtered out, {middle_plan[1]:.1f} ms."
    )
    figures = {
        "runs": runs,
        "ratio": ratio,
        "stream_ratio": stream_ratio,
        "rows_ok": rows_ok,
        "plans": (first_plan, middle_plan),
        "loaded": loaded,
        "big": big,
        "small": small,
    }
    return section, figures


EXPORT_CHUNK_NOTE = (
    "2,000 responses by keyset `id < last ORDER BY id DESC`, customer and touchpoint joined"
)

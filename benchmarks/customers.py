"""Customer list benchmark: 1,000,000 customers, the list page, its selector and its SQL.

The customers are loaded with COPY (the trigram index is dropped first and built again after,
as one would for a bulk load), then VACUUM ANALYZE. Each case is timed three ways:

* **page**: ``GET /customers/?…`` through Django's test client, logged in as an agent — the whole
  request: middleware, session, permission check, the selector and the template;
* **selector**: ``selectors.customer_list`` + ``selectors.customer_page`` (ORM included);
* **SQL**: the page query alone, executed with a raw cursor (what PostgreSQL and the driver cost).
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.test import Client

from benchmarks.common import Section, Timing, log, ms, repeat, serve, verdict
from benchmarks.data import RARE_COUNT, RARE_SURNAME, copy_customers, truncate_customers

TARGET_MS = 100.0
TRGM_INDEX = "journeys_customer_search_trgm"
PAGE_SIZE = 50
DEEP_PAGE = 200
NEXT_LINK = re.compile(r"[?;&]after=(\d+)\" rel=\"next\"")
SCAN = re.compile(
    r"(Parallel Seq Scan|Seq Scan|Bitmap Index Scan|Index Only Scan Backward|Index Only Scan|"
    r"Index Scan Backward|Index Scan) (?:using|on) (\w+)"
)


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------
def load(count: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    truncate_customers()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [TRGM_INDEX])
        row = cursor.fetchone()
        if row is None:
            raise RuntimeError(f"index {TRGM_INDEX} is missing: did the migrations run?")
        indexdef = row[0]
        cursor.execute(f"DROP INDEX {TRGM_INDEX}")
    started = time.perf_counter()
    copy_customers(count)
    timings["copy"] = time.perf_counter() - started
    log(f"  COPY of {count:,} customers: {timings['copy']:.1f} s")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(indexdef)
        cursor.execute("RESET maintenance_work_mem")
    timings["index"] = time.perf_counter() - started
    log(f"  trigram index built again: {timings['index']:.1f} s")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) journeys_customer")
    timings["analyze"] = time.perf_counter() - started
    log(f"  VACUUM ANALYZE: {timings['analyze']:.1f} s")
    return timings


# ------------------------------------------------------------------------------------------------
# The cases
# ------------------------------------------------------------------------------------------------
@dataclass
class Case:
    key: str
    label: str
    params: dict[str, str]
    after: int | None = None
    matches: int | None = None  # customers matching the filters (counted once, for the report)
    page: Timing | None = None
    selector: Timing | None = None
    sql: Timing | None = None
    plan: str = ""
    rows: int = 0

    @property
    def searched(self) -> bool:
        return bool(self.params.get("q"))

    def url(self, prefix: str = "/customers/") -> str:
        params = dict(self.params)
        if self.after is not None:
            params["after"] = str(self.after)
        return prefix + (f"?{urlencode(params)}" if params else "")


def _scalar(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def _page_queryset(case: Case) -> Any:
    from journeys import selectors

    _filterset, queryset = selectors.customer_list(params=case.params)
    if case.after is not None:
        queryset = queryset.filter(id__lt=case.after)
    return queryset.order_by("-id")[: PAGE_SIZE + 1]


def _count(case: Case) -> int:
    from journeys import selectors

    _filterset, queryset = selectors.customer_list(params=case.params)
    return int(queryset.count())


def _plan(case: Case, *, analyze: bool = False) -> list[str]:
    sql, params = _page_queryset(case).query.sql_with_params()
    options = "ANALYZE, BUFFERS" if analyze else "COSTS OFF"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ({options}) {sql}", params)
        return [row[0] for row in cursor.fetchall()]


def _plan_summary(lines: list[str]) -> str:
    seen: list[str] = []
    for line in lines:
        for kind, name in SCAN.findall(line):
            item = f"{kind} {name}"
            if item not in seen:
                seen.append(item)
    return "; ".join(seen)


def build_cases() -> list[Case]:
    """The searches of the issue, with terms taken from the loaded data."""
    low, high = _scalar("SELECT array[min(id), max(id)] FROM journeys_customer")
    email = _scalar(
        "SELECT email FROM journeys_customer WHERE id >= %s ORDER BY id LIMIT 1",
        [(low + high) // 2],
    )
    phone = _scalar(
        "SELECT phone FROM journeys_customer WHERE id >= %s ORDER BY id LIMIT 1",
        [low + (high - low) * 7 // 10],
    )
    fragment = phone[-6:]
    return [
        Case("rare", f"rare surname `{RARE_SURNAME.lower()}`", {"q": RARE_SURNAME.lower()}),
        Case("email", "full email address", {"q": email}),
        Case("phone", f"phone fragment `{fragment}` (6 digits)", {"q": fragment}),
        Case("surname", "common surname `jansen`", {"q": "jansen"}),
        Case("two", "two letters `an` (prefix of name or email)", {"q": "an"}),
        Case("two-words", "two words `anna jansen`", {"q": "anna jansen"}),
        Case("none", "no match `xylofoon`", {"q": "xylofoon"}),
        Case("none-short", "no match, two letters `qx` (prefix)", {"q": "qx"}),
        Case("first", "first page, no term", {}),
        Case("page2", "page 2 via the `after` link, no term", {}),
        Case(f"page{DEEP_PAGE}", f"page {DEEP_PAGE} via `after`, no term", {}),
        Case(
            "combo",
            "lifecycle=active + language=nl + `jansen`",
            {"lifecycle": "active", "language": "nl", "q": "jansen"},
        ),
        Case(
            "combo-rare",
            "lifecycle=churned + language=fy, no term",
            {"lifecycle": "churned", "language": "fy"},
        ),
    ]


def _time_case(case: Case, client: Client, n: int) -> None:
    from journeys import selectors

    def page() -> None:
        serve(client, case.url())

    def selector() -> None:
        _filterset, queryset = selectors.customer_list(params=case.params)
        result = selectors.customer_page(queryset=queryset, after=case.after, before=None)
        case.rows = len(result.customers)

    sql, params = _page_queryset(case).query.sql_with_params()

    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()

    # One probe first: a case that takes seconds gets fewer repetitions, so the run stays short.
    started = time.perf_counter()
    page()
    slow = time.perf_counter() - started > 0.5
    runs = 5 if slow else n
    case.page = repeat(page, n=runs, warmup=1 if slow else 3)
    case.selector = repeat(selector, n=runs, warmup=1)
    case.sql = repeat(raw, n=runs, warmup=1)
    case.plan = _plan_summary(_plan(case))
    log(
        f"  {case.label}: page {case.page.median_ms:.1f} ms (p95 {case.page.p95_ms:.1f}), selector "
        f"{case.selector.median_ms:.1f} ms, SQL {case.sql.median_ms:.1f} ms — {case.plan}"
    )


# ------------------------------------------------------------------------------------------------
# The naive way, for the ratio
# ------------------------------------------------------------------------------------------------
def naive_queryset(term: str) -> Any:
    from journeys.models import Customer

    qs = Customer.objects.all()
    if term:
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(email__icontains=term)
            | Q(phone__icontains=term)
            | Q(external_id__icontains=term)
        )
    return qs.order_by("-id")


def naive_page(term: str, number: int) -> int:
    """Django's Paginator: COUNT(*) then OFFSET/LIMIT, as a first version would do it."""
    page = Paginator(naive_queryset(term), PAGE_SIZE).page(number)
    return len(list(page.object_list))


def keyset_after_for_page(case: Case, number: int) -> int | None:
    """The ``after`` id that the "Older →" links lead to on page ``number``."""
    from journeys import selectors

    if number <= 1:
        return None
    _filterset, queryset = selectors.customer_list(params=case.params)
    boundary = queryset.values_list("id", flat=True)[(number - 1) * PAGE_SIZE - 1]
    return int(boundary)


# ------------------------------------------------------------------------------------------------
# The benchmark
# ------------------------------------------------------------------------------------------------
def agent_client() -> Client:
    from cxm.accounts.models import User
    from cxm.accounts.services import user_create

    email = "bench-agent@example.org"
    user = User.objects.filter(email=email).first() or user_create(
        email=email, name="Bench Agent", roles=["agent"], password="bench-password-1234"
    )
    if not user.has_perm("journeys.view_customer"):
        raise RuntimeError("the agent role cannot view customers")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def bench_list(*, count: int, requests: int) -> tuple[list[Section], dict]:
    log(f"Customer list: loading {count:,} customers with COPY")
    load_times = load(count)
    total = _scalar("SELECT count(*) FROM journeys_customer")
    table_mb = _scalar("SELECT pg_total_relation_size('journeys_customer')") / 2**20
    trgm_mb = _scalar("SELECT pg_relation_size(%s::regclass)", [TRGM_INDEX]) / 2**20
    client = agent_client()
    cases = build_cases()
    by_key = {c.key: c for c in cases}

    # The "Older →" link of the first page leads to page 2.
    html = serve(client, by_key["first"].url()).content.decode()
    link = NEXT_LINK.search(html)
    if not link:
        raise RuntimeError("the first page of the customer list has no link to the next page")
    by_key["page2"].after = int(link.group(1))
    by_key[f"page{DEEP_PAGE}"].after = keyset_after_for_page(by_key[f"page{DEEP_PAGE}"], DEEP_PAGE)

    for case in cases:
        case.matches = _count(case) if case.searched or "lifecycle" in case.params else total
    log(f"  matches per case: { {c.key: c.matches for c in cases} }")
    for case in cases:
        _time_case(case, client, requests)

    rare = by_key["rare"]
    if rare.matches != RARE_COUNT:
        raise RuntimeError(f"the rare surname matches {rare.matches} customers, not {RARE_COUNT}")
    explain = _plan(rare, analyze=True)
    key_lines = [line.strip() for line in explain if TRGM_INDEX in line or "Execution Time" in line]
    uses_trgm = any(TRGM_INDEX in line for line in explain)

    # ----- the naive way, same data, same run
    log("  naive way (icontains on four columns, COUNT(*) + OFFSET)")
    surname = by_key["surname"]
    # The deepest page the term has, up to DEEP_PAGE (a small try-out run has fewer).
    surname_page = min(DEEP_PAGE, ((surname.matches or 1) - 1) // PAGE_SIZE + 1)
    surname_deep = Case("surname-deep", f"`jansen`, page {surname_page}", {"q": "jansen"})
    surname_deep.after = keyset_after_for_page(surname_deep, surname_page)
    from journeys import selectors

    def keyset(case: Case) -> Any:
        def fn() -> None:
            _f, qs = selectors.customer_list(params=case.params)
            selectors.customer_page(queryset=qs, after=case.after, before=None)

        return fn

    comparisons = []
    for label, keyset_case, term, number in (
        (f"rare surname, page 1 ({rare.matches} matches)", rare, RARE_SURNAME.lower(), 1),
        (
            f"`jansen`, page {surname_page} ({surname.matches:,} matches)",
            surname_deep,
            "jansen",
            surname_page,
        ),
        (f"no term, page {DEEP_PAGE}", by_key[f"page{DEEP_PAGE}"], "", DEEP_PAGE),
    ):
        naive = repeat(functools.partial(naive_page, term, number), n=5, warmup=1)
        fast = repeat(keyset(keyset_case), n=requests, warmup=3)
        comparisons.append((label, naive, fast))
        log(f"    {label}: naive {naive.median_ms:.0f} ms, keyset {fast.median_ms:.1f} ms")

    # ----- the report
    page_section = Section(
        key="list",
        title=f"Customer list with {total:,} customers",
        intro=(
            f"{total:,} customers loaded with COPY in {load_times['copy']:.0f} s, trigram index built in "
            f"{load_times['index']:.0f} s, then VACUUM ANALYZE (table with indexes {table_mb:,.0f} MB, of "
            f"which the trigram index {trgm_mb:,.0f} MB). Each case: {requests} timed requests after "
            "3 warm-up requests (5 after 1 when one request takes over half a second). **Page** is "
            "`GET /customers/?…` through Django's test client as a signed-in agent (middleware, session, "
            "permissions, selector, template); **selector** is `customer_list` + `customer_page` "
            "(ORM included); **SQL** is the page query alone on a raw cursor. Target: a page with a "
            "search term under 100 ms median."
        ),
        columns=[
            "Case",
            "Matches",
            "Page median",
            "Page p95",
            "Selector median",
            "SQL median",
            "Plan (scans)",
            "Target (< 100 ms)",
        ],
    )
    for case in cases:
        assert case.page and case.selector and case.sql
        page_section.add(
            case.label,
            f"{case.matches:,}",
            ms(case.page.median_ms),
            ms(case.page.p95_ms),
            ms(case.selector.median_ms),
            ms(case.sql.median_ms),
            case.plan.replace("journeys_customer_", "…_"),
            verdict(case.page.median_ms < TARGET_MS),
        )
    page_section.notes.append(
        "View and template overhead (page median − selector median), median over the cases: "
        f"**{_median([c.page.median_ms - c.selector.median_ms for c in cases if c.page and c.selector]):.1f} ms**."
    )

    explain_section = Section(
        key="explain",
        title="EXPLAIN (ANALYZE, BUFFERS) of the rare-surname page query",
        intro=(
            f"The query of `GET /customers/?q={RARE_SURNAME.lower()}` "
            f"({'uses' if uses_trgm else '**does not use**'} the trigram index `{TRGM_INDEX}`). Key lines:"
        ),
        columns=[],
    )
    explain_section.notes.append("```\n" + "\n".join(key_lines) + "\n```")
    explain_section.notes.append(
        "<details><summary>Whole plan</summary>\n\n```\n" + "\n".join(explain) + "\n```\n</details>"
    )

    naive_section = Section(
        key="naive",
        title="Against the naive way, same data, same run",
        intro=(
            "Naive: `Customer.objects.filter(Q(name__icontains=t) | Q(email__icontains=t) | "
            "Q(phone__icontains=t) | Q(external_id__icontains=t)).order_by('-id')` paginated with "
            "Django's `Paginator` (a `COUNT(*)`, then `OFFSET`/`LIMIT`); 5 timed runs after 1 warm-up. "
            f"Cxm: the selectors (`search` haystack with the trigram index, keyset pagination on the id); "
            f"{requests} timed runs. Both at selector level (no view, no template)."
        ),
        columns=["Case", "Naive median", "cxm median", "Ratio"],
    )
    for label, naive, fast in comparisons:
        naive_section.add(
            label,
            ms(naive.median_ms),
            ms(fast.median_ms),
            f"**{naive.median_ms / fast.median_ms:,.0f}×**",
        )
    figures = {
        "cases": cases,
        "uses_trgm": uses_trgm,
        "comparisons": comparisons,
        "total": total,
        "load": load_times,
    }
    return [page_section, explain_section, naive_section], figures


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)

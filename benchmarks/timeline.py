"""Timeline benchmark: one customer with 10,000 interactions in a log of 10,000,000.

The log is loaded with COPY (psycopg 3 ``cursor.copy``) in time order, so one customer's rows are
scattered over the whole table as they are in a real append-only log: 100,000 customers with ~100
interactions each and one with 10,000. The non-unique indexes are dropped before the load and
built again after it (as one would for a bulk load); foreign-key triggers are skipped during the
COPY (``session_replication_role = replica``: the rows only name customers and touchpoints read
from the tables); then ``VACUUM ANALYZE`` and the per-touchpoint daily volumes are rebuilt from
the log.

Each page is timed three ways — ``GET /api/v1/customers/<id>/timeline/`` through Django's test
client with a token, the selector ``timeline_page`` and the selector's SQL on a raw cursor — at
page 1, 10, 100 and the last page, reached by following the ``next`` cursors; and the same query
with ``OFFSET`` at the same depths, for the ratio.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.db import connection

from benchmarks.common import Section, Timing, log, ms, repeat, serve, verdict
from benchmarks.data import (
    INTERACTION_COLUMNS,
    bench_touchpoints,
    ensure_customers,
    interaction_lines,
)

TARGET_MS = 50.0
INDEX = "journeys_int_timeline_idx"
TABLE = "journeys_interaction"


def _scalar(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------
def load(*, total: int, big_count: int, per_customer: int) -> dict[str, Any]:
    """Empty the log and COPY ``total`` interactions into it; returns timings and the ids."""
    touchpoints = bench_touchpoints()
    customers_needed = max(1, total // per_customer) + 1
    ensure_customers(customers_needed)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM journeys_customer WHERE external_id LIKE 'CX%%' ORDER BY id LIMIT %s",
            [customers_needed],
        )
        ids = [row[0] for row in cursor.fetchall()]
    big_customer = ids[len(ids) // 2]
    others = [i for i in ids if i != big_customer]
    timings: dict[str, float] = {}

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}, journeys_touchpointdailyvolume")
        # The non-unique indexes go, and come back after the load; the primary key and the
        # (partial, all-NULL here) idempotency index stay.
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = "
            "i.indexname JOIN pg_index x ON x.indexrelid = c.oid WHERE i.tablename = %s AND NOT "
            "x.indisunique ORDER BY i.indexname",
            [TABLE],
        )
        indexes = cursor.fetchall()
        if not any(name == INDEX for name, _d in indexes):
            raise RuntimeError(f"index {INDEX} is missing: did the migrations run?")
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")

    started = time.perf_counter()
    end = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            sql = f"COPY {TABLE} ({', '.join(INTERACTION_COLUMNS)}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for chunk in interaction_lines(
                    total=total,
                    customer_ids=others,
                    big_customer=big_customer,
                    big_count=big_count,
                    touchpoints=touchpoints,
                    end=end,
                ):
                    copy.write(chunk.encode())
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    timings["copy"] = time.perf_counter() - started
    log(
        f"  COPY of {total:,} interactions: {timings['copy']:.1f} s "
        f"({total / timings['copy']:,.0f} rows/s)"
    )

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute("RESET maintenance_work_mem")
    timings["index"] = time.perf_counter() - started
    log(f"  {len(indexes)} indexes built again: {timings['index']:.1f} s")

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {TABLE}")
        # The journey map reads these rollups; rebuild them from the log so the state is whole.
        cursor.execute(
            "INSERT INTO journeys_touchpointdailyvolume (touchpoint_id, day, count) "
            f"SELECT touchpoint_id, (occurred_at AT TIME ZONE 'UTC')::date, count(*) FROM {TABLE} "
            "WHERE touchpoint_id IS NOT NULL GROUP BY 1, 2"
        )
        cursor.execute("ANALYZE journeys_touchpointdailyvolume")
    timings["analyze"] = time.perf_counter() - started
    log(f"  VACUUM ANALYZE and daily volumes: {timings['analyze']:.1f} s")
    return {
        "timings": timings,
        "big_customer": big_customer,
        "typical_customer": others[len(others) // 3],
        "customers": len(ids),
        "rebuilt": [name for name, _d in indexes],
    }


# ------------------------------------------------------------------------------------------------
# The pages
# ------------------------------------------------------------------------------------------------
@dataclass
class Depth:
    label: str
    number: int  # 1-based page number
    cursor: str  # "" for the first page
    api: Timing | None = None
    selector: Timing | None = None
    sql: Timing | None = None
    offset: Timing | None = None
    rows: int = 0


def _selector_sql(customer_id: int, cursor: str, size: int) -> tuple[str, Any]:
    """The SQL the selector runs for this page (captured, so it is exactly the selector's)."""
    from django.test.utils import CaptureQueriesContext

    from journeys import selectors

    with CaptureQueriesContext(connection) as captured:
        selectors.timeline_page(customer_id=customer_id, cursor=cursor, size=size)
    return captured.captured_queries[-1]["sql"], None


def _offset_page(customer_id: int, number: int, size: int) -> int:
    """The same page with OFFSET: what a Paginator-style timeline would run."""
    from journeys.models import Interaction

    qs = (
        Interaction.objects.filter(customer_id=customer_id)
        .select_related("touchpoint")
        .order_by("-occurred_at", "-id")
    )
    offset = (number - 1) * size
    return len(list(qs[offset : offset + size + 1]))


def walk(customer_id: int, size: int) -> list[str]:
    """Follow the selector's cursors from the first page to the last; the cursor of each page."""
    from journeys import selectors

    cursors = [""]
    while True:
        page = selectors.timeline_page(customer_id=customer_id, cursor=cursors[-1], size=size)
        if not page.next_cursor:
            return cursors
        cursors.append(page.next_cursor)


def _explain(sql: str, *, analyze: bool = True) -> list[str]:
    options = "ANALYZE, BUFFERS" if analyze else "COSTS OFF"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ({options}) {sql}")
        return [row[0] for row in cursor.fetchall()]


def _time_depth(
    depth: Depth, customer_id: int, size: int, n: int, client: Any, *, offset: bool = True
) -> None:
    from journeys import selectors

    url = f"/api/v1/customers/{customer_id}/timeline/"
    if depth.cursor:
        url += f"?cursor={depth.cursor}"
    body = serve(client, url).json()
    depth.rows = len(body["results"])

    def api() -> None:
        serve(client, url)

    def selector() -> None:
        selectors.timeline_page(customer_id=customer_id, cursor=depth.cursor, size=size)

    sql, _params = _selector_sql(customer_id, depth.cursor, size)

    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            cursor.fetchall()

    depth.api = repeat(api, n=n, warmup=3)
    depth.selector = repeat(selector, n=n, warmup=3)
    depth.sql = repeat(raw, n=n, warmup=3)
    if offset:
        depth.offset = repeat(lambda: _offset_page(customer_id, depth.number, size), n=n, warmup=3)
    log(
        f"  {depth.label}: API {depth.api.median_ms:.1f} ms (p95 {depth.api.p95_ms:.1f}), selector "
        f"{depth.selector.median_ms:.1f} ms, SQL {depth.sql.median_ms:.2f} ms"
        + (f", OFFSET {depth.offset.median_ms:.1f} ms" if depth.offset else "")
    )


def bench_timeline(
    *, total: int, big_count: int, per_customer: int, requests: int
) -> tuple[list[Section], dict[str, Any]]:
    from benchmarks.api import api_client
    from journeys import selectors

    log(
        f"Timeline: loading {total:,} interactions with COPY ({big_count:,} for one customer, "
        f"~{per_customer} for each of the others)"
    )
    loaded = load(total=total, big_count=big_count, per_customer=per_customer)
    big = loaded["big_customer"]
    rows_total = _scalar(f"SELECT count(*) FROM {TABLE}")
    big_rows = _scalar(f"SELECT count(*) FROM {TABLE} WHERE customer_id = %s", [big])
    table_mb = _scalar("SELECT pg_relation_size(%s::regclass)", [TABLE]) / 2**20
    total_mb = _scalar("SELECT pg_total_relation_size(%s::regclass)", [TABLE]) / 2**20
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_relation_size(c.oid), pg_get_indexdef(c.oid) FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
            "ORDER BY c.relname",
            [TABLE],
        )
        indexes = {name: (nbytes / 2**20, definition) for name, nbytes, definition in cursor}
    size = selectors.TIMELINE_PAGE
    client = api_client()

    # Page 1, 10, 100 and the last, reached by following the cursors.
    cursors = walk(big, size)
    last = len(cursors)
    numbers = [n for n in (1, 10, 100) if n < last] + [last]
    depths = [
        Depth(f"page {n}" + (" (the last)" if n == last else ""), n, cursors[n - 1])
        for n in numbers
    ]
    log(f"  customer {big}: {big_rows:,} interactions, {last} pages of {size}")
    for depth in depths:
        _time_depth(depth, big, size, requests, client)

    # A typical customer (~100 interactions): first and last page.
    typical = loaded["typical_customer"]
    typical_rows = _scalar(f"SELECT count(*) FROM {TABLE} WHERE customer_id = %s", [typical])
    typical_cursors = walk(typical, size)
    typical_depths = [Depth("page 1", 1, "")]
    if len(typical_cursors) > 1:
        typical_depths.append(
            Depth(
                f"page {len(typical_cursors)} (the last)",
                len(typical_cursors),
                typical_cursors[-1],
            )
        )
    for depth in typical_depths:
        _time_depth(depth, typical, size, requests, client, offset=False)

    # The API's next link leads to the selector's next cursor (checked once).
    first = serve(client, f"/api/v1/customers/{big}/timeline/").json()
    next_cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0] if first["next"] else ""
    if len(cursors) > 1 and next_cursor != cursors[1]:
        raise RuntimeError("the API's next link does not carry the selector's cursor")

    # EXPLAIN of a middle page and the last (keyset), and of the last page with OFFSET.
    last_depth = depths[-1]
    middle = next((d for d in depths if d.number == 100), depths[len(depths) // 2])
    plans: list[tuple[str, list[str]]] = []
    for depth in [middle] if middle is last_depth else [middle, last_depth]:
        keyset_sql, _p = _selector_sql(big, depth.cursor, size)
        plans.append((f"Keyset, {depth.label} (the selector)", _explain(keyset_sql)))
    uses_index = all(_range_scan(plan) for _label, plan in plans)
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        _offset_page(big, last_depth.number, size)
    plans.append(
        (
            f"OFFSET {(last_depth.number - 1) * size}, {last_depth.label}",
            _explain(captured.captured_queries[-1]["sql"]),
        )
    )
    index_line = next(
        (
            line.strip().lstrip("-> ").split("  (")[0]
            for line in plans[0][1]
            if INDEX in line and ("Index Scan" in line)
        ),
        "",
    )

    # ----- the report
    section = Section(
        key="timeline",
        title=f"Customer timeline in a log of {rows_total:,} interactions",
        intro=(
            f"{rows_total:,} interactions loaded with COPY in {loaded['timings']['copy']:.0f} s "
            f"({rows_total / loaded['timings']['copy']:,.0f} rows/s), the non-unique indexes "
            f"({', '.join('`' + n + '`' for n in loaded['rebuilt'])}) built again in {loaded['timings']['index']:.0f} s, then VACUUM ANALYZE ({table_mb:,.0f} "
            f"MB of table, {total_mb:,.0f} MB with indexes: "
            + ", ".join(f"`{name}` {mb:,.0f} MB" for name, (mb, _d) in indexes.items())
            + "). "
            f"{loaded['customers'] - 1:,} customers have ~{per_customer} interactions each; customer "
            f"{big} has {big_rows:,} ({last} pages of {size}), spread over three years and over the "
            "whole table (rows are in time order, as in an append-only log). **API** is `GET "
            "/api/v1/customers/<id>/timeline/?cursor=…` through Django's test client with a token "
            "(authentication, permission, customer lookup, selector, serializer); **selector** is "
            "`journeys.selectors.timeline_page`; **SQL** is its query alone on a raw cursor; "
            "**OFFSET** is the same query (`select_related('touchpoint')`, newest first) with "
            f"`OFFSET (page − 1) × {size}` at selector level. Cursors were followed from page 1 to "
            f"reach each depth. {requests} timed runs after 3 warm-up runs each. Target: every "
            f"page under {TARGET_MS:.0f} ms median."
        ),
        columns=[
            "Customer, page",
            "Rows",
            "API median",
            "API p95",
            "Selector median",
            "Selector p95",
            "SQL median",
            "OFFSET median",
            "OFFSET / keyset",
            f"Target (< {TARGET_MS:.0f} ms)",
        ],
    )
    for who, group in (
        (f"{big_rows:,} interactions", depths),
        (f"{typical_rows} interactions (a typical customer)", typical_depths),
    ):
        for depth in group:
            assert depth.api and depth.selector and depth.sql
            section.add(
                f"{who}, {depth.label}",
                depth.rows,
                ms(depth.api.median_ms),
                ms(depth.api.p95_ms),
                ms(depth.selector.median_ms),
                ms(depth.selector.p95_ms),
                f"{depth.sql.median_ms:.2f} ms",
                ms(depth.offset.median_ms) if depth.offset else "",
                f"{depth.offset.median_ms / depth.selector.median_ms:.1f}×" if depth.offset else "",
                verdict(depth.api.median_ms < TARGET_MS),
            )

    explain_section = Section(
        key="timeline-explain",
        title="EXPLAIN (ANALYZE, BUFFERS) of timeline pages",
        intro=(
            f"The selector's query for {middle.label} and {last_depth.label} of customer {big} "
            f"({'each an index range scan on' if uses_index else '**not** a range scan on'} "
            f"`{INDEX}`: the cursor bounds `occurred_at` in the index condition, so the scan starts "
            "at the page and reads about one page of rows), against the last page with `OFFSET`, "
            "which reads and sorts every row of the customer before it. Key lines:"
        ),
        columns=[],
    )
    for label, plan in plans:
        explain_section.notes.append(f"{label}:")
        explain_section.notes.append("```\n" + "\n".join(_key_lines(plan)) + "\n```")
    explain_section.notes.append(
        "<details><summary>Whole plans</summary>\n\n```\n"
        + "\n\n".join("\n".join(plan) for _label, plan in plans)
        + "\n```\n</details>"
    )
    figures = {
        "depths": depths,
        "typical": typical_depths,
        "uses_index": uses_index,
        "index_line": index_line,
        "indexes": indexes,
        "rows": rows_total,
        "big_rows": big_rows,
        "big_customer": big,
        "load": loaded["timings"],
    }
    return [section, explain_section], figures


def _range_scan(plan: list[str]) -> bool:
    """An index scan (plain or bitmap) on the timeline index, bounded by the cursor's time."""
    scans = any(
        f"Index Scan using {INDEX}" in line or f"Bitmap Index Scan on {INDEX}" in line
        for line in plan
    )
    bounded = any("Index Cond" in line and "occurred_at <=" in line for line in plan)
    return scans and bounded


def _key_lines(plan: list[str]) -> list[str]:
    """The plan's nodes, conditions and the execution time; the top node's buffers only."""
    keep = ("Index Cond", "Filter", "Rows Removed", "Sort Key", "Execution Time")
    out = []
    for n, line in enumerate(plan):
        if line.startswith("Planning"):
            continue
        top_buffers = n == 1 and "Buffers" in line
        if n == 0 or top_buffers or "->" in line or any(word in line for word in keep):
            out.append(line.rstrip())
    return out

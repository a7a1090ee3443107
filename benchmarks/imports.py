"""CSV import benchmark: ``manage.py import_customers FILE --quiet-errors`` as a subprocess.

Wall time is measured around the whole subprocess (Python and Django start-up included); the
peak RSS is the kernel's own figure for that child (``ru_maxrss`` from ``wait4``), and psutil
samples the RSS every 50 ms so the report can show whether memory grows during the run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import Section, log, verdict
from benchmarks.data import truncate_customers, write_import_csv

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 30.0
TARGET_RSS_MB = 300.0
CURVE_POINTS = (0.2, 0.4, 0.6, 0.8, 0.95)
SUMMARY = re.compile(
    r"(?P<seen>\d+) rows in (?P<elapsed>[\d.]+)s: (?P<created>\d+) created, (?P<updated>\d+) updated, "
    r"(?P<unchanged>\d+) unchanged, (?P<failed>\d+) rejected"
)


@dataclass
class ImportRun:
    label: str
    rows: int
    wall_s: float
    command_s: float
    peak_rss_mb: float
    counts: dict[str, int]
    rss_curve_mb: list[float] = field(
        default_factory=list
    )  # RSS at 20, 40, 60, 80, 100 % of the run

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s


def run_import(path: Path, label: str, rows: int) -> ImportRun:
    """Run the management command on ``path`` and measure it."""
    out_path = path.with_suffix(".out")
    samples: list[tuple[float, int]] = []
    with out_path.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "import_customers", str(path), "--quiet-errors"],
            cwd=ROOT,
            stdout=out,
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
        proc.returncode = os.waitstatus_to_exitcode(status)
    output = out_path.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"import_customers exited {proc.returncode}:\n{output[-3000:]}")
    match = SUMMARY.search(output)
    if not match:
        raise RuntimeError(f"no summary line in the output of import_customers:\n{output[-3000:]}")
    counts = {k: int(v) for k, v in match.groupdict().items() if k != "elapsed"}
    curve = []
    for share in CURVE_POINTS:
        # rss 0 is the exited process before wait4 reaped it
        at = [rss for t, rss in samples if t <= wall * share and rss > 0]
        curve.append((at[-1] if at else 0) / 2**20)
    run = ImportRun(
        label=label,
        rows=rows,
        wall_s=wall,
        command_s=float(match["elapsed"]),
        peak_rss_mb=usage.ru_maxrss / 1024,  # Linux: kilobytes
        counts=counts,
        rss_curve_mb=curve,
    )
    log(
        f"  {label}: {wall:.1f} s wall ({run.rows_per_s:,.0f} rows/s), peak RSS {run.peak_rss_mb:.0f} MB, "
        f"{counts}"
    )
    return run


def _db_now() -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def _count_updated_since(since: Any) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM journeys_customer WHERE updated_at >= %s", [since])
        return int(cursor.fetchone()[0])


def lookup_plan(path: Path) -> tuple[list[str], float] | None:
    """EXPLAIN ANALYZE of the query one import chunk makes to find its 1,000 rows' customers.

    Uses the service's own helper (``_fetch_matches``) and captures its SQL; ``None`` when the
    service has no such helper any more.
    """
    import csv
    import itertools
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from journeys.services import customers as service

    fetch = getattr(service, "_fetch_matches", None)
    if fetch is None:
        return None
    with path.open(newline="", encoding="utf-8") as f:
        rows = [service.customer_clean(r) for r in itertools.islice(csv.DictReader(f), 1000)]
    rows = [r for r in rows if r.ok]
    fetch(rows)  # warm
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        fetch(rows)
        elapsed = time.perf_counter() - started
    sql = captured.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE) {sql}")
        plan = [row[0] for row in cursor.fetchall()]
    return plan, elapsed


def _counts(run: ImportRun) -> str:
    c = run.counts
    return f"{c['created']:,} / {c['updated']:,} / {c['unchanged']:,} / {c['failed']:,}"


def bench_import(var_dir: Path, *, rows: int, small_rows: int) -> tuple[Section, Section, dict]:
    log(f"CSV import: writing {rows:,}- and {small_rows:,}-row files to {var_dir}")
    big, small, changed = (
        var_dir / "customers-big.csv",
        var_dir / "customers-small.csv",
        var_dir / "customers-big-changed.csv",
    )
    info = write_import_csv(big, rows)
    write_import_csv(small, small_rows)
    write_import_csv(changed, rows, variant=1)
    log(
        f"  {info['rows']:,} rows, {info['invalid']:,} with a bad cell, {info['bytes'] / 2**20:.1f} MB"
    )

    truncate_customers()
    small_run = run_import(small, f"{small_rows:,} rows, empty table (creates)", small_rows)
    truncate_customers()
    runs = [
        run_import(big, f"{rows:,} rows, empty table (creates)", rows),
        run_import(big, f"same {rows:,} rows again (unchanged)", rows),
    ]
    before_updates = _db_now()
    runs.append(run_import(changed, f"{rows:,} rows with a new value and city (updates)", rows))
    bumped = _count_updated_since(before_updates)

    section = Section(
        key="import",
        title=f"CSV import of {rows:,} customers",
        intro=(
            f"`manage.py import_customers FILE --quiet-errors` in a subprocess. The file has {rows:,} "
            f"rows ({info['bytes'] / 2**20:.1f} MB): the columns {', '.join('`' + c + '`' for c in ('external_id', 'name', 'email', 'phone', 'language', 'preferred_channel', 'timezone', 'became_customer_on', 'value', 'attributes.city'))}; "
            "phones in three formats (+31621234567, +31 6 2123 4567, 06-21234567), one email in ten "
            f"in capitals, and {info['invalid']:,} rows (1 %) with one bad cell (email, phone, "
            "language, date, value or timezone) that must be rejected on their own. Wall time is the "
            "whole subprocess including Python and Django start-up; peak RSS is the kernel's "
            "`ru_maxrss` for the subprocess. Target: under 30 s and under 300 MB."
        ),
        columns=[
            "Run",
            "Wall time",
            "Rows/s",
            "Peak RSS",
            "Created / updated / unchanged / rejected",
            "Target (< 30 s, < 300 MB)",
        ],
    )
    for run in runs:
        section.add(
            run.label,
            f"{run.wall_s:.1f} s",
            f"{run.rows_per_s:,.0f}",
            f"{run.peak_rss_mb:.0f} MB",
            _counts(run),
            verdict(run.wall_s < TARGET_SECONDS and run.peak_rss_mb < TARGET_RSS_MB),
        )

    memory = Section(
        key="import-memory",
        title="Import memory is flat",
        intro=(
            f"Peak RSS of the same command on a {small_rows:,}-row file and on the {rows:,}-row "
            f"file (both into an empty table), and the RSS psutil sampled at 20/40/60/80/95 % of "
            f"the {rows:,}-row run. A ratio near 1 means memory does not grow with the file."
        ),
        columns=["Run", "Peak RSS", "RSS during the run (20→95 %)"],
    )
    for run in (small_run, runs[0]):
        memory.add(
            run.label,
            f"{run.peak_rss_mb:.0f} MB",
            " → ".join(f"{x:.0f}" for x in run.rss_curve_mb) + " MB",
        )
    ratio = runs[0].peak_rss_mb / small_run.peak_rss_mb
    memory.notes.append(
        f"Peak RSS ratio, {rows:,} rows / {small_rows:,} rows: **{ratio:.2f}** "
        f"({'flat' if ratio < 1.2 else 'grows with the file'}; {rows // small_rows}× the rows)."
    )
    updated = runs[2].counts["updated"]
    section.notes.append(
        f"`updated_at` moved forward on **{bumped:,}** of the {updated:,} rows the updates run "
        f"reported as updated ({verdict(bumped == updated)}: the API's `updated_since` filter finds "
        "changed customers by it)."
    )
    figures = {"runs": runs, "small": small_run, "ratio": ratio, "bumped": bumped}
    return section, memory, figures


def bench_import_at_scale(
    var_dir: Path, *, rows: int, existing: int, baseline: ImportRun
) -> tuple[Section, float]:
    """The same command with ``existing`` customers already in the table."""
    path = var_dir / "customers-into-big-table.csv"
    write_import_csv(path, rows, seed=5, tag="n", phone_prefix="+3165")
    run = run_import(path, f"{rows:,} new rows into a table of {existing:,}", rows)
    section = Section(
        key="import-scale",
        title="Import speed against the size of the table",
        intro=(
            f"A {rows:,}-row file of new customers imported into the table of {existing:,} "
            "customers of the list benchmark, against the creates run above into an empty table. "
            "Each chunk of 1,000 rows first looks its rows up by external id, email and phone, so "
            "this shows whether that lookup stays an index lookup as the table grows."
        ),
        columns=["Run", "Wall time", "Time in the command", "Rows/s (in the command)", "Peak RSS"],
    )
    for r in (baseline, run):
        section.add(
            r.label,
            f"{r.wall_s:.1f} s",
            f"{r.command_s:.1f} s",
            f"{r.rows / r.command_s:,.0f}",
            f"{r.peak_rss_mb:.0f} MB",
        )
    slowdown = (baseline.rows / baseline.command_s) / (run.rows / run.command_s)
    section.notes.append(
        f"Rows/s ratio, empty table / {existing:,}-customer table: **{slowdown:.1f}×** (1.0 would mean "
        "no slow-down; the command's own time is used, as Python and Django start-up would weigh "
        "more on the smaller file)."
    )
    looked_up = lookup_plan(path)
    if looked_up:
        plan, elapsed = looked_up
        key = [
            line.split("  (")[0].strip() + "  (" + line.split("  (", 1)[1].split(") (")[-1]
            if "actual" in line
            else line.strip()
            for line in plan
            if any(w in line for w in ("Scan", "Sort", "Gather", "Execution Time"))
        ]
        section.notes.append(
            f"The lookup query of one chunk (1,000 rows of this file, by `_fetch_matches`) on the "
            f"{existing:,}-customer table takes {elapsed * 1000:,.0f} ms; its plan:"
        )
        section.notes.append("```\n" + "\n".join(key) + "\n```")
    return section, slowdown

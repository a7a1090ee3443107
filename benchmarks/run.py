"""Benchmarks of the platform-foundation and journeys targets; `make bench` runs this inside
tests/harness.py.

    make bench                                   # everything, prints the tables
    make bench BENCH_ARGS=--write                # … and rewrites docs/performance.md
    make bench BENCH_ARGS="--only import --import-rows 20000"
    make bench BENCH_ARGS="--only timeline --interactions 1000000"

It needs the throwaway PostgreSQL the harness starts: it TRUNCATEs the customer and interaction
tables.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxm.settings")

ALL = (
    "import",
    "list",
    "api",
    "connections",
    "import-scale",
    "timeline",
    "ingest",
    "ingest-single",
    "inbox-webhook",
    "inbox-views",
    "inbox-replay",
    "survey-pages",
    "survey-load",
    "survey-export",
    "dist-email",
    "dist-pacing",
    "dist-kill",
    "metrics",
    "webhooks",
    "followups",
)
SURVEYS = ("survey-pages", "survey-load", "survey-export")
DISTRIBUTION = ("dist-email", "dist-pacing", "dist-kill")
METRICS = ("metrics",)
WEBHOOKS = ("webhooks",)
FOLLOWUPS = ("followups",)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--write", action="store_true", help="rewrite docs/performance.md with the results"
    )
    parser.add_argument(
        "--only", action="append", choices=ALL, help="run only these benchmarks (repeatable)"
    )
    parser.add_argument(
        "--import-rows", type=int, default=100_000, help="rows of the CSV file (100,000)"
    )
    parser.add_argument(
        "--small-rows", type=int, default=20_000, help="rows of the memory-comparison file (20,000)"
    )
    parser.add_argument(
        "--customers", type=int, default=1_000_000, help="customers for the list (1,000,000)"
    )
    parser.add_argument(
        "--scale-rows", type=int, default=10_000, help="rows imported into the full table (10,000)"
    )
    parser.add_argument("--requests", type=int, default=30, help="timed requests per case (30)")
    parser.add_argument(
        "--interactions",
        type=int,
        default=10_000_000,
        help="interactions loaded for the timeline (10,000,000)",
    )
    parser.add_argument(
        "--timeline-rows",
        type=int,
        default=10_000,
        help="interactions of the timeline's customer (10,000)",
    )
    parser.add_argument(
        "--per-customer",
        type=int,
        default=100,
        help="interactions of every other customer of the log (about 100)",
    )
    parser.add_argument(
        "--batches", type=int, default=40, help="batches posted per ingestion run (40)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=1000, help="events per ingestion batch (1,000)"
    )
    parser.add_argument(
        "--clients",
        type=int,
        action="append",
        help="concurrent clients of an ingestion run (repeatable; 1 and 4)",
    )
    parser.add_argument(
        "--load-seconds", type=int, default=15, help="seconds of load per single-event case (15)"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=16,
        help="connections of the single-event load (16)",
    )
    parser.add_argument(
        "--conversations",
        type=int,
        default=1_000_000,
        help="conversations of the inbox views (1,000,000; five messages each on average)",
    )
    parser.add_argument(
        "--replay", type=int, default=10_000, help="distinct webhooks of the replay (10,000)"
    )
    parser.add_argument(
        "--survey-responses",
        type=int,
        default=1_000_000,
        help="responses of the survey CSV export (1,000,000; about 2.5 answers each)",
    )
    parser.add_argument(
        "--survey-small",
        type=int,
        default=100_000,
        help="responses of the export's memory comparison (100,000)",
    )
    parser.add_argument(
        "--dist-customers",
        type=int,
        default=100_000,
        help="customers invited by email in dist-email (100,000)",
    )
    parser.add_argument(
        "--dist-kill-invitations",
        type=int,
        default=10_000,
        help="email invitations of the dist-kill run (10,000)",
    )
    parser.add_argument(
        "--metrics-responses",
        type=int,
        default=5_000_000,
        help="completed responses of the metrics benchmark (5,000,000; two answers each)",
    )
    parser.add_argument(
        "--metrics-conversations",
        type=int,
        default=1_000_000,
        help="conversations of the metrics benchmark (1,000,000)",
    )
    parser.add_argument(
        "--metrics-customers",
        type=int,
        default=500_000,
        help="customers of the metrics benchmark (500,000)",
    )
    parser.add_argument(
        "--metrics-requests",
        type=int,
        default=15,
        help="timed calls per selector and filter combination (15)",
    )
    parser.add_argument(
        "--webhook-events",
        type=int,
        default=2_000,
        help="events fanned out to 5 webhook subscribers (2,000, i.e. 10,000 deliveries)",
    )
    parser.add_argument(
        "--followup-responses",
        type=int,
        default=10_000,
        help="detractor responses in the follow-up burst (10,000)",
    )
    parser.add_argument(
        "--followup-workers", type=int, default=2, help="Celery workers of the follow-up burst (2)"
    )
    parser.add_argument(
        "--note", default="", help="a sentence about this run for docs/performance.md"
    )
    parser.add_argument(
        "--output", type=Path, help="with --write: write here instead of docs/performance.md"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    selected = set(args.only or ALL)
    if os.environ.get("CXM_ENV") != "test" or not os.environ.get("DATABASE_URL", "").startswith(
        "postgres"
    ):
        print(
            "benchmarks/run.py empties the customer table: run it through `make bench`, which gives it a "
            "throwaway PostgreSQL (CXM_ENV=test and a postgres:// DATABASE_URL are required).",
            file=sys.stderr,
        )
        return 2

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from benchmarks import report
    from benchmarks.common import Section, log, machine, ms, verdict

    started = time.perf_counter()
    log("migrate")
    call_command("migrate", interactive=False, verbosity=0)
    info = machine()
    var_dir = Path(os.environ.get("CXM_VAR_DIR") or ROOT / "var") / "bench"
    var_dir.mkdir(parents=True, exist_ok=True)

    sections: list[Section] = []
    summary = Section(key="summary", title="Targets", columns=["Target", "Measured", "Result"])
    import_figures = list_figures = api_figures = None
    scale_section = None
    scale_slowdown: float | None = None

    if "import" in selected or "import-scale" in selected:
        from benchmarks.imports import TARGET_RSS_MB, TARGET_SECONDS, bench_import

        import_section, memory_section, import_figures = bench_import(
            var_dir, rows=args.import_rows, small_rows=args.small_rows
        )
        sections += [import_section, memory_section]
        runs = import_figures["runs"]
        summary.add(
            f"CSV import of {args.import_rows:,} customers in under {TARGET_SECONDS:.0f} s",
            "; ".join(f"{r.label.split('(')[-1].rstrip(')')}: {r.wall_s:.1f} s" for r in runs),
            verdict(all(r.wall_s < TARGET_SECONDS for r in runs)),
        )
        peak = max(r.peak_rss_mb for r in runs)
        summary.add(
            f"… with memory flat, peak RSS under {TARGET_RSS_MB:.0f} MB",
            f"peak {peak:.0f} MB; {args.import_rows:,} rows / {args.small_rows:,} rows peak ratio "
            f"{import_figures['ratio']:.2f}",
            verdict(peak < TARGET_RSS_MB and import_figures["ratio"] < 1.2),
        )

    cases = None
    if selected & {"list", "api", "connections", "import-scale"}:
        from benchmarks.customers import TARGET_MS, bench_list

        list_sections, list_figures = bench_list(count=args.customers, requests=args.requests)
        sections += list_sections
        cases = list_figures["cases"]
        searched = [c for c in cases if c.searched]
        worst = max(searched, key=lambda c: c.page.median_ms)
        under = sum(c.page.median_ms < TARGET_MS for c in searched)
        summary.add(
            f"Customer list at {list_figures['total']:,} customers: a page with a search term under "
            f"{TARGET_MS:.0f} ms median",
            f"{under} of {len(searched)} search cases under {TARGET_MS:.0f} ms; slowest: {worst.label} "
            f"{ms(worst.page.median_ms)} (p95 {ms(worst.page.p95_ms)})",
            verdict(under == len(searched)),
        )
        rare = next(c for c in cases if c.key == "rare")
        summary.add(
            "… the search uses the trigram index",
            f"rare-surname page {ms(rare.page.median_ms)} median; EXPLAIN shows "
            f"{'a Bitmap Index Scan on journeys_customer_search_trgm' if list_figures['uses_trgm'] else 'no trigram index'}",
            verdict(list_figures["uses_trgm"]),
        )
        unsearched = [c for c in cases if not c.searched]
        slowest_plain = max(unsearched, key=lambda c: c.page.median_ms)
        summary.add(
            "Pages without a term (first, next, deep, filters) under 100 ms median",
            f"slowest: {slowest_plain.label} {ms(slowest_plain.page.median_ms)}",
            verdict(all(c.page.median_ms < TARGET_MS for c in unsearched)),
        )

    if "api" in selected and cases:
        from benchmarks.api import bench_api

        api_section, api_figures = bench_api(cases, requests=args.requests)
        sections.append(api_section)
        results = api_figures["results"]
        worst_case, worst_timing, _n = max(results, key=lambda r: r[1].median_ms)
        rare_timing = next(t for c, t, _n in results if c.key == "rare")
        summary.add(
            f"API list `GET /api/v1/customers/?q=…` (median over {args.requests} requests)",
            f"rare surname {ms(rare_timing.median_ms)}; slowest: {worst_case.label} {ms(worst_timing.median_ms)}",
            verdict(all(t.median_ms < TARGET_MS for _c, t, _n in results)),
        )

    if "connections" in selected and cases:
        from benchmarks.api import api_client
        from benchmarks.connections import bench_connections
        from benchmarks.customers import agent_client

        with connection.cursor() as cursor:
            cursor.execute("SELECT max(id) FROM journeys_customer")
            customer_id = cursor.fetchone()[0]
        sections.append(
            bench_connections(agent_client(), api_client(), customer_id, requests=args.requests)
        )

    if "import-scale" in selected and import_figures and list_figures:
        from benchmarks.imports import bench_import_at_scale

        scale_section, slowdown = bench_import_at_scale(
            var_dir,
            rows=args.scale_rows,
            existing=list_figures["total"],
            baseline=import_figures["runs"][0],
        )
        sections.append(scale_section)
        scale_slowdown = slowdown
        summary.add(
            f"(No target) import speed with {list_figures['total']:,} customers already in the table",
            f"rows/s into an empty table ÷ rows/s into the full one: {slowdown:.1f}× (1.0 = no "
            "slow-down)",
            "see below" if slowdown > 1.5 else "pass",
        )

    timeline_figures = ingest_figures = single_figures = None
    if "timeline" in selected:
        from benchmarks.timeline import INDEX, bench_timeline
        from benchmarks.timeline import TARGET_MS as TIMELINE_MS

        timeline_sections, timeline_figures = bench_timeline(
            total=args.interactions,
            big_count=args.timeline_rows,
            per_customer=args.per_customer,
            requests=args.requests,
        )
        sections += timeline_sections
        depths = timeline_figures["depths"]
        first, later = depths[0], depths[1:]
        summary.add(
            f"Timeline of a customer with {timeline_figures['big_rows']:,} interactions in a table "
            f"of {timeline_figures['rows']:,}: first page under {TIMELINE_MS:.0f} ms median (API)",
            f"{ms(first.api.median_ms)} (p95 {ms(first.api.p95_ms)}); selector "
            f"{ms(first.selector.median_ms)}",
            verdict(first.api.median_ms < TIMELINE_MS),
        )
        worst = max(later, key=lambda d: d.api.median_ms) if later else first
        last = depths[-1]
        summary.add(
            "… every later page too, by keyset (API median)",
            "; ".join(f"{d.label.split(' (')[0]}: {ms(d.api.median_ms)}" for d in later)
            + f"; slowest p95 {ms(worst.api.p95_ms)}",
            verdict(all(d.api.median_ms < TIMELINE_MS for d in depths)),
        )
        summary.add(
            f"… each page an index range scan on `{INDEX}`",
            f"EXPLAIN: `{timeline_figures['index_line'] or 'no scan of ' + INDEX}` bounded by "
            "the cursor; "
            f"OFFSET at the last page {ms(last.offset.median_ms)} = "
            f"{last.offset.median_ms / last.selector.median_ms:.0f}× the keyset selector",
            verdict(timeline_figures["uses_index"]),
        )

    if "ingest" in selected:
        from benchmarks.ingest import TARGET_BATCH_PER_S, bench_batches

        ingest_section, ingest_figures = bench_batches(
            var_dir,
            batches=args.batches,
            size=args.batch_size,
            time_limit=120.0,
            concurrencies=tuple(args.clients or (1, 4)),
        )
        sections.append(ingest_section)
        runs = ingest_figures["runs"]
        best = max(runs, key=lambda r: r.per_s)
        summary.add(
            f"Ingestion API on PostgreSQL, batches of {args.batch_size:,} through gunicorn (-w 2): "
            f"at least {TARGET_BATCH_PER_S:,.0f} interactions/s",
            "; ".join(
                f"{r.concurrency} client{'s' if r.concurrency > 1 else ''}: {r.per_s:,.0f}/s "
                f"(batch median {ms(r.latency.median_ms)}, p95 {ms(r.latency.p95_ms)})"
                for r in runs
            ),
            verdict(best.per_s >= TARGET_BATCH_PER_S and ingest_figures["check"]),
        )

    if "ingest-single" in selected:
        from benchmarks.ingest import TARGET_SINGLE_RPS, bench_single

        single_section, single_figures = bench_single(
            var_dir, seconds=args.load_seconds, connections=args.connections
        )
        sections.append(single_section)
        api_load = single_figures["api"].load
        insert_load = single_figures["insert"].load
        summary.add(
            f"Single-event path, one event per POST through gunicorn (-w 2): at least "
            f"{TARGET_SINGLE_RPS:,.0f} requests/s",
            f"{api_load.rps:,.0f} req/s (p50 {ms(api_load.latency_ms.get('50%', 0))}, p99 "
            f"{ms(api_load.latency_ms.get('99%', 0))}, {api_load.errors} errors) = "
            f"{api_load.rps / insert_load.rps:.0%} of a bare view doing one INSERT "
            f"({insert_load.rps:,.0f} req/s)",
            verdict(api_load.rps >= TARGET_SINGLE_RPS and api_load.errors == 0),
        )

    inbox_figures = _inbox(selected, args, var_dir, sections, summary)
    survey_summary, survey_sections = _surveys(selected, args, var_dir)
    # Last: it empties the customer table and loads only what it invites.
    dist_summary, dist_sections = _distribution(selected, args, var_dir)
    # After the distribution: it empties the customer table and loads its own ten million answers.
    metrics_summary, metrics_sections = _metrics(selected, args, var_dir)
    from benchmarks import webhooks as webhooks_bench

    hooks_summary, hooks_sections = webhooks_bench.run(selected, args, var_dir)
    from benchmarks import followups as followups_bench

    # Last: it empties the customer table and loads its own detractors.
    loop_summary, loop_sections = followups_bench.run(selected, args, var_dir)

    findings = Section(key="findings", title="Slow spots found", columns=[])
    findings.notes += _findings(import_figures, list_figures, scale_slowdown)
    findings.notes += _journeys_findings(timeline_figures, ingest_figures, single_figures)
    findings.notes += _inbox_findings(inbox_figures)
    if findings.notes:
        sections.append(findings)

    elapsed = time.perf_counter() - started
    log(f"done in {elapsed / 60:.1f} min")
    printed = [summary, *sections] if summary.rows or sections else []
    if survey_summary is not None:
        printed += [survey_summary, *survey_sections]
    if dist_summary is not None:
        printed += [dist_summary, *dist_sections]
    if metrics_summary is not None:
        printed += [metrics_summary, *metrics_sections]
    if hooks_summary is not None:
        printed += [hooks_summary, *hooks_sections]
    if loop_summary is not None:
        printed += [loop_summary, *loop_sections]
    report.print_sections(printed)
    if args.write:
        note = args.note or f"This run took {elapsed / 60:.1f} minutes."
        hidden = {"--note", args.note, "--output", str(args.output)}
        shown = " ".join(a for a in argv if a not in hidden)
        blocks: dict[str, str] = {}
        info["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        for key, block_summary, block_sections, intro in (
            ("surveys", survey_summary, survey_sections, SURVEYS_INTRO),
            ("distribution", dist_summary, dist_sections, DISTRIBUTION_INTRO),
            ("metrics", metrics_summary, metrics_sections, METRICS_INTRO),
            ("webhooks", hooks_summary, hooks_sections, webhooks_bench.INTRO),
            ("followups", loop_summary, loop_sections, followups_bench.INTRO),
        ):
            if block_summary is not None:
                blocks[key] = report.render_block(
                    key,
                    block_summary,
                    block_sections,
                    info,
                    args=shown,
                    run_note=note,
                    intro=intro,
                )
        if blocks and selected <= (
            set(SURVEYS) | set(DISTRIBUTION) | set(METRICS) | set(WEBHOOKS) | set(FOLLOWUPS)
        ):
            # Only blocks ran: replace theirs and keep every other figure of the doc.
            for key, block in blocks.items():
                path = report.write_block(key, block, args.output)
        else:
            text = report.render(sections, summary, info, args=shown, run_note=note)
            for block in blocks.values():
                text = text.rstrip("\n") + "\n\n" + block
            path = report.write(text, args.output)
        print(f"\nwrote {path}")
    return 0


METRICS_INTRO = (
    "Figures for the speed targets of the metrics dashboards issue: the selectors behind the "
    "dashboards (`metrics.selectors.overview`, `breakdown`, `trend`) over ten million answers "
    "and a million conversations, against the bare SQL on the same rollup rows and against "
    "computing from the raw rows, and how soon a new response shows (`benchmarks/metrics.py`). "
    "This section is written by `benchmarks/run.py --write` on its own when only this benchmark "
    "runs (`--only metrics`): it replaces the part of this file between its two markers and "
    "leaves every other figure here as it was."
)


def _metrics(selected: set[str], args: argparse.Namespace, var_dir: Path) -> tuple[Any, list]:
    """The metrics dashboards benchmark (benchmarks/metrics.py): its table and sections."""
    if "metrics" not in selected:
        return None, []
    from benchmarks.metrics import bench_metrics

    table, sections, _figures = bench_metrics(
        var_dir,
        responses=args.metrics_responses,
        conversations=args.metrics_conversations,
        customers=args.metrics_customers,
        requests=args.metrics_requests,
    )
    return table, sections


DISTRIBUTION_INTRO = (
    "Figures for the speed and reliability targets of the survey distribution issue: bulk "
    "email invitations planned and sent by real Celery workers to a stub ESP, SMS pacing "
    "against a sender's limit, and workers killed during a run (`benchmarks/distribution.py`). "
    "This section is written by `benchmarks/run.py --write` on its own when only these "
    "benchmarks run (`--only dist-…`): it replaces the part of this file between its two "
    "markers and leaves every other figure here as it was."
)


def _distribution(selected: set[str], args: argparse.Namespace, var_dir: Path) -> tuple[Any, list]:
    """The survey distribution benchmarks (benchmarks/distribution.py): their own table of
    targets and sections."""
    from benchmarks.common import Section

    if not selected & set(DISTRIBUTION):
        return None, []
    from benchmarks import distribution

    table = Section(
        key="distribution-targets",
        title="Survey distribution",
        columns=["Target", "Measured", "Result"],
    )
    found: dict[str, Any] = {}
    sections: list[Section] = []
    if "dist-email" in selected:
        built, found["email"] = distribution.bench_email(var_dir, customers=args.dist_customers)
        sections += built
    if "dist-pacing" in selected:
        built_one, found["pacing"] = distribution.bench_pacing(var_dir)
        sections.append(built_one)
    if "dist-kill" in selected:
        built_one, found["kill"] = distribution.bench_kill(
            var_dir, invitations=args.dist_kill_invitations
        )
        sections.append(built_one)
    for row in distribution.summary_rows(found):
        table.add(*row)
    notes = distribution.findings(found)
    if notes:
        slow = Section(key="distribution-findings", title="Found in these runs", columns=[])
        slow.notes += notes
        sections.append(slow)
    return table, sections


SURVEYS_INTRO = (
    "Figures for the targets of the surveys issue: the respondent page `/s/<token>/` (in "
    "process, as the other page benchmarks), completed responses per second through gunicorn, "
    "and the streamed CSV export of a million responses (`benchmarks/surveys.py`). This section "
    "is written by `benchmarks/run.py --write` on its own when only the survey benchmarks run "
    "(`--only survey-…`): it replaces the part of this file between its two markers and leaves "
    "every other figure here as it was."
)


def _surveys(selected: set[str], args: argparse.Namespace, var_dir: Path) -> tuple[Any, list]:
    """The surveys benchmarks (benchmarks/surveys.py): their own table of targets and sections.

    The export runs first when selected, so the pages and completions are measured with its
    million responses in the tables."""
    from benchmarks.common import Section, ms, verdict

    if not selected & set(SURVEYS):
        return None, []
    from benchmarks import surveys

    table = Section(
        key="surveys-targets",
        title="Surveys",
        columns=["Target", "Measured", "Result", "Ratio to the baseline (same run)"],
    )
    found: dict[str, Any] = {}
    built: dict[str, Any] = {}
    if "survey-export" in selected:
        built["export"], found["export"] = surveys.bench_export(
            var_dir, big=args.survey_responses, small=args.survey_small
        )
    if "survey-pages" in selected:
        built["pages"], found["pages"] = surveys.bench_pages(requests=max(args.requests, 30))
    if "survey-load" in selected:
        built["load"], found["load"] = surveys.bench_load(
            var_dir, seconds=args.load_seconds, connections=args.connections
        )

    pages = found.get("pages")
    if pages:
        gets = [c for c in pages["cases"] if c.kind == "GET"]
        posts = [c for c in pages["cases"] if c.kind == "POST"]
        for group, target, what in (
            (gets, surveys.TARGET_PAGE_MS, "Respondent page served"),
            (posts, surveys.TARGET_POST_MS, "Answer submitted"),
        ):
            worst = max(group, key=lambda c: c.timing.median_ms)
            table.add(
                f"{what} in under {target:.0f} ms median (PostgreSQL, in process, "
                f"{pages['requests']} requests)",
                "; ".join(
                    f"{c.key}: {ms(c.timing.median_ms)} (p95 {ms(c.timing.p95_ms)})" for c in group
                ),
                verdict(all(c.timing.median_ms < target for c in group) and pages["check"]),
                f"slowest ({worst.key}) {worst.timing.median_ms / worst.baseline.median_ms:.1f}× "
                f"the {'bare' if worst.kind == 'GET' else 'one-INSERT'} view "
                f"({ms(worst.baseline.median_ms)})",
            )
    load = found.get("load")
    if load:
        full, insert = load["full"], load["insert"]
        table.add(
            f"At least {surveys.TARGET_COMPLETIONS:,.0f} completed responses/s through gunicorn "
            "(-w 2), one POST of a whole answer set each",
            f"{load['per_s']:,.0f} completed/s ({full.completed:,} in {full.load.seconds:.1f} s; "
            f"{full.load.rps:,.0f} req/s, p50 {ms(full.load.latency_ms.get('50%', 0))}, p99 "
            f"{ms(full.load.latency_ms.get('99%', 0))}, {full.load.errors} errors; completed = "
            f"answered: {'yes' if load['check'] else 'NO'})",
            verdict(load["per_s"] >= surveys.TARGET_COMPLETIONS and load["check"]),
            f"{load['ratio']:.0%} of the one-INSERT view ({insert.load.rps:,.0f} req/s)",
        )
    export = found.get("export")
    if export:
        empty, small, big = export["runs"]
        table.add(
            f"CSV export of {export['big']:,} responses streams with flat memory, peak RSS under "
            f"{surveys.TARGET_EXPORT_RSS_MB:.0f} MB",
            f"peak RSS {big.peak_rss_mb:.0f} MB at {big.rows:,} rows, {small.peak_rss_mb:.0f} MB at "
            f"{small.rows:,} (the subprocess's VmHWM; highest sample during the stream "
            f"{big.stream_peak_mb:.0f} / {small.stream_peak_mb:.0f} MB; `ru_maxrss` "
            f"{big.ru_maxrss_mb:.0f} MB, which counts the benchmark process it was forked from); "
            f"{big.rows_per_s:,.0f} rows/s ({big.stream_s:.0f} s, {big.bytes / 2**20:,.0f} MB of "
            "CSV)",
            verdict(
                big.peak_rss_mb < surveys.TARGET_EXPORT_RSS_MB
                and export["ratio"] < surveys.FLAT_RATIO
                and export["stream_ratio"] < surveys.FLAT_RATIO
                and export["rows_ok"]
            ),
            f"peak {export['ratio']:.2f}× the {small.rows:,}-row peak (in the stream "
            f"{export['stream_ratio']:.2f}×); {big.peak_rss_mb / empty.peak_rss_mb:.2f}× an empty "
            f"export's ({empty.peak_rss_mb:.0f} MB)",
        )
    sections = [built[k] for k in ("pages", "load", "export") if k in built]
    notes = _survey_findings(found)
    if notes:
        slow = Section(key="survey-findings", title="Slow spots found in the surveys", columns=[])
        slow.notes += notes
        sections.append(slow)
    return table, sections


def _survey_findings(found: dict[str, Any]) -> list[str]:
    """What the survey figures of this run say is slow, each only when this run shows it."""
    from benchmarks import surveys
    from benchmarks.common import ms

    notes: list[str] = []
    pages = found.get("pages")
    if pages:
        slow = [c for c in pages["cases"] if c.timing.median_ms >= c.target]
        if slow:
            notes.append(
                "- **Respondent pages over their target**: "
                + "; ".join(
                    f"{c.label} {ms(c.timing.median_ms)} ({len(c.queries)} SQL statements)"
                    for c in slow
                )
                + "."
            )
    load = found.get("load")
    if load and load["per_s"] < surveys.TARGET_COMPLETIONS:
        profile, full, lean, insert = load["profile"], load["full"], load["lean"], load["insert"]
        notes.append(
            f"- **Completions below {surveys.TARGET_COMPLETIONS:,.0f}/s**: {load['per_s']:,.0f}/s, "
            f"{load['ratio']:.0%} of the one-INSERT view. The two cores run out: a completion "
            f"costs {full.cpu_ms:.2f} ms of gunicorn CPU and {full.pg_cpu_ms:.2f} ms of "
            f"PostgreSQL CPU ({insert.cpu_ms:.2f} + {insert.pg_cpu_ms:.2f} ms for the one-INSERT "
            f"view), i.e. at most about {2000 / (full.cpu_ms + full.pg_cpu_ms):,.0f}/s on two "
            "cores before the load generator takes its share. In process one completion takes "
            f"{profile['request']:.2f} ms, {profile['sql_ms']:.2f} ms of it inside database calls, "
            f"and runs {profile['queries']} SQL statements in three transactions "
            "(`response_start`, `answers_record`, "
            "`response_complete`): the response is looked up twice (`_response_for`, then "
            "`get_or_create` with a savepoint), the answers just written are read back three "
            "times (`missing_required`, the hidden-answer clean-up, `_timeline`), the customer "
            "and the touchpoint are fetched again for the timeline although `_resolve` loaded the "
            "invitation with its customer, and `interaction_record` looks its idempotency key up "
            "(and takes a savepoint) for a response id that did not exist a moment before. Each "
            "statement costs on both sides: the ORM builds and compiles it and psycopg sends it "
            "in the worker, and PostgreSQL parses, plans and runs it. The what-if path "
            "(`benchmarks/survey_variant_wsgi.py`: one transaction that inserts the response "
            "already completed, its answers and the interaction, and updates the invitation "
            f"once; {profile['lean_queries']} statements, {profile['lean']:.2f} ms in process) "
            f"gives {load['lean_per_s']:,.0f} completions/s ({lean.cpu_ms:.2f} ms of gunicorn and "
            f"{lean.pg_cpu_ms:.2f} ms of PostgreSQL CPU each) on the same machine in the same "
            "run. So the fix is in `surveys/services/responding.py` and "
            "`surveys/views/respond.py`: for a whole answer set on a fresh response, create the "
            "response with its score and answers and complete it in one transaction; pass the "
            "answers the request holds to the completion instead of reading them back; set "
            "`response.customer` / `touchpoint` from the invitation loaded by `_resolve` "
            "(`select_related('survey', 'customer', 'touchpoint')`); and let the timeline write "
            "skip the idempotency `SELECT` when the response has just been completed by the "
            "conditional `UPDATE` (the unique key still guards it)."
        )
    return notes


def _inbox(
    selected: set[str], args: argparse.Namespace, var_dir: Path, sections: list, summary: Any
) -> dict[str, Any]:
    """The inbox benchmarks (benchmarks/inbox.py) and their rows of the summary."""
    from benchmarks.common import ms, verdict

    figures: dict[str, Any] = {}
    if "inbox-webhook" in selected:
        from benchmarks.inbox import TARGET_P99_MS, TARGET_RATIO, bench_webhook

        section, hook = bench_webhook(
            var_dir, seconds=args.load_seconds, connections=args.connections
        )
        sections.append(section)
        figures["webhook"] = hook
        full, half, insert = hook["full"].load, hook["half"].load, hook["insert"].load
        summary.add(
            f"Inbound SMS webhook (signed, duplicate-checked, stored) through gunicorn (-w 2): at "
            f"least {TARGET_RATIO:.0%} of a bare one-INSERT view's throughput",
            f"{full.rps:,.0f} req/s = {hook['ratio']:.0%} of {insert.rps:,.0f} req/s "
            f"({args.connections} connections, {full.errors} errors; events stored = requests: "
            f"{'yes' if hook['checks_ok'] else 'NO'})",
            verdict(hook["ratio"] >= TARGET_RATIO and hook["checks_ok"]),
        )
        summary.add(
            f"… p99 acknowledgement under {TARGET_P99_MS:.0f} ms at half that load",
            f"p99 {ms(half.latency_ms.get('99%', 0))} (p50 {ms(half.latency_ms.get('50%', 0))}) at "
            f"{half.rps:,.0f} req/s = {hook['half_share']:.0%} of the full-load rate (1 connection)",
            verdict(half.latency_ms.get("99%", 1e9) < TARGET_P99_MS and half.errors == 0),
        )
    if "inbox-views" in selected:
        from benchmarks.inbox import bench_views

        view_sections, views = bench_views(
            conversations=args.conversations, requests=min(args.requests, 20)
        )
        sections.extend(view_sections)
        figures["views"] = views
        cases = views["cases"]
        lists, searches = cases[:2], cases[2:]
        data = views["data"]
        summary.add(
            f"Inbox Mine and Unassigned views at {data.conversations:,} conversations / "
            f"{data.messages:,} messages: under 100 ms median",
            "; ".join(
                f"{c.label.split(':')[0]} {ms(c.page.median_ms)} (p95 {ms(c.page.p95_ms)}, selector "
                f"{ms(c.selector.median_ms)})"
                for c in lists
            ),
            verdict(all(c.page.median_ms < c.target for c in lists)),
        )
        summary.add(
            "… search (`?q=` rare word, common word, customer email) under 300 ms median",
            "; ".join(
                f"{c.label.split('(')[0].replace('Search, ', '').strip()} {ms(c.page.median_ms)} "
                f"(p95 {ms(c.page.p95_ms)})"
                for c in searches
            ),
            verdict(all(c.page.median_ms < c.target for c in searches)),
        )
    if "inbox-replay" in selected:
        from benchmarks.inbox import bench_replay

        section, replay = bench_replay(var_dir, distinct=args.replay)
        sections.append(section)
        figures["replay"] = replay
        summary.add(
            f"Replay of {replay['distinct']:,} distinct webhooks each sent {replay['copies']} times "
            f"stores exactly {replay['distinct']:,} messages",
            f"{replay['ok']:,} answered 200; {replay['stored']:,} events; {replay['messages']:,} "
            "messages after processing",
            verdict(replay["ok_all"]),
        )
    return figures


def _inbox_findings(figures: dict[str, Any]) -> list[str]:
    """Findings of the inbox benchmarks, each only when this run shows it."""
    from benchmarks.common import ms

    notes: list[str] = []
    hook = figures.get("webhook")
    if hook:
        from benchmarks.inbox import TARGET_RATIO

        insert, full, profile = hook["insert"], hook["full"], hook["profile"]
        if hook["ratio"] < TARGET_RATIO:
            send, no_task = hook["variants"]
            notes.append(
                f"- **The Twilio webhook reaches {hook['ratio']:.0%} of the one-INSERT view, not "
                f"{TARGET_RATIO:.0%}**: gunicorn spends {full.cpu_ms:.2f} ms of CPU per webhook "
                f"against {insert.cpu_ms:.2f} ms. Signature verification is cheap "
                f"({profile['verify']:.3f} ms); `inbound_event_record` (inbox/services.py) is "
                f"{profile['record']:.2f} ms of the {profile['request']:.2f} ms request: a "
                f"transaction (BEGIN, INSERT, COMMIT: {profile['insert']:.2f} ms) plus a Celery "
                f"`send_task` to Redis per event from `enqueue_on_commit` ({profile['enqueue']:.2f} "
                "ms, kombu's publish path). Replacing the transaction with one autocommit "
                "`INSERT … ON CONFLICT ON CONSTRAINT inbox_inboundevent_once DO NOTHING RETURNING "
                f"id` gives {send.load.rps:,.0f} req/s ({send.load.rps / insert.load.rps:.0%}, "
                f"{send.cpu_ms:.2f} ms CPU); also not publishing a task per event gives "
                f"{no_task.load.rps:,.0f} req/s ({no_task.load.rps / insert.load.rps:.0%}, "
                f"{no_task.cpu_ms:.2f} ms CPU). So the fix is in `inbound_event_record`: store "
                "with the single statement, and stop publishing one Celery message per webhook — "
                "e.g. a worker task that claims unprocessed events in batches (`SELECT … WHERE "
                "processed_at IS NULL … FOR UPDATE SKIP LOCKED`), woken by beat every second or "
                "by at most one publish per second (a Redis `SET NX EX 1` guard) instead of one "
                "per event; `stuck_work_requeue` already finds unprocessed events as a backstop."
            )
    views = figures.get("views")
    if views:
        slow = [c for c in views["cases"] if c.page.median_ms >= c.target]
        if slow:
            notes.append(
                "- **Inbox pages over their target**: "
                + "; ".join(
                    f"{c.label} {ms(c.page.median_ms)} (selector {ms(c.selector.median_ms)}; "
                    f"plan `{c.plan_line}`, {ms(c.plan_ms)})"
                    for c in slow
                )
                + "."
            )
    return notes


def _findings(
    import_figures: dict | None, list_figures: dict | None, scale_slowdown: float | None
) -> list[str]:
    """What the figures of this run say is slow or wrong, each only when this run shows it."""
    from benchmarks.common import ms
    from benchmarks.customers import TARGET_MS
    from benchmarks.imports import TARGET_SECONDS

    notes = []
    if import_figures:
        creates, unchanged, updates = import_figures["runs"]
        if updates.wall_s >= TARGET_SECONDS:
            notes.append(
                f"- **Importing changes is slow**: the updates run took {updates.wall_s:.1f} s against "
                f"{creates.wall_s:.1f} s for creates and {unchanged.wall_s:.1f} s for unchanged rows. "
                "`_upsert_batch` (journeys/services/customers.py) writes changed customers with "
                "`QuerySet.bulk_update`, which builds a `CASE WHEN id=… THEN …` expression per row and "
                "per field; under cProfile most of that time is the ORM resolving and compiling those "
                "expressions, not PostgreSQL. Writing the changed rows with "
                "`bulk_create(update_conflicts=True, unique_fields=['id'], update_fields=…)` (one "
                "`INSERT … ON CONFLICT DO UPDATE` per chunk) avoids it."
            )
        if import_figures["bumped"] != updates.counts["updated"]:
            notes.append(
                f"- **`updated_at` is not moved by import updates** ({import_figures['bumped']:,} of "
                f"{updates.counts['updated']:,}): `bulk_update` writes the value loaded from the "
                "database, because it does not run the field's `auto_now` `pre_save`. Set "
                "`updated_at` on the changed customers before writing them."
            )
    if list_figures:
        short = next((c for c in list_figures["cases"] if c.key == "none-short"), None)
        if short and short.page and short.page.median_ms >= TARGET_MS:
            notes.append(
                f"- **One- and two-letter terms that match few customers are slow**: "
                f"`{short.params['q']}` took {ms(short.page.median_ms)} (SQL {ms(short.sql.median_ms)}; "
                f"plan: {short.plan}). Terms under three characters are matched as a prefix of "
                "`lower(name)` or `email` (journeys/selectors.py, `filter_search`), which the "
                "prefix indexes of migration 0006 (`journeys_customer_name_prefix`, "
                "`journeys_customer_email_prefix`) should serve; the plan above shows whether they do."
            )
    if scale_slowdown and scale_slowdown > 1.5:
        notes.append(
            f"- **Import slows down as the table grows** ({scale_slowdown:.1f}× fewer rows/s with a "
            "million customers): the per-chunk lookup (`_fetch_matches`) reads the whole table "
            "(plan above). It ORs `external_id IN (…)`, `lower(email) IN (…)` and `phone IN (…)`; "
            "the planner ignores the statistics of the partial expression index on `lower(email)` "
            "and estimates each of the 1,000 emails at the default 0.5 %, i.e. every row, so an "
            "index plan never looks cheaper, whether or not the partial-index predicates are "
            "spelled out. Extended statistics on the expression (`CREATE STATISTICS … ON "
            "(lower(email)) FROM journeys_customer`, PostgreSQL 14+) give the planner the real "
            "figure; or look the three identities up in three queries."
        )
    return notes


def _journeys_findings(
    timeline_figures: dict | None, ingest_figures: dict | None, single_figures: dict | None
) -> list[str]:
    """Findings of the journeys benchmarks, each only when this run shows it."""
    from benchmarks.common import ms

    notes: list[str] = []
    if single_figures:
        from benchmarks.ingest import TARGET_SINGLE_RPS

        api, insert = single_figures["api"], single_figures["insert"]
        profile = single_figures["profile"]
        if api.load.rps < TARGET_SINGLE_RPS:
            notes.append(
                f"- **The single-event path is below {TARGET_SINGLE_RPS:,.0f} requests/s**: "
                f"{api.load.rps:,.0f} req/s, {api.load.rps / insert.load.rps:.0%} of a view that "
                f"inserts one row; gunicorn spends {api.cpu_ms:.2f} ms of CPU per request against "
                f"{insert.cpu_ms:.2f} ms, so the two cores run out. In process one request takes "
                f"{profile['request']:.2f} ms (token authentication and the permission check "
                f"{profile['auth']:.2f} ms, `interactions_ingest` {profile['ingest']:.2f} ms) and "
                f"runs {profile['queries']} queries (listed above)."
            )
    if ingest_figures:
        from benchmarks.ingest import TARGET_BATCH_PER_S

        best = max(ingest_figures["runs"], key=lambda r: r.per_s)
        profile = ingest_figures["profile"]
        if best.per_s < TARGET_BATCH_PER_S:
            notes.append(
                f"- **Batch ingestion is below {TARGET_BATCH_PER_S:,.0f}/s** (best "
                f"{best.per_s:,.0f}/s): one batch of 1,000 takes {profile['total_ms']:.0f} ms in "
                f"`interactions_ingest` alone, of which {profile['sql_ms']:.0f} ms SQL."
            )
    if timeline_figures:
        from benchmarks.timeline import INDEX
        from benchmarks.timeline import TARGET_MS as TIMELINE_MS

        slow = [d for d in timeline_figures["depths"] if d.api.median_ms >= TIMELINE_MS]
        if slow:
            notes.append(
                "- **Timeline pages over the target**: "
                + ", ".join(f"{d.label} {ms(d.api.median_ms)}" for d in slow)
                + "."
            )
        indexes = timeline_figures["indexes"]
        duplicate = next(
            (
                (name, mb)
                for name, (mb, definition) in indexes.items()
                if definition.endswith("(customer_id)") and name != INDEX
            ),
            None,
        )
        if duplicate and INDEX in indexes:
            name, mb = duplicate
            notes.append(
                f"- **A redundant index on the interaction log**: `{name}` ({mb:,.0f} MB at "
                f"{timeline_figures['rows']:,} rows) is Django's default index for "
                "`Interaction.customer`; `journeys_int_timeline_idx` "
                f"({indexes[INDEX][0]:,.0f} MB) starts with `customer_id` and serves the same "
                "lookups (the timeline, `customer_id = …` filters, the cascade when a customer is "
                "deleted, merges), yet every ingested interaction also inserts into this one. "
                "`ForeignKey(Customer, …, db_index=False)` on `Interaction.customer` (journeys/"
                "models.py) and a migration that drops the index save the space and that write; "
                "no figure above needs it (only the `OFFSET` comparison's plan picks it)."
            )
    return notes


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Print the results as tables and write docs/performance.md."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import Section

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def plain_table(columns: list[str], rows: list[list[str]]) -> str:
    def clean(cell: str) -> str:
        return cell.replace("**", "").replace("`", "")

    cells = [[clean(c) for c in columns]] + [[clean(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    out = []
    for n, row in enumerate(cells):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def print_sections(sections: list[Section]) -> None:
    for section in sections:
        print()
        print(f"== {section.title}")
        if section.columns:
            print(plain_table(section.columns, section.rows))
        for note in section.notes:
            if not note.startswith("<details>"):
                print(note.replace("**", "").replace("```\n", "").replace("\n```", ""))


def render(
    sections: list[Section], summary: Section, machine: dict[str, str], *, args: str, run_note: str
) -> str:
    parts = [
        "# Performance",
        "",
        "Measured figures for the targets of the platform-foundation issue (CSV import, the customer "
        "list at a million customers, the API list) and of the journeys issue (interaction "
        "ingestion through the API behind gunicorn, in batches and one event at a time; a customer's "
        "timeline in a log of ten million interactions). Every figure below comes from one run of",
        "",
        "```sh",
        f"make bench{(' BENCH_ARGS=' + repr(args)) if args else ''}",
        "```",
        "",
        "which starts a throwaway PostgreSQL and Redis (`tests/harness.py`), migrates, loads the data "
        "and runs `benchmarks/run.py --write` (see `benchmarks/README.md`). Ratios are measured in the "
        "same run, on the same data, so they hold better than the absolute times. The ingestion "
        "figures come from a real server (`gunicorn cxm.wsgi -w 2`) on loopback, with the load "
        "generator on the same two cores as gunicorn and PostgreSQL.",
        "",
        "**These machines are shared and noisy**: other work (test suites, builds) runs beside the "
        "benchmark, so single figures can be off by tens of percent; medians and p95 over repeated "
        "requests are given for that reason. " + run_note,
        "",
        "## Machine",
        "",
        markdown_table(
            ["", ""],
            [
                ["Date", machine["date"]],
                ["CPU (`nproc`)", f"{machine['nproc']} × {machine['cpu']}"],
                ["Memory", machine["memory"]],
                ["OS", f"{machine['os']}, Linux {machine['kernel']}"],
                ["PostgreSQL", f"{machine['postgresql']}; {machine['pg_settings']}"],
                ["Python / Django", f"{machine['python']} / {machine['django']}"],
                ["Load average at the start", machine["load"]],
            ],
        ),
        "",
        "`free -g`:",
        "",
        "```",
        machine["free_g"],
        "```",
        "",
        "## Targets",
        "",
        markdown_table(summary.columns, summary.rows),
        "",
    ]
    for section in sections:
        parts += [f"## {section.title}", ""]
        if section.intro:
            parts += [section.intro, ""]
        if section.columns:
            parts += [markdown_table(section.columns, section.rows), ""]
        for note in section.notes:
            parts += [note, ""]
    return "\n".join(parts).rstrip() + "\n"


def write(text: str, path: Path | None = None) -> Path:
    path = (path or DOC).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------------
# Blocks: a part of docs/performance.md that one group of benchmarks writes on its own
# ------------------------------------------------------------------------------------------------
def _markers(key: str) -> tuple[str, str]:
    return (
        f"<!-- bench-block {key}: written by benchmarks/run.py --write; everything up to the end "
        "marker is replaced on the next run -->",
        f"<!-- bench-block {key}: end -->",
    )


def render_block(
    key: str,
    summary: Section,
    sections: list[Section],
    machine: dict[str, str],
    *,
    args: str,
    run_note: str,
    intro: str,
) -> str:
    """A self-contained section of the doc: its title (``summary.title``), how it was run, the
    machine, its table of targets and its sections (as ``###``), between two markers."""
    start, end = _markers(key)
    load = machine["load"] + (
        f" (at the end: {machine['load_end']})" if "load_end" in machine else ""
    )
    parts = [
        start,
        f"## {summary.title}",
        "",
        intro,
        "",
        "Every figure of this section comes from one run of",
        "",
        "```sh",
        f"make bench{(' BENCH_ARGS=' + repr(args)) if args else ''}",
        "```",
        "",
        "(`tests/harness.py`: a throwaway PostgreSQL and Redis, then `benchmarks/run.py`). "
        + run_note,
        "",
        markdown_table(
            ["Machine", ""],
            [
                ["Date", machine["date"]],
                ["CPU (`nproc`)", f"{machine['nproc']} × {machine['cpu']}"],
                ["Memory", machine["memory"]],
                ["OS", f"{machine['os']}, Linux {machine['kernel']}"],
                ["PostgreSQL", f"{machine['postgresql']}; {machine['pg_settings']}"],
                ["Python / Django", f"{machine['python']} / {machine['django']}"],
                ["Load average at the start", load],
            ],
        ),
        "",
        markdown_table(summary.columns, summary.rows),
        "",
    ]
    for section in sections:
        parts += [f"### {section.title}", ""]
        if section.intro:
            parts += [section.intro, ""]
        if section.columns:
            parts += [markdown_table(section.columns, section.rows), ""]
        for note in section.notes:
            parts += [note, ""]
    parts.append(end)
    return "\n".join(parts) + "\n"


def write_block(key: str, block: str, path: Path | None = None) -> Path:
    """Put ``block`` in place of the doc's block ``key`` (or at its end the first time), leaving
    the rest of the file as it is."""
    path = (path or DOC).resolve()
    start, end = _markers(key)
    text = path.read_text() if path.exists() else "# Performance\n"
    head, found, rest = text.partition(start)
    if found:
        _old, closed, tail = rest.partition(end)
        if not closed:
            raise RuntimeError(f"{path}: the block {key!r} has no end marker")
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path

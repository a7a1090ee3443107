"""Shared helpers of the benchmarks: timing statistics, results and the machine description."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timing:
    """Wall-clock samples of one repeated operation, in seconds."""

    samples: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.samples)
        # nearest-rank p95: the smallest sample with at least 95 % of the samples at or below it
        rank = max(1, -(-95 * len(ordered) // 100))
        return ordered[rank - 1] * 1000

    @property
    def min_ms(self) -> float:
        return min(self.samples) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.samples) * 1000


def repeat(fn: Callable[[], Any], *, n: int, warmup: int = 3) -> Timing:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return Timing(samples)


@dataclass
class Section:
    """One table of the report: a title, an introduction, column names and rows of cells."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    intro: str = ""

    def add(self, *cells: Any) -> None:
        self.rows.append([str(c) for c in cells])


def serve(client: Any, url: str) -> Any:
    """GET ``url`` like a WSGI server would run it.

    Django's test client disconnects ``close_old_connections`` from the request signals; a real
    server runs it before and after every request, which is where ``CONN_MAX_AGE`` and the
    connection health check take effect. So run it here too.
    """
    from django.db import close_old_connections

    close_old_connections()
    try:
        response = client.get(url)
    finally:
        close_old_connections()
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
    return response


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def ms(value: float) -> str:
    return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip("\n")
    except OSError:
        return ""


def machine() -> dict[str, str]:
    """What the figures were measured on (nproc, free -g, versions, date)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg_version = cursor.fetchone()[0].split(" on ")[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), ""
            )
    except OSError:
        pass
    free = _run(["free", "-g"]).splitlines()
    mem = next((line for line in free if line.startswith("Mem:")), "")
    total_gb = mem.split()[1] if mem else "?"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": _run(["nproc"]) or str(os.cpu_count()),
        "cpu": cpu or platform.processor() or "?",
        "memory": f"{total_gb} GB (free -g total)",
        "free_g": "\n".join(free),
        "os": _debian() or platform.platform(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "postgresql": pg_version,
        "pg_settings": f"shared_buffers={shared_buffers}, fsync=off, synchronous_commit=off (the test harness's throwaway cluster)",
        "django": __import__("django").get_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _debian() -> str:
    try:
        with open("/etc/os-release") as f:
            info = dict(line.rstrip().split("=", 1) for line in f if "=" in line)
        return info.get("PRETTY_NAME", "").strip('"')
    except OSError:
        return ""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

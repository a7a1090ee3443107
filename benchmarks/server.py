"""A real HTTP server for the ingestion benchmarks: gunicorn, and load generators to drive it.

``gunicorn()`` starts ``gunicorn cxm.wsgi -w 2`` (sync workers, the command of the docs) on a free
loopback port with the harness's environment, waits for it to answer and stops it afterwards.
``wrk()`` runs the Debian ``wrk`` binary with a Lua script for a fixed time; where ``wrk`` is not
installed ``python_load()`` does the same job with processes × threads of ``http.client``.
Everything is loopback only and bounded in time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    pid: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its workers so far."""
        import psutil

        total = 0.0
        try:
            master = psutil.Process(self.pid)
            for proc in [master, *master.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = proc.cpu_times()
                    total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
        return total

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text()[-chars:]
        except OSError:
            return ""


@contextlib.contextmanager
def gunicorn(
    log_dir: Path,
    *,
    name: str,
    workers: int = 2,
    settings: str = "cxm.settings",
    probe: str = "/healthz",
    app: str = "cxm.wsgi",
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """``gunicorn <app> -w <workers>`` on ``port`` (a free one by default) with ``env`` added to
    the environment; stopped (SIGTERM, then SIGKILL) after."""
    port = port or free_port()
    log = log_dir / f"gunicorn-{name}.log"
    env = {**os.environ, **(env or {}), "DJANGO_SETTINGS_MODULE": settings}
    cmd = [
        str(GUNICORN),
        app,
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(ROOT),
        "--timeout",
        "120",
        "--graceful-timeout",
        "5",
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(port=port, pid=proc.pid, log=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited {proc.returncode}:\n{server.tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", probe)
                status = conn.getresponse().status
                conn.close()
                if status < 500:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer on {probe}:\n{server.tail()}")
            time.sleep(0.2)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------------
# Load: wrk when Debian's package is installed, a Python generator otherwise
# ------------------------------------------------------------------------------------------------
@dataclass
class Load:
    """What one fixed-duration load run measured."""

    tool: str
    seconds: float
    requests: int
    errors: int  # non-2xx answers plus socket errors
    latency_ms: dict[str, float] = field(default_factory=dict)  # "50%", "90%", "99%"
    raw: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> Load:
    requests = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if not requests:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    seconds = _duration_ms(requests.group(2) + requests.group(3)) / 1000
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock:
        errors += sum(int(x) for x in sock.groups())
    latency = {
        m.group(1) + "%": _duration_ms(m.group(2))
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.MULTILINE)
    }
    return Load(
        tool="wrk",
        seconds=seconds,
        requests=int(requests.group(1)),
        errors=errors,
        latency_ms=latency,
        raw=output,
    )


def wrk(
    url: str,
    *,
    script: Path,
    script_args: list[str],
    seconds: int,
    connections: int,
    threads: int = 2,
) -> Load:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
        "--",
        *script_args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr}\n{done.stdout}")
    return parse_wrk(done.stdout)


# The Python fallback: each process runs ``threads`` keep-alive connections for ``seconds``.
RequestFactory = Callable[[int, int], tuple[str, str, bytes, dict[str, str]]]


def _python_worker(
    args: tuple[int, int, int, float, RequestFactory],
) -> tuple[int, int, list[float]]:
    import threading

    port, proc_no, threads, seconds, make = args
    lock = threading.Lock()
    done = [0, 0]
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds

    def run(thread_no: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while time.monotonic() < stop_at:
            method, path, body, headers = make(proc_no * 1000 + thread_no, n)
            n += 1
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 300
            except (OSError, http.client.HTTPException):
                conn.close()
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                done[0 if ok else 1] += 1
                latencies.append(elapsed)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return done[0], done[1], latencies


def python_load(
    port: int, make: RequestFactory, *, seconds: int, processes: int = 2, threads: int = 8
) -> Load:
    """Fixed-duration load from ``processes`` × ``threads`` http.client connections."""
    started = time.perf_counter()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes) as pool:
        parts = pool.map(
            _python_worker, [(port, p, threads, float(seconds), make) for p in range(processes)]
        )
    elapsed = time.perf_counter() - started
    ok = sum(p[0] for p in parts)
    failed = sum(p[1] for p in parts)
    latencies = sorted(x for p in parts for x in p[2])

    def pct(q: int) -> float:
        if not latencies:
            return 0.0
        return latencies[max(0, -(-q * len(latencies) // 100) - 1)] * 1000

    return Load(
        tool=f"python ({processes} processes × {threads} threads)",
        seconds=elapsed,
        requests=ok + failed,
        errors=failed,
        latency_ms={f"{q}%": pct(q) for q in (50, 75, 90, 99)},
    )


def post_json(
    port: int, path: str, payload: Any, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """One POST on a fresh connection (for warm-ups and checks)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", **headers},
        )
        response = conn.getresponse()
        body = response.read()
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {"raw": body[:500].decode(errors="replace")}
        return response.status, parsed
    finally:
        conn.close()

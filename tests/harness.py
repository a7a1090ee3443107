"""Start the real services the suite needs, run a command against them, stop them.

    python tests/harness.py [pytest args…]          # make test
    python tests/harness.py --run CMD ARGS…         # make bench, or anything else

PostgreSQL (from /usr/lib/postgresql/*/bin) and Redis are started on free loopback ports in a
temporary directory and stopped afterwards, whatever happens. As root, PostgreSQL runs as the
``postgres`` user (initdb refuses root). Exports DATABASE_URL, REDIS_URL, CXM_ENV=test and
CXM_VAR_DIR to the command.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql)")


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        # From "/": the postgres user may not enter the (private) directory we were started in.
        return ["runuser", "-u", "postgres", "--", "sh", "-c", 'cd / && exec "$@"', "sh", *cmd]
    return cmd


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    pg = _pg_bin()
    base = Path(tempfile.mkdtemp(prefix="cxm-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data, log, port = base / "data", base / "log", free_port()
    subprocess.run(
        _as_postgres(
            [
                str(pg / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "-N",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=200 -c shared_buffers=256MB"
    )
    subprocess.run(
        _as_postgres(
            [str(pg / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        subprocess.run(
            _as_postgres(
                [str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "cxm"]
            ),
            check=True,
        )
        yield f"postgres://postgres@127.0.0.1:{port}/cxm"
    finally:
        subprocess.run(
            _as_postgres([str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            stdout=subprocess.DEVNULL,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def redis() -> Iterator[str]:
    server = shutil.which("redis-server")
    if not server:
        raise SystemExit("redis-server not found (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.2) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str]) -> int:
    command = argv[1:] if argv[:1] == ["--run"] else [sys.executable, "-m", "pytest", *argv]
    var_dir = tempfile.mkdtemp(prefix="cxm-var-")
    try:
        with postgres() as database_url, redis() as redis_url:
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "CXM_ENV": "test",
                "CXM_VAR_DIR": var_dir,
                "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
            }
            print(f"harness: PostgreSQL {database_url}  Redis {redis_url}", flush=True)
            return subprocess.call(command, env=env, cwd=ROOT)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

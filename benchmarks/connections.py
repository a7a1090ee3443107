"""Persistent database connections (CONN_MAX_AGE) against a new connection per request.

cxm/settings.py keeps connections open (CONN_MAX_AGE=600 with health checks) and says a new
connection per request costs throughput; this measures it on two requests of the same run.
"""

from __future__ import annotations

import functools

from django.db import connection
from django.test import Client

from benchmarks.common import Section, Timing, log, ms, repeat, serve


def bench_connections(
    page_client: Client, api_client: Client, customer_id: int, *, requests: int
) -> Section:
    log("Connections: CONN_MAX_AGE=600 against 0")
    cases = [
        ("`GET /api/v1/customers/<id>/` (token)", api_client, f"/api/v1/customers/{customer_id}/"),
        ("`GET /customers/` first page (session)", page_client, "/customers/"),
    ]
    section = Section(
        key="connections",
        title="Persistent database connections",
        intro=(
            "The same requests with the settings' persistent connections (`CONN_MAX_AGE=600`, health "
            "checks on) and with `CONN_MAX_AGE=0` (Django opens and closes a connection for every "
            f"request). PostgreSQL on loopback with trust authentication, so this is the cheapest a new "
            f"connection gets; {requests} timed requests after 3 warm-up requests."
        ),
        columns=[
            "Request",
            "Persistent median",
            "New connection median",
            "Slow-down",
            "Throughput ratio (1 process)",
        ],
    )
    original = connection.settings_dict["CONN_MAX_AGE"]
    try:
        for label, client, url in cases:
            timings: dict[int, Timing] = {}
            for age in (original, 0):
                connection.close()
                connection.settings_dict["CONN_MAX_AGE"] = age
                timings[age] = repeat(functools.partial(serve, client, url), n=requests, warmup=3)
            kept, fresh = timings[original], timings[0]
            section.add(
                label,
                ms(kept.median_ms),
                ms(fresh.median_ms),
                f"+{fresh.median_ms - kept.median_ms:.1f} ms",
                f"{fresh.median_ms / kept.median_ms:.1f}×",
            )
            log(f"  {label}: {kept.median_ms:.1f} ms kept, {fresh.median_ms:.1f} ms new")
    finally:
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = original
    return section

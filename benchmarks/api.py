"""API list benchmark: ``GET /api/v1/customers/?q=…`` with a personal API token."""

from __future__ import annotations

from typing import Any

from django.test import Client

from benchmarks.common import Section, Timing, log, ms, repeat, serve, verdict
from benchmarks.customers import TARGET_MS, Case


def api_client() -> Client:
    from cxm.accounts.models import User
    from cxm.accounts.services import api_token_create, user_create

    email = "bench-api@example.org"
    user = User.objects.filter(email=email).first() or user_create(
        email=email, name="Bench API", roles=["agent"], password="bench-password-1234"
    )
    issued = api_token_create(user=user, name="benchmark")
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")


def bench_api(cases: list[Case], *, requests: int) -> tuple[Section, dict[str, Any]]:
    log("API list: GET /api/v1/customers/ with a token")
    client = api_client()
    keys = ("rare", "email", "phone", "surname", "two", "none", "first", "combo")
    chosen = [c for c in cases if c.key in keys]
    results: list[tuple[Case, Timing, int]] = []
    for case in chosen:
        url = Case(case.key, case.label, case.params).url("/api/v1/customers/")
        body = serve(client, url).json()
        returned = len(body.get("results", []))

        def get(u: str = url) -> None:
            serve(client, u)

        timing = repeat(get, n=requests, warmup=3)
        results.append((case, timing, returned))
        log(
            f"  {case.label}: {timing.median_ms:.1f} ms (p95 {timing.p95_ms:.1f}), {returned} results"
        )

    section = Section(
        key="api",
        title="API: GET /api/v1/customers/",
        intro=(
            "Same data and terms as the list page, through Django's test client with "
            "`Authorization: Bearer <token>` (a token from `api_token_create` for an agent); JSON, 50 "
            f"per page, cursor pagination. {requests} timed requests after 3 warm-up requests. The issue "
            "sets no separate target for the API; the page's 100 ms is used."
        ),
        columns=[
            "Case",
            "Results",
            "Median",
            "p95",
            "Page median (same case)",
            "Target (< 100 ms)",
        ],
    )
    for case, timing, returned in results:
        section.add(
            case.label,
            returned,
            ms(timing.median_ms),
            ms(timing.p95_ms),
            ms(case.page.median_ms) if case.page else "",
            verdict(timing.median_ms < TARGET_MS),
        )
    return section, {"results": results}

"""GET /healthz: is the database reachable, is the broker reachable?"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from cxm.celery import app


def _database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; say which kind
        return type(exc).__name__
    return None


def _broker() -> str | None:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return type(exc).__name__
    return None


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "broker": _broker()}
    body = {
        "status": "ok" if not any(checks.values()) else "unavailable",
        "checks": {
            name: ("ok" if error is None else f"failed: {error}") for name, error in checks.items()
        },
    }
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)

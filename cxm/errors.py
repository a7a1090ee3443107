"""Domain errors and the page shown when a rate limit is hit."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


class ApplicationError(Exception):
    """A rule of the domain was broken. ``field`` names the input at fault, when there is one."""

    status_code = 400
    code = "invalid"

    def __init__(
        self, message: str, *, field: str | None = None, extra: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


def ratelimited(request: HttpRequest, exception: Exception) -> HttpResponse:
    message = _("Too many requests. Wait a few minutes and try again.")
    if request.path.startswith("/api/") or (
        request.accepts("application/json") and not request.accepts("text/html")
    ):
        return JsonResponse(
            {
                "detail": message,
                "errors": [{"field": None, "code": "rate_limited", "message": message}],
            },
            status=429,
        )
    return render(request, "429.html", {"message": message}, status=429)

"""Shared REST API pieces: the one exception handler, pagination and strict serializers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cxm.errors import ApplicationError


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Turn DRF's nested error detail into a flat list naming each field by its path."""
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = str(key)
            if name in ("non_field_errors", "__all__"):
                path = prefix or None
            else:
                path = f"{prefix}.{name}" if prefix else name
            out.extend(_flatten(value, path or ""))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail | str) for item in detail):
            return [
                {
                    "field": prefix or None,
                    "code": getattr(item, "code", "invalid"),
                    "message": str(item),
                }
                for item in detail
            ]
        out = []
        for index, item in enumerate(detail):
            if item:
                out.extend(_flatten(item, f"{prefix}[{index}]"))
        return out
    return [
        {
            "field": prefix or None,
            "code": getattr(detail, "code", "invalid"),
            "message": str(detail),
        }
    ]


def error_body(detail: Any, message: str | None = None) -> dict[str, Any]:
    errors = _flatten(detail)
    if message is None:
        message = errors[0]["message"] if len(errors) == 1 else _("The request has invalid fields.")
    return {"detail": message, "errors": errors}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error is ``{"detail": ..., "errors": [{"field", "code", "message"}]}``."""
    if isinstance(exc, RequestDataTooBig):
        message = _("The request body is larger than %(limit)s.") % {
            "limit": filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        }
        return Response(
            {
                "detail": message,
                "errors": [{"field": "body", "code": "too_large", "message": message}],
            },
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, ApplicationError):
        err = {"field": exc.field, "code": exc.code, "message": exc.message, **exc.extra}
        return Response({"detail": exc.message, "errors": [err]}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(exc.detail)
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body(
            {"body": [exceptions.ErrorDetail(str(exc.detail), code="parse_error")]},
            message=str(exc.detail),
        )
    elif isinstance(exc, exceptions.APIException):
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else _("Error")
        response.data = {
            "detail": message,
            "errors": [
                {
                    "field": None,
                    "code": exc.get_codes() if isinstance(exc.get_codes(), str) else "error",
                    "message": message,
                }
            ],
        }
    return response


class CursorPagination(pagination.CursorPagination):
    """Keyset pagination: every page costs the same, however deep (no OFFSET)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"
    invalid_cursor_message = gettext_lazy(  # type: ignore[assignment]
        "Invalid cursor: use the “next” or “previous” link as given."
    )

    def decode_cursor(self, request: Any) -> Any:
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:
            # A bad cursor is bad input, not a missing page.
            raise exceptions.ValidationError({"cursor": [self.invalid_cursor_message]}) from exc


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, so a typo is a 400 and not silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [_("Unknown field.")] for name in unknown}, code="unknown_field"
                )
        return super().to_internal_value(data)


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    pass


def bad_request(field: str, message: str, code: str = "invalid") -> Response:
    return Response(
        {"detail": message, "errors": [{"field": field, "code": code, "message": message}]},
        status=status.HTTP_400_BAD_REQUEST,
    )

"""Permission checks shared by every API view.

Each API view names the Django permissions it needs per HTTP method in ``required_permissions``;
a view that names none is closed to everybody, so forgetting it fails safe.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class RolePermission(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        required: dict[str, list[str]] | None = getattr(view, "required_permissions", None)
        if required is None:
            return False
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        perms = required.get(method or "GET")
        if perms is None:
            return False
        if user.is_superuser:
            return True
        from cxm.accounts.services import user_permissions

        return set(perms) <= user_permissions(user=user)

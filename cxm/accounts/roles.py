"""Roles are Groups with permissions.

Each app lists what its permissions each role gets in its own ``grants.py`` (``GRANTS``) and applies
them in two places: a data migration (so a fresh database has the roles), and a ``post_migrate``
receiver (so roles come back after a test flush, and an upgrade that adds permissions grants
them). Both are idempotent: they only add.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cxm.accounts.models import Role

ROLE_NAMES = [role.value for role in Role]
Grants = dict[str, list[str]]


def _apply(apps: Any, app_label: str, grants: Grants) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in grants.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"unknown permissions for {app_label}: {sorted(missing)}")
        group.permissions.add(*perms)


def grant_permissions(app_label: str, grants: Grants) -> Callable[[Any, Any], None]:
    """A ``RunPython`` function giving each role the listed permission codenames of ``app_label``."""

    def forward(apps: Any, schema_editor: Any) -> None:
        from django.contrib.auth.management import create_permissions

        # Permissions are normally created after *all* migrations ran; create this app's now.
        # The historical app config has no models_module, which would make this a no-op.
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        try:
            create_permissions(app_config, verbosity=0, apps=apps)
        finally:
            app_config.models_module = None
        _apply(apps, app_label, grants)

    return forward


def connect_grants(app_config: Any, grants: Grants) -> None:
    """Call from ``AppConfig.ready()``: re-apply ``grants`` after every migrate or flush."""
    from django.db.models.signals import post_migrate

    def receiver(sender: Any, apps: Any = None, **kwargs: Any) -> None:
        from django.apps import apps as global_apps

        _apply(apps or global_apps, app_config.label, grants)

    post_migrate.connect(
        receiver, sender=app_config, weak=False, dispatch_uid=f"roles-{app_config.label}"
    )

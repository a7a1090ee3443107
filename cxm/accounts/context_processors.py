"""The navigation a user sees depends on their role; sections not built yet are not shown."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

# (url name, label, permission needed). A section appears only once its URL exists.
SECTIONS = [
    ("inbox:index", _("Inbox"), "inbox.view_conversation"),
    ("followups:queue", _("Follow-ups"), "metrics.view_followup"),
    ("surveys:survey-list", _("Surveys"), "surveys.view_survey"),
    ("metrics:dashboard", _("Dashboards"), "metrics.view_dashboard"),
    ("journeys:customer-list", _("Customers"), "journeys.view_customer"),
    ("journeys:journey-list", _("Journeys"), "journeys.view_journey"),
]


def nav_for(user: Any) -> list[dict[str, Any]]:
    items = []
    for url_name, label, perm in SECTIONS:
        if not user.has_perm(perm):
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append({"url": url, "label": label, "key": url_name.rsplit("-", 1)[0]})
    return items


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = nav_for(user)
    view_name = request.resolver_match.view_name if request.resolver_match else ""
    for item in items:
        item["current"] = view_name.startswith(item["key"])
    from cxm.core.models import Notification

    return {
        "unread_notifications": Notification.objects.filter(
            user=user, read_at__isnull=True
        ).count(),
        "nav_items": items,
        "can_manage_users": user.has_perm("accounts.manage_users"),
        "settings_current": view_name.startswith("accounts:"),
    }

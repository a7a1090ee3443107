"""``{% report_subscriptions dashboard as rows %}``: the signed-in user's report subscriptions of
one dashboard, for ``templates/metrics/_subscribe.html`` (included by every dashboard)."""

from __future__ import annotations

from typing import Any

from django import template

from metrics import reports

register = template.Library()


@register.simple_tag(takes_context=True)
def report_subscriptions(context: template.Context, dashboard: Any) -> list[dict[str, Any]]:
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return []
    if not user.has_perm("metrics.view_reportsubscription"):
        return []
    return reports.subscription_rows(
        reports.report_subscriptions_for_user(user=user, dashboard=str(dashboard))
    )

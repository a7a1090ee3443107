from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

from inbox import sla

register = template.Library()


@register.filter
def sla_state(due: dt.datetime | None) -> str:
    """ "breached", "at_risk" or "" for a due time."""
    now = timezone.now()
    if sla.breached(due, now):
        return "breached"
    if sla.at_risk(due, now):
        return "at_risk"
    return ""

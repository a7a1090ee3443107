"""Shaping interactions for the timeline: grouping by day and the link to each entry's source.

Apps above journeys register how to link to their objects (``register_source``) in their
``AppConfig.ready()``; an interaction sent from outside links to its ``source_url``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from journeys.models import Interaction

_SOURCES: dict[str, Callable[[str], str]] = {}


def register_source(source_type: str, link: Callable[[str], str]) -> None:
    _SOURCES[source_type] = link


register_source("journeys.customer", lambda pk: reverse("journeys:customer-detail", args=[int(pk)]))


def source_link(interaction: Interaction) -> str:
    if interaction.source_type in _SOURCES and interaction.source_id:
        try:
            return _SOURCES[interaction.source_type](interaction.source_id)
        except (NoReverseMatch, ValueError):
            return ""
    return interaction.source_url


@dataclass
class TimelineDay:
    day: dt.date
    entries: list[Interaction]
    continued: bool  # the day started on the previous page: no second heading


def timeline_days(entries: list[Interaction], *, after_day: str = "") -> list[TimelineDay]:
    days: list[TimelineDay] = []
    for entry in entries:
        entry.link = source_link(entry)  # type: ignore[attr-defined]
        day = timezone.localdate(entry.occurred_at)
        if not days or days[-1].day != day:
            days.append(
                TimelineDay(
                    day=day, entries=[], continued=not days and day.isoformat() == after_day
                )
            )
        days[-1].entries.append(entry)
    return days

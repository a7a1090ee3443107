"""Business-hours arithmetic for SLA due times: pure functions, no database."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class BusinessHours:
    timezone: str = "Europe/Amsterdam"
    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(17, 0)
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    holidays: frozenset[dt.date] = frozenset()


def add_business_minutes(
    moment: dt.datetime, minutes: int, hours: BusinessHours | None
) -> dt.datetime:
    """``moment`` plus ``minutes`` counted only inside business hours (all hours when ``None``).

    Weekends, holidays and nights do not count: a message at 16:30 on Friday with a 60-minute
    target is due at 09:30 on Monday.
    """
    if hours is None:
        return moment + dt.timedelta(minutes=minutes)
    zone = zoneinfo.ZoneInfo(hours.timezone)
    local = moment.astimezone(zone)
    remaining = dt.timedelta(minutes=minutes)
    for _ in range(3700):  # ten years of days: a guard, never reached in practice
        day = local.date()
        opens = dt.datetime.combine(day, hours.start, zone)
        closes = dt.datetime.combine(day, hours.end, zone)
        if day.weekday() in hours.workdays and day not in hours.holidays and local < closes:
            local = max(local, opens)
            available = closes - local
            if remaining <= available:
                return (local + remaining).astimezone(dt.UTC)
            remaining -= available
        local = dt.datetime.combine(day + dt.timedelta(days=1), hours.start, zone)
    raise ValueError("no business hours in the next ten years")


def at_risk(
    due: dt.datetime | None, now: dt.datetime, window: dt.timedelta = dt.timedelta(minutes=30)
) -> bool:
    return due is not None and now <= due <= now + window


def breached(due: dt.datetime | None, now: dt.datetime) -> bool:
    return due is not None and due < now


def business_hours_of(
    *, timezone: str, start: dt.time, end: dt.time, workdays: str, holidays: Collection[dt.date]
) -> BusinessHours:
    return BusinessHours(
        timezone=timezone,
        start=start,
        end=end,
        workdays=frozenset(int(d) - 1 for d in workdays if d.isdigit() and 1 <= int(d) <= 7),
        holidays=frozenset(holidays),
    )

"""The SQL of the dashboards' readings of the rollups.

``metrics.selectors`` reads the rollups through ``source`` and ``fetch``: a reading is one
statement whose FROM is the smallest cube that has every dimension it filters or groups on (else
the daily rollup) and whose WHERE picks the cube's month rows for the whole calendar months of
each period, its day rows for the days around them, and the rows of the filters' slice, language,
channel, team, agent, survey and touchpoints.

Why SQL and not the ORM: a narrow reading (one agent, one survey) takes the database a fraction of
a millisecond, and building and compiling the same query with the ORM took two or three times
that, four or five times per dashboard call (docs/performance.md). The statements are made of a
few parts and run unchanged on PostgreSQL and SQLite. Table and column names come from the models
and the constants here, never from the request; every value is a query parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection

from metrics.filters import Filters
from metrics.models import (
    CUBE_OF,
    ConversationDaily,
    Cube,
    CustomerDaily,
    InvitationDaily,
    ResponseDaily,
    Rollup,
)

ALIAS = "r"  # the rollup's alias in every statement: conditions are written on r.<column>
Period = tuple[dt.date, dt.date]  # first and last day, inclusive
BEGINNING = dt.date(1, 1, 1)  # a period's start for "everything before"

# Which of the filters' conditions each rollup has the columns for.
LEVEL: dict[type[Rollup], str] = {
    ResponseDaily: "response",
    InvitationDaily: "response",
    ConversationDaily: "conversation",
    CustomerDaily: "customer",
}


@dataclass(frozen=True)
class Source:
    """The rows one reading takes: ``FROM {from_} WHERE {where}`` with ``params``."""

    table: str
    cube: str  # the cube's letter, or "" for the daily rollup
    where: str
    params: tuple[Any, ...]

    @property
    def from_(self) -> str:
        return f"{self.table} {ALIAS}"


def spans(start: dt.date, end: dt.date, *, months: bool) -> list[tuple[str, dt.date, dt.date]]:
    """A cube's rows for ``start``–``end`` as (span, first day, day after the last): the month
    rows of the whole calendar months inside it and the day rows of the days around them (or day
    rows only). A month row's ``day`` is the month's first day."""
    after = end + dt.timedelta(days=1)
    days = [(Cube.DAY, start, after)]
    if not months:
        return days
    first = (
        start if start.day == 1 else (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    )
    stop = after if after.day == 1 else end.replace(day=1)  # the day after the last whole month
    if first >= stop:
        return days
    out = [(Cube.MONTH, first, stop)]
    if start < first:
        out.append((Cube.DAY, start, first))
    if stop < after:
        out.append((Cube.DAY, stop, after))
    return out


def among(column: str, values: Iterable[Any]) -> tuple[str, list[Any]]:
    """``column IN (…)`` with a parameter per value (none of them: no row)."""
    ordered = sorted(values)
    if not ordered:
        return "1 = 0", []
    return f"{column} IN ({', '.join(['%s'] * len(ordered))})", ordered


def conditions(f: Filters, level: str) -> tuple[list[str], list[Any]]:
    """The filters' conditions on a rollup of ``level`` (``LEVEL``), on ``r.``'s columns."""
    sql, params = [], []
    for column, value in f.rollup_conditions(level).items():
        if isinstance(value, frozenset):
            condition, values = among(f"{ALIAS}.{column}", value)
            sql.append(condition)
            params += values
        else:
            sql.append(f"{ALIAS}.{column} = %s")
            params.append(value)
    return sql, params


def source(
    daily: type[Rollup],
    f: Filters,
    *needs: str,
    periods: Iterable[Period] | None = None,
    months: bool = True,
) -> Source:
    """The rows of ``daily`` (or of its smallest cube that has the dimensions the filters narrow
    and ``needs``) for ``periods`` (the filters' period by default), of the filters' rows."""
    level = LEVEL[daily]
    periods = list(periods or [(f.start, f.end)])
    where, params = conditions(f, level)
    wanted = (set(f.rollup_conditions(level)) | set(needs)) & set(daily.DIMENSIONS)
    cube = CUBE_OF.get(daily)
    name = next((n for n, dims in (cube.CUBES if cube else {}).items() if wanted <= set(dims)), "")
    days, days_params = _days(periods, months=months, spans_kept=bool(name))
    if cube is not None and name:
        return Source(
            cube._meta.db_table,
            name,
            " AND ".join([f"{ALIAS}.cube = %s", days, *where]),
            (name, *days_params, *params),
        )
    return Source(daily._meta.db_table, "", " AND ".join([days, *where]), (*days_params, *params))


def _days(periods: list[Period], *, months: bool, spans_kept: bool) -> tuple[str, list[Any]]:
    """The condition on the rows of ``periods``: a cube's (``spans_kept``) month and day rows
    (``spans``), or a daily rollup's days."""
    conditions, params = [], []
    for start, end in periods:
        for span, first, stop in spans(start, end, months=months and spans_kept):
            if spans_kept:
                conditions.append(f"({ALIAS}.span = %s AND {ALIAS}.day >= %s AND {ALIAS}.day < %s)")
                params += [span, first, stop]
            else:
                conditions.append(f"({ALIAS}.day >= %s AND {ALIAS}.day < %s)")
                params += [first, stop]
    return f"({' OR '.join(conditions)})", params


Statement = tuple[str, list[Any]]  # SQL text (values written as %s) and the values, in order


def fetch_all(*statements: Statement) -> list[list[tuple[Any, ...]]]:
    """Each statement's rows. On PostgreSQL in one round trip (the statements joined by ";",
    with the client-side parameter binding Django uses, read back with ``nextset``): a dashboard
    call's four or five statements took longer to send one by one than to run. Elsewhere, one
    by one."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            out = []
            for sql, params in statements:
                cursor.execute(sql, params)
                out.append(cursor.fetchall())
            return out
        cursor.execute(
            "; ".join(sql for sql, _params in statements),
            [value for _sql, params in statements for value in params],
        )
        out = [cursor.fetchall()]
        while cursor.nextset():
            out.append(cursor.fetchall())
        return out


def day(value: Any) -> dt.date:
    """A date column's value as a date (SQLite gives its ISO text)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def moment(value: Any) -> dt.datetime | None:
    """A timestamp column's value as an aware datetime (SQLite gives its text, in UTC)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)

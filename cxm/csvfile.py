"""CSV downloads: written a line at a time into a streamed response (a large export never sits
in memory), every cell safe to open in a spreadsheet.

Used by the dashboards' tables, the responses export and the import error reports.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse


def cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula: text starting with = + - @ (or a tab
    or carriage return) gets a leading quote; numbers stay numbers."""
    if isinstance(value, int | float):
        return str(value)
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class _Echo:
    """A file whose ``write`` hands the line back, so ``csv.writer`` formats without storing."""

    def write(self, value: str) -> str:
        return value


def lines(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """Each row as one CSV line (with its line end), its cells made safe with ``cell``."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([cell(value) for value in row])


def download(
    content: Iterable[str], filename: str, *, excel_bom: bool = False
) -> StreamingHttpResponse:
    """``content`` (CSV text, in pieces) streamed as an attachment named ``filename``. With
    ``excel_bom`` the file starts with a byte order mark, which makes Excel read it as UTF-8."""
    pieces = iter(content)
    if excel_bom:
        pieces = _prefixed("\ufeff", pieces)
    response = StreamingHttpResponse(pieces, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _prefixed(first: str, pieces: Iterator[str]) -> Iterator[str]:
    yield first
    yield from pieces

"""manage.py import_customers FILE — the same streaming import as the UI, run in the foreground."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from journeys.services import ImportFileError, ImportStats, RowError, customers_import_stream


class Command(BaseCommand):
    help = "Import customers from a CSV file (UTF-8, header row). Upserts on external_id, email or phone."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the CSV file, or - for standard input")
        parser.add_argument("--quiet-errors", action="store_true", help="Print only the totals")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        started = time.monotonic()
        show_errors = not options["quiet_errors"]
        verbosity = options["verbosity"]

        def on_chunk(stats: ImportStats, errors: list[RowError], position: int) -> None:
            if show_errors:
                for e in errors:
                    column = f" [{e.field}]" if e.field else ""
                    self.stderr.write(f"row {e.row_number}{column}: {e.reason}")
            if verbosity >= 2:
                self.stdout.write(f"… {stats.seen} rows")

        try:
            if path == "-":
                stats = customers_import_stream(stream=sys.stdin.buffer, on_chunk=on_chunk)
            else:
                try:
                    stream = open(path, "rb")  # noqa: SIM115 - closed below
                except OSError as exc:
                    raise CommandError(f"cannot open {path}: {exc.strerror}") from exc
                with stream:
                    stats = customers_import_stream(stream=stream, on_chunk=on_chunk)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"{stats.seen} rows in {elapsed:.1f}s: {stats.created} created, {stats.updated} updated, "
            f"{stats.unchanged} unchanged, {stats.failed} rejected"
        )

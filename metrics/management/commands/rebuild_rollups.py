"""manage.py rebuild_rollups — recompute the metric rollups from the source rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from metrics.services import rollups_refresh


class Command(BaseCommand):
    help = (
        "Recompute the metric rollups (responses, invitations, conversations, customers) from "
        "the source rows: all days, or from --since on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="First day to recompute (YYYY-MM-DD); default: all.")

    def handle(self, *args: Any, **options: Any) -> None:
        since = None
        if options["since"]:
            try:
                since = dt.date.fromisoformat(options["since"])
            except ValueError:
                raise CommandError("--since must be a date like 2026-01-31.") from None
        written = rollups_refresh(since=since)
        for name, rows in written.items():
            label = "unchanged" if rows is None else f"{rows} rows"
            self.stdout.write(f"{name}: {label}")

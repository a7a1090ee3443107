"""manage.py rebuild_rollups — recompute the metric rollups from the responses."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from metrics.services import rollups_rebuild


class Command(BaseCommand):
    help = "Recompute the daily response rollups from the completed responses."

    def handle(self, *args: Any, **options: Any) -> None:
        rows = rollups_rebuild()
        self.stdout.write(f"rollups rebuilt: {rows} rows")

"""manage.py demo_data — a believable company to click around in. Safe to run again.

It lives in the highest app (metrics) and composes each layer's demo data in layer order."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inbox.demo import InboxDemo
from journeys.demo import DEMO_USERS, JourneysDemo
from metrics.demo import MetricsDemo
from metrics.services import rollups_rebuild
from surveys.demo import SurveysDemo


class Command(BaseCommand):
    help = (
        "Load demo users, teams, customers, a mapped journey, channels, three months of "
        "conversations, surveys with answers, and close-the-loop follow-ups (idempotent)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=300)

    def handle(self, *args: Any, **options: Any) -> None:
        JourneysDemo(self.stdout, self.stderr).handle(customers=options["customers"])
        InboxDemo(self.stdout, self.stderr).handle()
        SurveysDemo(self.stdout, self.stderr).handle()
        MetricsDemo(self.stdout, self.stderr).handle()
        # The dashboards read rollups only: build them now rather than wait for beat.
        written = rollups_rebuild()
        self.stdout.write(f"Metrics: {written['responses']} daily response rows rolled up.")
        self.stdout.write("Demo sign-ins:")
        for email, _name, roles, password, _language in DEMO_USERS:
            self.stdout.write(f"  {roles[0].label:<8} {email:<24} {password}")

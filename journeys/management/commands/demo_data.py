"""manage.py demo_data — a believable company to click around in. Safe to run again."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from cxm.accounts import services as account_services
from cxm.accounts.models import Role, Team, User
from journeys.services import customers_upsert

DEMO_USERS = [
    # email, name, roles, password, language
    ("admin@demo.cxm.test", "Ada Admin", [Role.ADMIN], "demo-admin-2026", "en"),
    ("lead@demo.cxm.test", "Lotte de Vries", [Role.CX_LEAD], "demo-lead-2026", "nl"),
    ("agent@demo.cxm.test", "Andrei Popescu", [Role.AGENT], "demo-agent-2026", "en"),
    ("agent2@demo.cxm.test", "Sjoukje Hoekstra", [Role.AGENT], "demo-agent-2026", "fy"),
]
TEAMS = [
    (
        "Customer Care",
        "Email, chat and phone for orders and returns.",
        ["agent@demo.cxm.test", "agent2@demo.cxm.test"],
    ),
    ("Delivery", "Delivery partners and installation.", ["agent2@demo.cxm.test"]),
    ("Stores", "Showrooms in Amsterdam, Leeuwarden and Cluj.", ["lead@demo.cxm.test"]),
]
FIRST = {
    "nl": ["Daan", "Sanne", "Joris", "Emma", "Bram", "Fleur", "Thijs", "Noor", "Ruben", "Lieke"],
    "fy": ["Sjoerd", "Tsjitske", "Wytse", "Gerbrich", "Jelle", "Baukje", "Hidde", "Froukje"],
    "ro": [
        "Andrei",
        "Ioana",
        "Mihai",
        "Elena",
        "Radu",
        "Ana",
        "Vlad",
        "Maria",
        "Cristina",
        "Tudor",
    ],
    "en": ["Oliver", "Amelia", "Harry", "Isla", "Jack", "Ava", "George", "Mia", "Noah", "Grace"],
}
LAST = {
    "nl": ["de Jong", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder"],
    "fy": ["Hoekstra", "Dijkstra", "Postma", "Visser", "Wierda", "de Haan", "Kuipers"],
    "ro": ["Popescu", "Ionescu", "Dumitru", "Stan", "Gheorghe", "Rusu", "Munteanu", "Matei"],
    "en": ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas"],
}
# (prefix, lowest, highest): numbers in ranges libphonenumber accepts as mobile numbers.
PHONE = {
    "nl": ("+3162", 1_000_000, 9_999_999),
    "fy": ("+3162", 1_000_000, 9_999_999),
    "ro": ("+4072", 1_000_000, 9_999_999),
    "en": ("+4474", 10_000_000, 99_999_999),
}
TZ = {
    "nl": "Europe/Amsterdam",
    "fy": "Europe/Amsterdam",
    "ro": "Europe/Bucharest",
    "en": "Europe/London",
}
CITY = {
    "nl": ["Amsterdam", "Utrecht", "Rotterdam"],
    "fy": ["Leeuwarden", "Sneek", "Drachten"],
    "ro": ["Cluj-Napoca", "Bucharest", "Iași"],
    "en": ["London", "Leeds", "Bristol"],
}
PLANS = ["Basic", "Plus", "Premium"]


class Command(BaseCommand):
    help = "Load demo users, teams and a few hundred customers (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=300)

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(2026)
        with transaction.atomic():
            for email, name, roles, password, language in DEMO_USERS:
                if not User.objects.filter(email__iexact=email).exists():
                    account_services.user_create(
                        email=email,
                        name=name,
                        roles=[r.value for r in roles],
                        password=password,
                        language=language,
                    )
            for name, description, members in TEAMS:
                team = Team.objects.filter(name__iexact=name).first()
                account_services.team_save(
                    team=team,
                    name=name,
                    description=description,
                    members=list(User.objects.filter(email__in=members)),
                )
        today = dt.date.today()
        rows: list[Mapping[str, Any]] = []
        for i in range(options["customers"]):
            language = rng.choices(["nl", "fy", "ro", "en"], weights=[5, 2, 3, 2])[0]
            first, last = rng.choice(FIRST[language]), rng.choice(LAST[language])
            became = (
                today - dt.timedelta(days=rng.randint(10, 1400)) if rng.random() < 0.85 else None
            )
            churned = (
                became + dt.timedelta(days=rng.randint(5, max(6, (today - became).days)))
                if became and rng.random() < 0.12
                else None
            )
            prefix, low, high = PHONE[language]
            rows.append(
                {
                    "external_id": f"C{10000 + i}",
                    "name": f"{first} {last}",
                    "email": f"{first}.{last}.{i}@example.com".lower().replace(" ", ""),
                    "phone": f"{prefix}{rng.randint(low, high)}" if rng.random() < 0.8 else "",
                    "language": language,
                    "preferred_channel": rng.choice(["email", "email", "sms", "whatsapp", ""]),
                    "timezone": TZ[language],
                    "became_customer_on": became,
                    "churned_on": churned,
                    "value": f"{rng.randint(50, 9000)}.00" if became else "",
                    "attributes": {"city": rng.choice(CITY[language]), "plan": rng.choice(PLANS)},
                }
            )
        results = customers_upsert(rows)
        created = sum(r.status == "created" for r in results)
        rejected = [r for r in results if r.status == "rejected"]
        self.stdout.write(
            f"demo data: {len(DEMO_USERS)} users, {len(TEAMS)} teams, {created} new customers"
        )
        for r in rejected[:5]:
            self.stderr.write(f"demo customer {r.index} rejected: {r.errors}")
        self.stdout.write("Demo sign-ins:")
        for email, _name, roles, password, _language in DEMO_USERS:
            self.stdout.write(f"  {roles[0].label:<8} {email:<24} {password}")

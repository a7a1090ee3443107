"""Demo data of the lower layers (people, teams, customers, a journey with its events); the
``demo_data`` command of the highest app composes it with its own. Safe to run again."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from cxm.accounts import services as account_services
from cxm.accounts.models import Role, Team, User
from journeys import services
from journeys.models import Journey
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
JOURNEY: tuple[str, str, list[tuple[str, list[tuple[str, str, str, str | None]]]]] = (
    "Buying furniture",
    "From the first visit to the sofa in the living room.",
    [
        (
            "Discover",
            [
                ("Website visit", "site.visit", "web", None),
                ("Showroom visit", "store.visit", "store", "Stores"),
            ],
        ),
        (
            "Buy",
            [
                ("Order placed", "order.placed", "web", None),
                ("Payment received", "payment.received", "email", None),
            ],
        ),
        (
            "Delivery",
            [
                ("Delivery booked", "delivery.booked", "sms", "Delivery"),
                ("Order delivered", "order.delivered", "phone", "Delivery"),
            ],
        ),
        (
            "After-sales",
            [
                ("Support question", "support.question", "email", "Customer Care"),
                ("Return requested", "return.requested", "web", "Customer Care"),
            ],
        ),
    ],
)
SUMMARIES = {
    "site.visit": "Browsed sofas and armchairs",
    "store.visit": "Visited the showroom",
    "order.placed": "Order placed online",
    "payment.received": "Payment received",
    "delivery.booked": "Delivery slot booked",
    "order.delivered": "Delivered and assembled",
    "support.question": "Asked about fabric care",
    "return.requested": "Return of a cushion requested",
}


class JourneysDemo:
    """Loads the journeys-layer demo data; ``stdout``/``stderr`` are the calling command's."""

    def __init__(self, stdout: Any, stderr: Any):
        self.stdout = stdout
        self.stderr = stderr

    def handle(self, **options: Any) -> None:
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
        events = self._journey(
            rng, [r.customer.external_id for r in results if r.customer and r.customer.external_id]
        )
        rejected = [r for r in results if r.status == "rejected"]
        self.stdout.write(
            f"demo data: {len(DEMO_USERS)} users, {len(TEAMS)} teams, {created} new customers, "
            f"{events} new interactions"
        )
        for r in rejected[:5]:
            self.stderr.write(f"demo customer {r.index} rejected: {r.errors}")

    def _journey(self, rng: random.Random, external_ids: list[str]) -> int:
        """One mapped journey and two months of touchpoint events; event keys make reruns no-ops."""
        name, description, stages = JOURNEY
        journey = Journey.objects.filter(name=name).first() or services.journey_save(
            name=name, description=description
        )
        for stage_name, touchpoints in stages:
            stage = journey.stages.filter(name=stage_name).first() or services.stage_save(
                journey=journey, name=stage_name
            )
            for tp_name, key, channel, team in touchpoints:
                if not stage.touchpoints.filter(key=key).exists():
                    services.touchpoint_save(
                        stage=stage,
                        name=tp_name,
                        key=key,
                        channel=channel,
                        owner_team=Team.objects.filter(name=team).first(),
                    )
        now = dt.datetime.now(dt.UTC)
        keys = [key for _s, tps in stages for _n, key, _c, _t in tps]
        events = []
        for n, external_id in enumerate(external_ids):
            # Most customers go some way down the journey; fewer reach the later steps.
            depth = rng.choices(range(1, len(keys) + 1), weights=[8, 6, 9, 8, 6, 6, 3, 1])[0]
            when = now - dt.timedelta(days=rng.randint(1, 58), hours=rng.randint(0, 12))
            for step, key in enumerate(keys[:depth]):
                when = min(
                    now - dt.timedelta(minutes=5), when + dt.timedelta(hours=rng.randint(1, 30))
                )
                events.append(
                    {
                        "kind": key,
                        "touchpoint": key,
                        "customer": {"external_id": external_id},
                        "occurred_at": when.isoformat(),
                        "summary": SUMMARIES[key],
                        "idempotency_key": f"demo:{n}:{step}",
                    }
                )
        created = 0
        for start in range(0, len(events), 1000):
            results = services.interactions_ingest(events=events[start : start + 1000])
            created += sum(r.status == "created" for r in results)
        return created

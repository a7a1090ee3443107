"""Synthetic but realistic customers: Dutch-flavoured names, unique emails and phones.

Everything is seeded, so two runs search the same data. Surnames follow a long tail: a few very
common ones (``jansen``, ``de vries``) that match tens of thousands of customers, and tens of
thousands of made-up rare ones that match a handful each. One surname, ``Quaedvlieg``, is planted
on exactly ``RARE_COUNT`` customers spread over the whole id range, so the "rare surname" search
has a known answer.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

FIRST_NAMES = [
    "Jan",
    "Piet",
    "Kees",
    "Henk",
    "Willem",
    "Johan",
    "Gerrit",
    "Cornelis",
    "Hendrik",
    "Dirk",
    "Bram",
    "Daan",
    "Sem",
    "Lucas",
    "Finn",
    "Levi",
    "Luuk",
    "Milan",
    "Noah",
    "Jesse",
    "Thijs",
    "Ruben",
    "Stijn",
    "Tim",
    "Bas",
    "Joost",
    "Maarten",
    "Sander",
    "Wouter",
    "Jeroen",
    "Niels",
    "Maria",
    "Anna",
    "Johanna",
    "Cornelia",
    "Elisabeth",
    "Sophie",
    "Emma",
    "Julia",
    "Tess",
    "Sara",
    "Lisa",
    "Eva",
    "Anouk",
    "Fleur",
    "Lotte",
    "Sanne",
    "Iris",
    "Femke",
    "Noor",
    "Mila",
    "Yara",
    "Nora",
    "Esther",
    "Ingrid",
    "Marieke",
    "Annemarie",
    "Ilse",
    "Hanneke",
    "Mohammed",
    "Fatima",
    "Youssef",
    "Aisha",
    "Ahmed",
    "Emre",
    "Elif",
    "Priya",
    "Rahul",
    "Mei",
    "Wei",
    "Andrei",
    "Ioana",
    "Mihai",
    "Elena",
    "Tjitske",
    "Sjoerd",
    "Wytse",
    "Hylke",
    "Baukje",
    "Rients",
]
COMMON_SURNAMES = [  # (surname, weight) — roughly the Dutch frequency order
    ("de Jong", 86),
    ("Jansen", 74),
    ("de Vries", 72),
    ("van den Berg", 61),
    ("van Dijk", 58),
    ("Bakker", 58),
    ("Janssen", 57),
    ("Visser", 52),
    ("Smit", 49),
    ("Meijer", 46),
    ("de Boer", 45),
    ("Mulder", 43),
    ("de Groot", 43),
    ("Bos", 42),
    ("Vos", 39),
    ("Peters", 39),
    ("Hendriks", 38),
    ("van Leeuwen", 37),
    ("Dekker", 35),
    ("Brouwer", 34),
    ("de Wit", 34),
    ("Dijkstra", 33),
    ("Smits", 32),
    ("de Graaf", 31),
    ("van der Meer", 31),
    ("van der Linden", 30),
    ("Kok", 30),
    ("Jacobs", 30),
    ("de Haan", 29),
    ("Vermeulen", 29),
    ("van den Heuvel", 28),
    ("van der Veen", 28),
    ("van den Broek", 27),
    ("de Bruijn", 27),
    ("de Bruin", 26),
    ("van der Heijden", 26),
    ("Schouten", 26),
    ("van Beek", 25),
    ("Willems", 25),
    ("van Vliet", 24),
    ("van de Ven", 24),
    ("Hoekstra", 24),
    ("Maas", 24),
    ("Verhoeven", 23),
    ("Koster", 23),
    ("van Dam", 23),
    ("van der Wal", 22),
    ("Prins", 22),
    ("Blom", 22),
    ("Huisman", 22),
    ("Yilmaz", 12),
    ("Kaya", 8),
    ("Popescu", 6),
    ("Nguyen", 6),
]
SYLLABLES = [
    "ber",
    "gen",
    "hof",
    "man",
    "kamp",
    "stra",
    "ter",
    "wijk",
    "vel",
    "dorp",
    "horst",
    "broek",
    "lo",
    "zand",
    "hui",
    "sing",
    "ma",
    "rink",
    "dal",
    "veld",
    "steg",
    "ek",
    "hu",
    "ker",
    "mo",
    "len",
    "bri",
    "nk",
    "wa",
    "ter",
    "oo",
    "st",
    "er",
    "ge",
    "ra",
    "del",
    "ham",
    "ton",
    "vink",
    "kol",
    "bus",
    "tel",
]
RARE_SURNAME = "Quaedvlieg"
RARE_COUNT = 12
DOMAINS = [
    ("gmail.com", 30),
    ("hotmail.com", 15),
    ("outlook.com", 10),
    ("ziggo.nl", 8),
    ("kpnmail.nl", 7),
    ("live.nl", 6),
    ("icloud.com", 5),
    ("xs4all.nl", 4),
    ("planet.nl", 3),
    ("yahoo.com", 3),
    ("example.org", 2),
    ("bedrijf.nl", 2),
]
LANGUAGES = [
    ("nl", 60),
    ("en", 18),
    ("de", 8),
    ("fr", 4),
    ("fy", 3),
    ("ro", 3),
    ("tr", 2),
    ("ar", 2),
]
CHANNELS = [("email", 40), ("sms", 15), ("whatsapp", 20), ("phone", 10), ("web", 5), ("", 10)]
TIMEZONES = [("Europe/Amsterdam", 85), ("Europe/Brussels", 5), ("Europe/London", 4), ("", 6)]
CITIES = [
    "Amsterdam",
    "Rotterdam",
    "Utrecht",
    "Eindhoven",
    "Groningen",
    "Tilburg",
    "Almere",
    "Breda",
    "Nijmegen",
    "Apeldoorn",
    "Haarlem",
    "Arnhem",
    "Enschede",
    "Amersfoort",
    "Zaanstad",
    "Leeuwarden",
    "Zwolle",
    "Maastricht",
    "Leiden",
    "Delft",
]
CSV_HEADER = [
    "external_id",
    "name",
    "email",
    "phone",
    "language",
    "preferred_channel",
    "timezone",
    "became_customer_on",
    "value",
    "attributes.city",
]
# Bad cells a real export contains now and then: each makes its row fail on its own.
INVALID_CELLS = [
    ("email", "jan.jansen@"),
    ("phone", "12345"),
    ("language", "xx-yy"),
    ("became_customer_on", "31-02-2024"),
    ("value", "twelve"),
    ("timezone", "Amsterdam/Europe"),
]


class Names:
    """A seeded source of person-like values."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rare_pool = self._rare_surnames(60_000)
        self._common, self._common_w = zip(*COMMON_SURNAMES, strict=True)
        self._domains, self._domains_w = zip(*DOMAINS, strict=True)

    def _rare_surnames(self, n: int) -> list[str]:
        rng = random.Random(7)
        pool: set[str] = set()
        while len(pool) < n:
            name = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3, 3, 4))))
            if "quaed" not in name and "vlieg" not in name:
                pool.add(name.capitalize())
        return sorted(pool)

    def surname(self) -> str:
        # 45 % of people carry one of the common surnames, the rest one of the long tail.
        if self.rng.random() < 0.45:
            return self.rng.choices(self._common, self._common_w)[0]
        return self.rng.choice(self.rare_pool)

    def person(self, i: int, surname: str | None = None) -> tuple[str, str]:
        """(name, unique lower-case email) of person number ``i``."""
        first = self.rng.choice(FIRST_NAMES)
        last = surname or self.surname()
        local = f"{first}.{last}".lower().replace(" ", "")
        domain = self.rng.choices(self._domains, self._domains_w)[0]
        return f"{first} {last}", f"{local}.{i}@{domain}"


def pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights)[0]


def mobile(i: int, *, digits: int = 8, prefix: str = "+316", start: int = 10_000_000) -> str:
    """A unique Dutch mobile number for every ``i`` (a permutation, so neighbours differ)."""
    span = 4 * 10 ** (digits - 1)  # 1xxxxxxx–4xxxxxxx: 06-1… to 06-4…, all valid numbers
    return f"{prefix}{start + (i * 7_919_993) % span:0{digits}d}"


# ------------------------------------------------------------------------------------------------
# The CSV file of the import benchmark
# ------------------------------------------------------------------------------------------------
def write_import_csv(
    path: Path,
    rows: int,
    *,
    seed: int = 1,
    invalid_every: int = 100,
    variant: int = 0,
    tag: str = "",
    phone_prefix: str = "+3162",
) -> dict[str, int]:
    """Write a ``rows``-row customer export. One row in ``invalid_every`` has one bad cell.

    ``variant`` > 0 writes the same people (same external ids, emails and phones) with another
    value and city, so importing it over variant 0 updates every row. ``tag`` and
    ``phone_prefix`` make people who collide with nobody in the COPY-loaded million (whose phones
    are +3161… to +3164…).
    """
    names = Names(seed)
    rng = random.Random(seed + 1)
    change = random.Random(1000 + variant)
    invalid = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        for i in range(rows):
            name, email = names.person(i)
            if tag:
                email = email.replace("@", f".{tag}@")
            number = mobile(i, digits=7, prefix=phone_prefix, start=0)
            if i % 3 == 1:  # the formats people type: +31 6 2123 4567, 06-21234567, +31621234567
                number = f"+31 6 {number[4:8]} {number[8:]}"
            elif i % 3 == 2:
                number = f"06-{number[4:]}"
            since = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3650))
            row = {
                "external_id": f"CRM{tag}-{i:07d}",
                "name": name,
                "email": email if i % 10 else email.upper().replace(".COM", ".com"),
                "phone": number,
                "language": pick(rng, LANGUAGES),
                "preferred_channel": pick(rng, CHANNELS),
                "timezone": pick(rng, TIMEZONES),
                "became_customer_on": since.isoformat() if rng.random() < 0.7 else "",
                "value": f"{rng.uniform(0, 5000):.2f}" if rng.random() < 0.8 else "",
                "attributes.city": rng.choice(CITIES),
            }
            if variant:
                row["value"] = f"{change.uniform(0, 5000):.2f}"
                row["attributes.city"] = change.choice(CITIES) + f" {variant}"
            if invalid_every and i % invalid_every == invalid_every // 2:
                column, bad = INVALID_CELLS[(i // invalid_every) % len(INVALID_CELLS)]
                row[column] = bad
                invalid += 1
            writer.writerow([row[c] for c in CSV_HEADER])
    return {"rows": rows, "invalid": invalid, "bytes": path.stat().st_size}


# ------------------------------------------------------------------------------------------------
# 1,000,000 customers straight into PostgreSQL with COPY
# ------------------------------------------------------------------------------------------------
COPY_COLUMNS = (
    "external_id",
    "name",
    "email",
    "phone",
    "language",
    "preferred_channel",
    "timezone",
    "attributes",
    "became_customer_on",
    "churned_on",
    "value",
    "created_at",
    "updated_at",
)


def copy_rows(count: int, *, seed: int = 2) -> Iterator[str]:
    """Tab-separated COPY lines for customers 0..count-1 (no value contains a tab or backslash)."""
    names = Names(seed)
    rng = random.Random(seed + 1)
    now = dt.datetime.now(dt.UTC).isoformat()
    rare_at = {int(count * (k + 0.5) / RARE_COUNT) for k in range(RARE_COUNT)}
    base = dt.date(2014, 1, 1)
    for i in range(count):
        name, email = names.person(i, RARE_SURNAME if i in rare_at else None)
        became = churned = r"\N"
        roll = rng.random()
        if roll < 0.65:  # active customer
            became = (base + dt.timedelta(days=rng.randrange(3900))).isoformat()
        elif roll < 0.75:  # churned
            start = base + dt.timedelta(days=rng.randrange(3000))
            became = start.isoformat()
            churned = (start + dt.timedelta(days=rng.randrange(30, 800))).isoformat()
        value = f"{rng.uniform(0, 5000):.2f}" if rng.random() < 0.8 else r"\N"
        yield (
            "\t".join(
                (
                    f"CX{i:08d}",
                    name,
                    email,
                    mobile(i),
                    pick(rng, LANGUAGES),
                    pick(rng, CHANNELS),
                    pick(rng, TIMEZONES),
                    "{}",
                    became,
                    churned,
                    value,
                    now,
                    now,
                )
            )
            + "\n"
        )


def copy_customers(count: int, *, chunk_rows: int = 20_000) -> None:
    """COPY ``count`` customers into journeys_customer (``search`` is generated by PostgreSQL)."""
    from django.db import connection

    with connection.cursor() as cursor:
        sql = f"COPY journeys_customer ({', '.join(COPY_COLUMNS)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            buffer: list[str] = []
            for line in copy_rows(count):
                buffer.append(line)
                if len(buffer) >= chunk_rows:
                    copy.write("".join(buffer).encode())
                    buffer.clear()
            if buffer:
                copy.write("".join(buffer).encode())


def truncate_customers() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE journeys_customer RESTART IDENTITY CASCADE")


def customer_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM journeys_customer WHERE external_id LIKE 'CX%%'")
        return int(cursor.fetchone()[0])


def ensure_customers(minimum: int) -> int:
    """At least ``minimum`` COPY-loaded customers (``CX00000000``…); returns how many there are.

    The list benchmark loads a million; a run of the journeys benchmarks alone loads what they
    need (the table is emptied first, as the list benchmark does).
    """
    from django.db import connection

    have = customer_count()
    if have >= minimum:
        return have
    truncate_customers()
    copy_customers(minimum)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) journeys_customer")
    return minimum


# ------------------------------------------------------------------------------------------------
# Journeys: touchpoints that events name by key
# ------------------------------------------------------------------------------------------------
TOUCHPOINTS = [  # (key, name, channel)
    ("web.visit", "Visited the shop", "web"),
    ("web.search", "Searched the shop", "web"),
    ("app.opened", "Opened the app", "app"),
    ("cart.abandoned", "Left a cart", "web"),
    ("order.placed", "Placed an order", "web"),
    ("order.paid", "Paid an order", "web"),
    ("order.shipped", "Order shipped", "email"),
    ("order.delivered", "Order delivered", "email"),
    ("order.returned", "Returned an order", "store"),
    ("support.call", "Called support", "phone"),
    ("support.chat", "Chatted with support", "whatsapp"),
    ("review.left", "Left a review", "web"),
]


def bench_touchpoints() -> dict[str, int]:
    """The benchmark's journey, stage and touchpoints (created once); key → id."""
    from journeys import services
    from journeys.models import Journey, Touchpoint

    journey = Journey.objects.filter(name="Benchmark journey").first() or services.journey_save(
        name="Benchmark journey"
    )
    stage = journey.stages.first() or services.stage_save(journey=journey, name="All of it")
    have = dict(Touchpoint.objects.values_list("key", "id"))
    for key, name, channel in TOUCHPOINTS:
        if key not in have:
            have[key] = services.touchpoint_save(
                stage=stage, name=name, key=key, channel=channel
            ).pk
    return {key: have[key] for key, _n, _c in TOUCHPOINTS}


# ------------------------------------------------------------------------------------------------
# The interaction log: millions of rows with COPY
# ------------------------------------------------------------------------------------------------
INTERACTION_COLUMNS = (
    "customer_id",
    "touchpoint_id",
    "channel",
    "kind",
    "occurred_at",
    "summary",
    "source_type",
    "source_id",
    "source_url",
    "data",
    "idempotency_key",
    "created_at",
)
# (touchpoint key or None, channel, kind, summary template, data template, weight)
INTERACTION_KINDS = [
    ("web.visit", "web", "page.viewed", "Viewed /products/{n}", '{{"path": "/products/{n}"}}', 30),
    ("web.search", "web", "search.performed", "Searched the shop", "{{}}", 8),
    ("app.opened", "app", "app.opened", "Opened the app", "{{}}", 12),
    ("cart.abandoned", "web", "cart.abandoned", "Left a cart of {n} EUR", '{{"total": {n}}}', 4),
    ("order.placed", "web", "order.placed", "Order A{n} placed", '{{"order": "A{n}"}}', 6),
    ("order.paid", "web", "order.paid", "Order A{n} paid", '{{"order": "A{n}"}}', 6),
    ("order.shipped", "email", "order.shipped", "Order A{n} shipped", '{{"order": "A{n}"}}', 5),
    (
        "order.delivered",
        "email",
        "order.delivered",
        "Order A{n} delivered",
        '{{"order": "A{n}"}}',
        5,
    ),
    ("order.returned", "store", "order.returned", "Order A{n} returned", '{{"order": "A{n}"}}', 1),
    ("support.call", "phone", "call.completed", "Call about order A{n}", "{{}}", 2),
    ("support.chat", "whatsapp", "message.received", "Asked about delivery", "{{}}", 3),
    ("review.left", "web", "review.left", "Left a review", '{{"stars": 4}}', 1),
    (None, "email", "email.opened", "Opened the newsletter", "{{}}", 12),
    (None, "sms", "sms.delivered", "Delivery text", "{{}}", 5),
]


def interaction_lines(
    *,
    total: int,
    customer_ids: list[int],
    big_customer: int,
    big_count: int,
    touchpoints: dict[str, int],
    end: dt.datetime,
    years: float = 3.0,
    seed: int = 11,
    chunk: int = 20_000,
) -> Iterator[str]:
    """Tab-separated COPY text, ``chunk`` rows at a time, in time order like a real append-only log.

    Row ``r`` happened at ``end - years + r × step``: the log grows with time and one customer's
    rows are scattered over the whole table, as they are when events of all customers arrive
    interleaved. Every ``total // big_count``-th row belongs to ``big_customer``; the others to
    customers drawn at random from ``customer_ids`` (so ~``total / len(customer_ids)`` each).
    """
    rng = random.Random(seed)
    span = int(years * 365 * 86400)
    start = int(end.timestamp()) - span
    step = span / total
    every = max(1, total // big_count)
    day0 = start - start % 86400
    days = [
        (dt.datetime.fromtimestamp(day0 + d * 86400, dt.UTC)).strftime("%Y-%m-%d ")
        for d in range(span // 86400 + 2)
    ]
    hms = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86400)]
    kinds, weights = [], []
    for key, channel, kind, summary, data, weight in INTERACTION_KINDS:
        tp = str(touchpoints[key]) if key else r"\N"
        kinds.append((f"{tp}\t{channel}\t{kind}\t", summary, data))
        weights.append(weight)
    for first in range(0, total, chunk):
        n = min(chunk, total - first)
        customers = rng.choices(customer_ids, k=n)
        picked = rng.choices(kinds, weights, k=n)
        numbers = [rng.randrange(1, 99_999) for _ in range(n)]
        lines = []
        for j in range(n):
            r = first + j
            customer = big_customer if r % every == 0 and r // every < big_count else customers[j]
            t = start + int(r * step)
            stamp = days[(t - day0) // 86400] + hms[t % 86400]
            head, summary, data = picked[j]
            number = numbers[j]
            lines.append(
                f"{customer}\t{head}{stamp}\t{summary.format(n=number)}\t\t\t\t"
                f"{data.format(n=number)}\t\\N\t{stamp}\n"
            )
        yield "".join(lines)

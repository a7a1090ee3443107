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

"""Metrics dashboards (issue 7): the dashboards' selectors over ten million answers.

The data: ``--metrics-responses`` (5,000,000) completed responses with two answers each (the
scored main question and a comment, or a visit reason and "did you get what you came for")
over two years, growing over time and quieter at weekends; 20 surveys (8 NPS, 6 CSAT, 4 CES of
which 2 worded with the low end good, 2 visit intent) on 40 touchpoints of three journeys; five
response channels and four languages; ``--metrics-conversations`` (1,000,000) conversations on
five channels handled by 100 agents in 10 teams; the support surveys invite after a resolved
conversation (their responses carry its team and agent); personal invitations with a delivery
each (some failed or bounced) for the response rate; ``--metrics-customers`` (500,000) customers
with ``plan`` and ``city`` attributes and became/churned dates. Everything comes from one seed
and is loaded with COPY (psycopg 3 ``cursor.copy``; non-unique indexes dropped and built again,
foreign-key triggers skipped with ``session_replication_role = replica``), then ``VACUUM
ANALYZE``. A marker table (``bench_metrics_loaded``) records what was loaded, so a second run
against the same database (outside the throwaway harness) skips the load.

Then: ``metrics.services.rollups_rebuild()`` timed (the daily rollups and their cubes, the same
rows summed again over fewer dimensions per day and per calendar month); the rows and size of
each daily rollup and of each cube by cube and span, against the raw rows; for each filter
combination (built by ``filters_parse``) the median and p95 of ``overview``, each ``breakdown``
and ``trend``; beside each the *floor* (bare SQL on a cursor summing the very rows the app reads:
each statement's FROM and WHERE come from ``metrics.reads.source`` called as the selector
calls it: the cube or daily rollup, its days and the filters' conditions; no Python at run time)
and the *raw* computation (NPS, CSAT, CES, first response and handling time straight from
``surveys_response`` / ``inbox_conversation``); which table or cube each call reads and how many
rows; ``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest statement; and freshness:
``rollups_refresh_recent()`` at this size, and a response submitted through the services seen
by ``overview`` after the refresh its signal asks for. The indexes on the agent
(``metrics_*_agent``, migration 0006) and the cubes (migration 0007) are the app's own: the
figures include them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection

from benchmarks.common import Section, Timing, log, ms, repeat, verdict

TARGET_MS = 150.0  # every selector call, median
FLOOR_RATIO = 1.5  # the app within 1.5× of the bare SQL on the same rollup rows
RAW_RATIO = 10.0  # the app at least 10× faster than computing from the raw rows
FRESH_S = 60.0  # a new response visible in overview within a minute
GRAIN_RATIO = 10.0  # raw rows per rollup row that we call "much smaller"
SEED = 7007
DAYS = 730
VERSION = "metrics-bench-1"  # bump when the generated data changes: the marker then mismatches
MARKER = "bench_metrics_loaded"

LANGUAGES = (("nl", 70), ("en", 20), ("ro", 6), ("fy", 4))
PLANS = (("basic", 50), ("silver", 25), ("gold", 15), ("platinum", 10))
CITIES = (
    "Amsterdam", "Rotterdam", "Utrecht", "Eindhoven", "Groningen", "Tilburg", "Almere", "Breda",
    "Nijmegen", "Apeldoorn", "Haarlem", "Arnhem", "Enschede", "Amersfoort", "Zaanstad",
    "Leeuwarden", "Zwolle", "Maastricht", "Leiden", "Delft",
)  # fmt: skip
# Conversations: channel → (weight, median seconds to the first reply, median handling seconds)
CONVERSATION_CHANNELS = {
    "email": (40, 3 * 3600, 20 * 3600),
    "whatsapp": (25, 600, 3 * 3600),
    "webchat": (20, 60, 1800),
    "phone": (10, 30, 900),
    "sms": (5, 1800, 6 * 3600),
}
# The survey channel a support invitation goes out on, per conversation channel.
SUPPORT_CHANNEL = {
    "email": "email",
    "whatsapp": "whatsapp",
    "webchat": "email",
    "phone": "sms",
    "sms": "sms",
}
INVITED_CHANNELS = (("email", 60), ("sms", 15), ("whatsapp", 25))
OPEN_CHANNELS = (("link", 45), ("web", 35), ("email", 10), ("whatsapp", 10))
TEAMS = 10
AGENTS_PER_TEAM = 10

JOURNEYS = {  # journey → stage → touchpoint keys (40 in all)
    "Online shop": {
        "Discover": ["shop.home", "shop.search", "shop.product", "shop.newsletter"],
        "Buy": ["shop.cart", "shop.checkout", "shop.payment", "shop.confirmation"],
        "Receive": ["shop.shipped", "shop.delivered", "shop.pickup", "shop.unboxing"],
        "After": ["shop.return", "shop.refund", "shop.review", "shop.account"],
    },
    "Customer service": {
        "Contact": ["care.email", "care.chat", "care.whatsapp", "care.phone", "care.faq"],
        "Resolve": ["care.resolved", "care.callback", "care.escalation"],
        "Follow-up": ["care.survey", "care.complaint"],
    },
    "Store visit": {
        "Arrive": ["store.parking", "store.entrance", "store.welcome"],
        "Shop": ["store.browse", "store.advice", "store.fitting", "store.stock"],
        "Pay": ["store.checkout", "store.selfscan", "store.loyalty"],
        "After": ["store.receipt", "store.exchange", "store.repair", "store.events"],
    },
}
TOUCHPOINT_CHANNEL = {"shop": "web", "care": "email", "store": "store"}


@dataclass(frozen=True)
class SurveySpec:
    name: str
    kind: str
    weight: float  # share of the non-support responses; support surveys: by conversation
    touchpoints: tuple[str, ...]
    support: str = ""  # the conversation channels it follows ("*" = any)
    good_end: str = "high"


SURVEYS = (
    SurveySpec("Relationship NPS", "nps", 14, ("shop.account",)),
    SurveySpec("Post-purchase NPS", "nps", 10, ("shop.confirmation",)),
    SurveySpec("Delivery NPS", "nps", 8, ("shop.delivered", "shop.pickup")),
    SurveySpec("Store NPS", "nps", 8, ("store.receipt",)),
    SurveySpec("App NPS", "nps", 5, ("shop.home",)),
    SurveySpec("Returns NPS", "nps", 3, ("shop.refund",)),
    SurveySpec("Onboarding NPS", "nps", 3, ("shop.newsletter",)),
    SurveySpec("Loyalty NPS", "nps", 2, ("store.loyalty",)),
    SurveySpec("Checkout CSAT", "csat", 8, ("shop.checkout", "shop.payment")),
    SurveySpec("Delivery CSAT", "csat", 6, ("shop.delivered",)),
    SurveySpec("Store checkout CSAT", "csat", 5, ("store.checkout", "store.selfscan")),
    SurveySpec("Support CSAT (email)", "csat", 0, ("care.resolved",), support="email sms"),
    SurveySpec("Support CSAT (chat)", "csat", 0, ("care.chat",), support="webchat whatsapp"),
    SurveySpec("Phone support CSAT", "csat", 0, ("care.phone",), support="phone"),
    SurveySpec("Returns effort", "ces", 3, ("shop.return",)),
    SurveySpec("Account effort", "ces", 2, ("shop.account",), good_end="low"),
    SurveySpec("Checkout effort", "ces", 4, ("shop.checkout",)),
    SurveySpec("Support effort", "ces", 0, ("care.resolved",), support="*", good_end="low"),
    SurveySpec("Web visit intent", "visit_intent", 5, ("shop.home", "shop.search", "shop.product")),
    SurveySpec("Store visit intent", "visit_intent", 3, ("store.entrance", "store.browse")),
)
SCORE_WEIGHTS = {
    "nps": [3, 1, 1, 2, 2, 4, 5, 10, 18, 22, 32],  # 0–10
    "csat": [6, 6, 12, 36, 40],  # 1–5
    "ces": [3, 4, 6, 10, 20, 30, 27],  # 1–7, easy end high
}
REASONS = (("buy", 45), ("information", 20), ("support", 12), ("browse", 18), ("other", 5))
COMMENTS = (
    "Quick delivery, well packed", "The courier was friendly", "Took too long to arrive",
    "Great prices", "Could not find the size I wanted", "Helpful staff in the store",
    "The app crashed at checkout", "Easy to return", "Support answered within minutes",
    "I had to call twice", "Nothing to add", "Keep it up!", "The website is slow in the evening",
    "Love the new collection", "Payment failed the first time", "Clear communication",
    "Parcel was damaged", "Too many emails", "The agent solved it right away",
    "Prijs/kwaliteit prima",
)  # fmt: skip
INVITED_SHARE = 0.21  # of all responses: answers to a personal (non-support) invitation
RESPONSE_RATE = 0.38  # of the delivered non-support invitations
SUPPORT_INVITED = 0.75  # of the resolved conversations
SUPPORT_RATE = 0.35  # of those invitations


def _scalar(sql: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        row = cursor.fetchone()
        return row[0] if row else None


def _weighted(pairs: tuple[tuple[Any, float], ...] | list[tuple[Any, float]]) -> tuple[list, list]:
    values = [v for v, _w in pairs]
    cumulative, total = [], 0.0
    for _v, weight in pairs:
        total += weight
        cumulative.append(total)
    return values, cumulative


def _allocate(total: int, weights: list[float]) -> list[int]:
    """``total`` split over the days in proportion to ``weights``, summing exactly."""
    whole = sum(weights)
    out, given, running = [], 0, 0.0
    for weight in weights:
        running += weight
        upto = round(total * running / whole)
        out.append(upto - given)
        given = upto
    return out


# ------------------------------------------------------------------------------------------------
# The world: users, teams, journeys, surveys (through the services, once)
# ------------------------------------------------------------------------------------------------
@dataclass
class SurveyInfo:
    spec: SurveySpec
    id: int
    touchpoints: list[int]
    main: int  # the scored question (visit intent: the reason question)
    second: dict[Any, int]  # score → follow-up question id (visit intent: "fulfilled")
    bands: dict[int, str] = field(default_factory=dict)


@dataclass
class World:
    surveys: list[SurveyInfo]
    touchpoints: dict[str, int]
    journeys: dict[str, int]
    teams: list[int]
    agents: dict[int, list[int]]
    accounts: dict[str, int]
    lead_id: int

    def survey(self, name: str) -> SurveyInfo:
        return next(s for s in self.surveys if s.spec.name == name)


def setup_world() -> World:
    from django.db import transaction

    from cxm.accounts.models import Team, User
    from cxm.accounts.services import user_create
    from inbox.models import ChannelAccount
    from journeys import services as journey_services
    from journeys.models import Journey, Touchpoint
    from surveys.models import Question, Survey
    from surveys.scoring import band_for
    from surveys.services import survey_create, survey_status_change

    lead_email = "bench-metrics-lead@example.org"
    lead = User.objects.filter(email=lead_email).first() or user_create(
        email=lead_email, name="Bench Metrics Lead", roles=["cx_lead"]
    )
    teams: list[int] = []
    agents: dict[int, list[int]] = {}
    for t in range(TEAMS):
        team = Team.objects.filter(name=f"Metrics care {t + 1:02d}").first()
        if team is None:
            team = Team.objects.create(name=f"Metrics care {t + 1:02d}")
        members = []
        for a in range(AGENTS_PER_TEAM):
            email = f"bench-metrics-agent-{t:02d}-{a:02d}@example.org"
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create(email=email, name=f"Agent {t + 1}.{a + 1}", password="!")
            members.append(user)
        team.members.add(*members)
        teams.append(team.pk)
        agents[team.pk] = [u.pk for u in members]
    accounts = {}
    for channel in CONVERSATION_CHANNELS:
        address = f"metrics-{channel}@bench.example" if channel == "email" else f"metrics-{channel}"
        account = ChannelAccount.objects.filter(kind=channel, address=address).first()
        if account is None:
            account = ChannelAccount.objects.create(
                kind=channel, name=f"Metrics {channel}", address=address, provider="dev"
            )
        accounts[channel] = account.pk
    touchpoints: dict[str, int] = dict(Touchpoint.objects.values_list("key", "id"))
    journeys: dict[str, int] = {}
    for journey_name, stages in JOURNEYS.items():
        journey = Journey.objects.filter(name=journey_name).first()
        if journey is None:
            journey = journey_services.journey_save(name=journey_name)
        journeys[journey_name] = journey.pk
        for stage_name, keys in stages.items():
            stage = journey.stages.filter(name=stage_name).first() or journey_services.stage_save(
                journey=journey, name=stage_name
            )
            for key in keys:
                if key not in touchpoints:
                    touchpoints[key] = journey_services.touchpoint_save(
                        stage=stage,
                        name=key.split(".")[1].capitalize(),
                        key=key,
                        channel=TOUCHPOINT_CHANNEL[key.split(".")[0]],
                    ).pk
    surveys = []
    for spec in SURVEYS:
        survey = Survey.objects.filter(name=f"Bench {spec.name}").first()
        if survey is None:
            survey = survey_create(
                name=f"Bench {spec.name}",
                kind=spec.kind,
                default_language="nl",
                languages=["en", "ro", "fy"],
                by=lead,
            )
            if spec.good_end == "low":
                Question.objects.filter(survey=survey, type="ces").update(good_end="low")
            Survey.objects.filter(pk=survey.pk).update(
                touchpoint_id=touchpoints[spec.touchpoints[0]]
            )
            with transaction.atomic():
                survey = survey_status_change(survey=survey, status="active", by=lead)
        questions = {q.key: q for q in survey.questions.all()}
        if spec.kind == "visit_intent":
            main, second = questions["reason"], {"*": questions["fulfilled"].pk}
        else:
            main = next(q for q in questions.values() if q.is_scored)
            texts = [q for q in questions.values() if q.is_text]
            second = {}
            for score in range(main.scale_min or 0, (main.scale_max or 10) + 1):
                shown = [
                    q
                    for q in texts
                    if not q.condition
                    or (q.condition.get("min", -99) <= score <= q.condition.get("max", 99))
                ]
                second[score] = (shown or texts)[0].pk
        info = SurveyInfo(
            spec=spec,
            id=survey.pk,
            touchpoints=[touchpoints[k] for k in spec.touchpoints],
            main=main.pk,
            second=second,
        )
        if main.is_scored:
            info.bands = {
                v: band_for(main, v) for v in range(main.scale_min or 0, (main.scale_max or 10) + 1)
            }
        surveys.append(info)
    return World(surveys, touchpoints, journeys, teams, agents, accounts, lead.pk)


# ------------------------------------------------------------------------------------------------
# The COPY lines
# ------------------------------------------------------------------------------------------------
CUSTOMER_COLUMNS = (
    "id", "name", "email", "phone", "language", "preferred_channel", "timezone", "attributes",
    "became_customer_on", "churned_on", "created_at", "updated_at",
)  # fmt: skip
CONVERSATION_COLUMNS = (
    "id", "channel", "subject", "status", "priority", "reply_token", "first_customer_message_at",
    "first_response_at", "last_message_at", "last_customer_message_at", "resolved_at",
    "created_at", "assignee_id", "channel_account_id", "customer_id", "team_id",
)  # fmt: skip
DELIVERY_COLUMNS = (
    "id", "channel", "provider", "to_address", "status", "provider_message_id", "attempts",
    "error", "created_at", "updated_at", "from_address", "headers", "html", "subject", "text",
)  # fmt: skip
INVITATION_COLUMNS = (
    "id", "token", "channel", "language", "status", "created_at", "opened_at", "responded_at",
    "customer_id", "touchpoint_id", "survey_id", "address", "delivery_id", "merge", "skip_reason",
    "conversation_id",
)  # fmt: skip
RESPONSE_COLUMNS = (
    "id", "token", "survey_version", "language", "channel", "score", "band", "started_at",
    "updated_at", "completed_at", "customer_id", "invitation_id", "touchpoint_id", "survey_id",
    "agent_id", "team_id",
)  # fmt: skip
ANSWER_COLUMNS = (
    "response_id", "question_id", "number", "choices", "text", "created_at", "updated_at",
)  # fmt: skip
TABLES = (  # (table, columns, spool file); the load order
    ("journeys_customer", CUSTOMER_COLUMNS, "customers"),
    ("inbox_conversation", CONVERSATION_COLUMNS, "conversations"),
    ("inbox_delivery", DELIVERY_COLUMNS, "deliveries"),
    ("surveys_invitation", INVITATION_COLUMNS, "invitations"),
    ("surveys_response", RESPONSE_COLUMNS, "responses"),
    ("surveys_answer", ANSWER_COLUMNS, "answers"),
)
NULL = "\\N"


class Clock:
    """Epoch seconds → COPY timestamps, from precomputed day and time-of-day strings."""

    def __init__(self, first_day: dt.date, days: int) -> None:
        self.day0 = int(dt.datetime.combine(first_day, dt.time.min, tzinfo=dt.UTC).timestamp())
        # from the day before the first (a response starts a few minutes before it completes)
        self.base = self.day0 - 86400
        self.days = [
            (first_day + dt.timedelta(days=d - 1)).isoformat() + " " for d in range(days + 10)
        ]
        self.hms = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86400)]

    def __call__(self, t: int) -> str:
        offset = t - self.base
        return self.days[offset // 86400] + self.hms[offset % 86400]

    def day(self, t: int) -> int:
        return (t - self.day0) // 86400


@dataclass
class Plan:
    """What to generate: sizes and the time span."""

    responses: int
    conversations: int
    customers: int
    end: int  # epoch seconds, the load's "now"
    first_day: dt.date

    @property
    def fingerprint(self) -> str:
        return (
            f"{VERSION} seed={SEED} responses={self.responses} conversations="
            f"{self.conversations} customers={self.customers} days={DAYS}"
        )


def day_weights(first_day: dt.date) -> list[float]:
    """Growth over the two years (0.7 → 1.3) and quieter weekends."""
    weights = []
    for d in range(DAYS + 1):
        day = first_day + dt.timedelta(days=d)
        weekend = 0.75 if day.weekday() >= 5 else 1.0
        weights.append((0.7 + 0.6 * d / DAYS) * weekend)
    return weights


def customer_lines(count: int, plan: Plan, rng: random.Random) -> Iterator[tuple[str, str]]:
    """(COPY line, language) per customer; ids are 1..count (the table is emptied first)."""
    languages, lang_cum = _weighted(LANGUAGES)
    plans, plan_cum = _weighted(PLANS)
    cities, city_cum = _weighted([(c, 1 / (r + 1) ** 0.8) for r, c in enumerate(CITIES)])
    start = dt.date(2012, 1, 1)
    today = dt.datetime.fromtimestamp(plan.end, dt.UTC).date()
    span = (today - start).days
    stamp = dt.datetime.fromtimestamp(plan.end - (DAYS + 30) * 86400, dt.UTC).isoformat()
    for i in range(1, count + 1):
        language = languages[bisect.bisect(lang_cum, rng.random() * lang_cum[-1])]
        attributes = {"plan": plans[bisect.bisect(plan_cum, rng.random() * plan_cum[-1])]}
        if rng.random() < 0.92:
            attributes["city"] = cities[bisect.bisect(city_cum, rng.random() * city_cum[-1])]
        became = churned = NULL
        if rng.random() < 0.9:
            # more customers joined recently: the square root leans the draw towards today
            joined = start + dt.timedelta(days=int(span * math.sqrt(rng.random())))
            became = joined.isoformat()
            if rng.random() < 0.25:
                left = joined + dt.timedelta(days=rng.randrange(60, 1500))
                if left <= today:
                    churned = left.isoformat()
        yield (
            f"{i}\tCustomer {i}\tc{i}@metrics.example\t\t{language}\temail\t\t"
            f"{json.dumps(attributes)}\t{became}\t{churned}\t{stamp}\t{stamp}\n",
            language,
        )


class Generator:
    """Every row of the dataset, day by day, written as COPY text to spool files (answers, the
    largest, straight into an open COPY)."""

    def __init__(self, world: World, plan: Plan) -> None:
        self.world = world
        self.plan = plan
        self.rng = random.Random(SEED)
        self.clock = Clock(plan.first_day, DAYS)
        self.weights = day_weights(plan.first_day)
        self.customer_language: list[str] = [""]
        self.counts: dict[str, int] = defaultdict(int)
        self.next_id: dict[str, int] = defaultdict(lambda: 1)
        self.files: dict[str, list[str]] = {}
        self.sinks: dict[str, Callable[[str], None]] = {}
        # support invitations per day they are sent: (t, conversation, channel, customer, team,
        # agent, conversation channel)
        self.support: dict[int, list[tuple]] = defaultdict(list)
        # invited responses per day they are completed: (t, invitation id, survey, customer,
        # channel, language, touchpoint, team, agent)
        self.pending: dict[int, list[tuple]] = defaultdict(list)

    def _id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    def _write(self, name: str, line: str) -> None:
        self.files[name].append(line)
        self.counts[name] += 1
        if len(self.files[name]) >= 20_000:
            self._flush(name)

    def _flush(self, name: str) -> None:
        lines = self.files[name]
        if lines:
            self.sinks[name]("".join(lines))
            lines.clear()

    # -- customers ---------------------------------------------------------------------------
    def customers(self, sink: Callable[[str], None]) -> None:
        rng = random.Random(SEED + 1)
        buffer: list[str] = []
        for line, language in customer_lines(self.plan.customers, self.plan, rng):
            buffer.append(line)
            self.customer_language.append(language)
            if len(buffer) >= 20_000:
                sink("".join(buffer))
                buffer.clear()
        if buffer:
            sink("".join(buffer))
        self.counts["customers"] = self.plan.customers

    # -- conversations -----------------------------------------------------------------------
    def conversations(self) -> None:
        rng, clock = self.rng, self.clock
        channels, channel_cum = _weighted([(c, w[0]) for c, w in CONVERSATION_CHANNELS.items()])
        team_weights = [(t, 1.6 - 0.12 * i) for i, t in enumerate(self.world.teams)]
        teams, team_cum = _weighted(team_weights)
        per_day = _allocate(self.plan.conversations, self.weights)
        end = self.plan.end
        customers = self.plan.customers
        for d, n in enumerate(per_day):
            day_start = clock.day0 + d * 86400
            length = min(86400, end - day_start)
            if length <= 0:
                continue
            times = sorted(day_start + rng.randrange(length) for _ in range(n))
            for t in times:
                cid = self._id("conversations")
                channel = channels[bisect.bisect(channel_cum, rng.random() * channel_cum[-1])]
                _w, frt_median, handling_median = CONVERSATION_CHANNELS[channel]
                if rng.random() < 0.97:
                    team = teams[bisect.bisect(team_cum, rng.random() * team_cum[-1])]
                    agent = rng.choice(self.world.agents[team]) if rng.random() < 0.96 else 0
                else:
                    team = agent = 0
                customer = rng.randrange(1, customers + 1)
                asked = t if rng.random() < 0.9 else None  # else the agent wrote first
                replied = (
                    t + max(5, int(frt_median * math.exp(rng.gauss(0, 1.2))))
                    if rng.random() < 0.95
                    else None
                )
                resolved = t + max(60, int(handling_median * math.exp(rng.gauss(0, 1.1))))
                if rng.random() < 0.06 or resolved > end:
                    resolved = None
                if replied is not None and replied > end:
                    replied = None
                last = max(x for x in (t, replied, resolved) if x is not None)
                status = "resolved" if resolved else rng.choice(("open", "pending", "open"))
                self._write(
                    "conversations",
                    f"{cid}\t{channel}\tQuestion {cid}\t{status}\t2\tm{cid:x}\t"
                    f"{clock(asked) if asked else NULL}\t{clock(replied) if replied else NULL}\t"
                    f"{clock(last)}\t{clock(asked) if asked else NULL}\t"
                    f"{clock(resolved) if resolved else NULL}\t{clock(t)}\t"
                    f"{agent or NULL}\t{self.world.accounts[channel]}\t{customer}\t"
                    f"{team or NULL}\n",
                )
                if resolved and rng.random() < SUPPORT_INVITED:
                    sent = resolved + 3600
                    if sent < end:
                        self.support[clock.day(sent)].append(
                            (sent, cid, SUPPORT_CHANNEL[channel], customer, team, agent, channel)
                        )

    # -- invitations, deliveries, responses, answers -----------------------------------------
    def _invitation(
        self,
        t: int,
        survey: SurveyInfo,
        customer: int,
        channel: str,
        touchpoint: int,
        *,
        answer_p: float,
        conversation: int = 0,
        team: int = 0,
        agent: int = 0,
    ) -> None:
        rng, clock = self.rng, self.clock
        iid, did = self._id("invitations"), self._id("deliveries")
        language = self.customer_language[customer]
        roll = rng.random()
        delivery = (
            "delivered"
            if roll < 0.70
            else "opened"
            if roll < 0.80
            else "sent"
            if roll < 0.90
            else "failed"
            if roll < 0.96
            else "bounced"
        )
        reached = delivery in ("delivered", "opened", "sent")
        answered_at = 0
        if reached and rng.random() < answer_p:
            answered_at = t + min(3 * 86400, int(rng.expovariate(1 / 14400)) + 60)
            if answered_at > self.plan.end:
                answered_at = 0
        opened = answered_at - 30 if answered_at else (t + 7200 if rng.random() < 0.2 else 0)
        if opened > self.plan.end:
            opened = 0
        status = "responded" if answered_at else "opened" if opened else "queued"
        address = f"c{customer}@metrics.example" if channel == "email" else f"+31600{customer:06d}"
        provider = "postmark" if channel == "email" else "twilio"
        stamp = clock(t)
        self._write(
            "deliveries",
            f"{did}\t{channel}\t{provider}\t{address}\t{delivery}\t\t1\t\t{stamp}\t{stamp}\t\t"
            "{}\t\t\t\n",
        )
        self._write(
            "invitations",
            f"{iid}\ti{iid:031d}\t{channel}\t{language}\t{status}\t{stamp}\t"
            f"{clock(opened) if opened else NULL}\t{clock(answered_at) if answered_at else NULL}\t"
            f"{customer}\t{touchpoint or NULL}\t{survey.id}\t{address}\t{did}\t{{}}\t\t"
            f"{conversation or NULL}\n",
        )
        if answered_at:
            self.pending[clock.day(answered_at)].append(
                (answered_at, iid, survey, customer, channel, language, touchpoint, team, agent)
            )

    def _response(
        self,
        t: int,
        survey: SurveyInfo,
        customer: int,
        channel: str,
        language: str,
        touchpoint: int,
        invitation: int = 0,
        team: int = 0,
        agent: int = 0,
    ) -> None:
        rng, clock = self.rng, self.clock
        rid = self._id("responses")
        kind = survey.spec.kind
        started = clock(t - 40 - rng.randrange(300))
        done = clock(t)
        if kind == "visit_intent":
            reasons, reason_cum = self._reasons
            reason = reasons[bisect.bisect(reason_cum, rng.random() * reason_cum[-1])]
            fulfilled = "yes" if rng.random() < 0.78 else "no"
            score, band = NULL, ""
            self._write(
                "answers", f'{rid}\t{survey.main}\t{NULL}\t["{reason}"]\t\t{done}\t{done}\n'
            )
            self._write(
                "answers",
                f'{rid}\t{survey.second["*"]}\t{NULL}\t["{fulfilled}"]\t\t{done}\t{done}\n',
            )
        else:
            values, cumulative = self._scores[kind]
            value = values[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
            if survey.spec.good_end == "low":
                value = 8 - value  # the same experience on a scale worded the other way
            score, band = str(value), survey.bands[value]
            text = COMMENTS[rng.randrange(len(COMMENTS))] if rng.random() < 0.55 else ""
            self._write("answers", f"{rid}\t{survey.main}\t{value}\t[]\t\t{done}\t{done}\n")
            self._write(
                "answers", f"{rid}\t{survey.second[value]}\t{NULL}\t[]\t{text}\t{done}\t{done}\n"
            )
        self._write(
            "responses",
            f"{rid}\tr{rid:031d}\t1\t{language}\t{channel}\t{score}\t{band}\t{started}\t{done}\t"
            f"{done}\t{customer or NULL}\t{invitation or NULL}\t{touchpoint or NULL}\t{survey.id}\t"
            f"{agent or NULL}\t{team or NULL}\n",
        )

    def surveys(self) -> None:
        rng, clock, world = self.rng, self.clock, self.world
        self._scores = {kind: _weighted(list(enumerate(w))) for kind, w in SCORE_WEIGHTS.items()}
        self._scores["csat"] = _weighted([(v + 1, w) for v, w in enumerate(SCORE_WEIGHTS["csat"])])
        self._scores["ces"] = _weighted([(v + 1, w) for v, w in enumerate(SCORE_WEIGHTS["ces"])])
        self._reasons = _weighted(REASONS)
        regular = [s for s in world.surveys if not s.spec.support]
        survey_pick, survey_cum = _weighted([(s, s.spec.weight) for s in regular])
        support_by_channel = {
            channel: [
                s
                for s in world.surveys
                if s.spec.support and s.spec.kind == "csat" and channel in s.spec.support.split()
            ]
            for channel in CONVERSATION_CHANNELS
        }
        effort = next(s for s in world.surveys if s.spec.support == "*")
        invited_ch, invited_cum = _weighted(INVITED_CHANNELS)
        open_ch, open_cum = _weighted(OPEN_CHANNELS)
        languages, lang_cum = _weighted(LANGUAGES)
        # Non-support invitations: enough that INVITED_SHARE of the responses answer one.
        delivered_share = 0.90
        invitations = round(self.plan.responses * INVITED_SHARE / (RESPONSE_RATE * delivered_share))
        invitations_per_day = _allocate(invitations, self.weights)
        responses_upto = list(_running(_allocate(self.plan.responses, self.weights)))
        customers = self.plan.customers
        end = self.plan.end
        emitted = 0
        for d in range(DAYS + 1):
            day_start = clock.day0 + d * 86400
            length = min(86400, end - day_start)
            if length <= 0:
                break
            for sent, conversation, channel, customer, team, agent, conv_channel in self.support[d]:
                survey = (
                    effort if rng.random() < 0.2 else rng.choice(support_by_channel[conv_channel])
                )
                self._invitation(
                    sent,
                    survey,
                    customer,
                    channel,
                    survey.touchpoints[0],
                    answer_p=SUPPORT_RATE,
                    conversation=conversation,
                    team=team,
                    agent=agent,
                )
            self.support.pop(d, None)
            for _ in range(invitations_per_day[d]):
                t = day_start + rng.randrange(length)
                survey = survey_pick[bisect.bisect(survey_cum, rng.random() * survey_cum[-1])]
                channel = invited_ch[bisect.bisect(invited_cum, rng.random() * invited_cum[-1])]
                self._invitation(
                    t,
                    survey,
                    rng.randrange(1, customers + 1),
                    channel,
                    rng.choice(survey.touchpoints),
                    answer_p=RESPONSE_RATE,
                )
            today = self.pending.pop(d, [])
            anonymous = max(0, responses_upto[d] - emitted - len(today))
            for _ in range(anonymous):
                t = day_start + rng.randrange(length)
                survey = survey_pick[bisect.bisect(survey_cum, rng.random() * survey_cum[-1])]
                customer = rng.randrange(1, customers + 1) if rng.random() < 0.7 else 0
                language = (
                    self.customer_language[customer]
                    if customer
                    else languages[bisect.bisect(lang_cum, rng.random() * lang_cum[-1])]
                )
                channel = open_ch[bisect.bisect(open_cum, rng.random() * open_cum[-1])]
                touchpoint = rng.choice(survey.touchpoints) if rng.random() < 0.95 else 0
                today.append((t, 0, survey, customer, channel, language, touchpoint, 0, 0))
            today.sort(key=lambda item: item[0])
            for (
                t,
                invitation,
                survey,
                customer,
                channel,
                language,
                touchpoint,
                team,
                agent,
            ) in today:
                self._response(
                    t, survey, customer, channel, language, touchpoint, invitation, team, agent
                )
            emitted += len(today)

    def run(self, sinks: dict[str, Callable[[str], None]]) -> None:
        self.sinks = sinks
        self.files = {name: [] for _t, _c, name in TABLES}
        self.conversations()
        self.surveys()
        for name in self.files:
            self._flush(name)


def _running(values: list[int]) -> Iterator[int]:
    total = 0
    for value in values:
        total += value
        yield total


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------
def _indexes(tables: list[str]) -> list[tuple[str, str]]:
    """Non-unique indexes that back no constraint (safe to drop and build again)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index x JOIN pg_class c ON c.oid = "
            "x.indexrelid JOIN pg_class t ON t.oid = x.indrelid WHERE t.relname = ANY(%s) AND NOT "
            "x.indisunique AND NOT x.indisprimary ORDER BY c.relname",
            [tables],
        )
        return list(cursor.fetchall())


def loaded_marker(plan: Plan) -> dict[str, Any] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER} (fingerprint text PRIMARY KEY, loaded_at "
            "timestamptz NOT NULL, end_at timestamptz NOT NULL, figures jsonb NOT NULL)"
        )
        cursor.execute(
            f"SELECT end_at, figures FROM {MARKER} WHERE fingerprint = %s", [plan.fingerprint]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    figures = row[1] if isinstance(row[1], dict) else json.loads(row[1])
    # The tables must still hold what the marker says (another benchmark may have emptied them);
    # each run's freshness check adds one response.
    have = int(_scalar("SELECT count(*) FROM surveys_response"))
    if not figures["counts"]["responses"] <= have <= figures["counts"]["responses"] + 1000:
        return None
    return {"end": int(row[0].timestamp()), **figures}


def load(world: World, plan: Plan, var_dir: Path) -> dict[str, Any]:
    tables = [table for table, _c, _n in TABLES]
    log(
        f"Metrics: generating and loading {plan.responses:,} responses (~{2 * plan.responses:,} "
        f"answers), {plan.conversations:,} conversations, {plan.customers:,} customers with COPY"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {MARKER}")
        cursor.execute(
            "TRUNCATE journeys_customer, inbox_delivery, metrics_responsedaily, "
            "metrics_invitationdaily, metrics_conversationdaily, metrics_customerdaily "
            "RESTART IDENTITY CASCADE"
        )
    dropped = _indexes(tables)
    with connection.cursor() as cursor:
        for name, _definition in dropped:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
    generator = Generator(world, plan)
    spools = {name: var_dir / f"metrics-{name}.copy" for _t, _c, name in TABLES}
    timings: dict[str, float] = {}
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            sql = f"COPY journeys_customer ({', '.join(CUSTOMER_COLUMNS)}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                generator.customers(lambda text: copy.write(text.encode()))
            timings["customers"] = time.perf_counter() - started
            log(f"  customers copied ({timings['customers']:.0f} s); generating the rest")
            handles = {name: path.open("w") for name, path in spools.items() if name != "customers"}
            answers_sql = f"COPY surveys_answer ({', '.join(ANSWER_COLUMNS)}) FROM STDIN"
            try:
                with cursor.cursor.copy(answers_sql) as copy:
                    sinks: dict[str, Callable[[str], None]] = {
                        name: handle.write for name, handle in handles.items()
                    }
                    sinks["answers"] = lambda text: copy.write(text.encode())
                    generator.run(sinks)
            finally:
                for handle in handles.values():
                    handle.close()
            timings["generate"] = time.perf_counter() - started - timings["customers"]
            log(f"  generated, answers copied ({timings['generate']:.0f} s); copying the spools")
            for table, columns, name in TABLES:
                if name in ("customers", "answers"):
                    continue
                quoted = ", ".join(f'"{c}"' for c in columns)
                with (
                    spools[name].open("rb") as source,
                    cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy,
                ):
                    while block := source.read(8 * 2**20):
                        copy.write(block)
                spools[name].unlink()
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    timings["copy"] = time.perf_counter() - started
    counts = {name: generator.counts[name] for _t, _c, name in TABLES}
    rows = sum(counts.values())
    log(f"  COPY of {rows:,} rows: {timings['copy']:.0f} s ({rows / timings['copy']:,.0f} rows/s)")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for _name, definition in dropped:
            cursor.execute(definition)
        cursor.execute("RESET maintenance_work_mem")
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
    timings["index"] = time.perf_counter() - started
    log(f"  {len(dropped)} indexes built again: {timings['index']:.0f} s; VACUUM ANALYZE")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    timings["analyze"] = time.perf_counter() - started
    figures = {"counts": counts, "timings": timings, "indexes": len(dropped)}
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MARKER} VALUES (%s, now(), to_timestamp(%s), %s)",
            [plan.fingerprint, plan.end, json.dumps(figures)],
        )
    return {"end": plan.end, **figures}


# ------------------------------------------------------------------------------------------------
# Rollups: the rebuild and the grain
# ------------------------------------------------------------------------------------------------
ROLLUPS = (  # (rollup table, raw tables it is computed from)
    ("metrics_responsedaily", ("surveys_response", "surveys_answer")),
    ("metrics_invitationdaily", ("surveys_invitation",)),
    ("metrics_conversationdaily", ("inbox_conversation",)),
    ("metrics_customerdaily", ("journeys_customer",)),
)


def _count(table: str) -> int:
    return int(_scalar(f"SELECT count(*) FROM {table}"))


def _mb(table: str) -> float:
    return float(_scalar("SELECT pg_total_relation_size(%s::regclass)", [table])) / 2**20


CUBES = (  # (cube table, its daily rollup, raw table it is compared with)
    ("metrics_responsecube", "metrics_responsedaily", "surveys_response"),
    ("metrics_invitationcube", "metrics_invitationdaily", "surveys_invitation"),
    ("metrics_conversationcube", "metrics_conversationdaily", "inbox_conversation"),
)


def _cube_dims(table: str) -> dict[str, tuple[str, ...]]:
    from metrics.models import CUBE_OF

    return next(c.CUBES for c in CUBE_OF.values() if c._meta.db_table == table)


def cube_sizes() -> list[dict[str, Any]]:
    """Per cube table, cube and span: rows, everybody's rows, days (or months) covered, and the
    table's size (heap and indexes) shared out in proportion to the row data."""
    out = []
    for table, daily, raw in CUBES:
        total_mb = _mb(table)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT cube, span, count(*), count(*) FILTER (WHERE attribute = ''), "
                f"count(DISTINCT day), sum(pg_column_size(t.*)) FROM {table} t GROUP BY 1, 2 "
                "ORDER BY 1, 2"
            )
            groups = cursor.fetchall()
        data = sum(int(g[5] or 0) for g in groups) or 1
        dims = _cube_dims(table)
        for cube, span, rows, everybody, days, size in groups:
            out.append(
                {
                    "table": table,
                    "daily": daily,
                    "raw": raw,
                    "cube": cube,
                    "dims": dims.get(cube, ()),
                    "span": span,
                    "rows": int(rows),
                    "everybody": int(everybody),
                    "days": int(days),
                    "mb": total_mb * int(size or 0) / data,
                    "table_mb": total_mb,
                }
            )
    return out


def rebuild() -> dict[str, Any]:
    from metrics.services import rollups_rebuild

    log("  rollups_rebuild() (daily rollups and cubes)")
    started = time.perf_counter()
    written = rollups_rebuild()
    seconds = time.perf_counter() - started
    log(f"  rebuilt in {seconds:.0f} s: {written}")
    # As autovacuum would shortly after a rebuild: fresh statistics and visibility map.
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in [t for t, _raw in ROLLUPS] + [t for t, _d, _r in CUBES]:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    vacuum = time.perf_counter() - started
    grain = []
    for table, raws in ROLLUPS:
        rows = _count(table)
        everybody = int(_scalar(f"SELECT count(*) FROM {table} WHERE attribute = ''"))
        days = int(_scalar(f"SELECT count(DISTINCT day) FROM {table}") or 0)
        grain.append(
            {
                "table": table,
                "rows": rows,
                "everybody": everybody,
                "days": days,
                "mb": _mb(table),
                "raw": [(raw, _count(raw), _mb(raw)) for raw in raws],
            }
        )
    cubes = cube_sizes()
    log(
        "  cubes: "
        + "; ".join(f"{c['table']} {c['cube']}/{c['span']} {c['rows']:,}" for c in cubes)
    )
    return {
        "seconds": seconds,
        "written": written,
        "vacuum": vacuum,
        "grain": grain,
        "cubes": cubes,
    }


def _cube(figures: dict[str, Any], table: str, cube: str, span: str) -> dict[str, Any]:
    return next(
        c
        for c in figures["rollups"]["cubes"]
        if (c["table"], c["cube"], c["span"]) == (table, cube, span)
    )


# ------------------------------------------------------------------------------------------------
# The filter combinations
# ------------------------------------------------------------------------------------------------
@dataclass
class Case:
    key: str
    label: str
    params: dict[str, str]
    f: Any = None
    app: dict[str, Timing] = field(default_factory=dict)
    floor: dict[str, Timing] = field(default_factory=dict)
    raw: Timing | None = None
    queries: dict[str, tuple[int, float]] = field(default_factory=dict)  # fn → (count, SQL ms)
    # fn → what it reads: (role, source — "c"/"p" cube or "daily" —, rows)
    reads: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    responses: int = 0


BREAKDOWN_BYS = ("channel", "touchpoint", "team", "agent", "language", "survey")
FUNCTIONS = ("overview", "trend", *(f"breakdown:{by}" for by in BREAKDOWN_BYS))


def cases(world: World) -> list[Case]:
    from journeys.models import Touchpoint

    survey = str(world.survey("Relationship NPS").id)
    support = str(world.survey("Support CSAT (email)").id)
    delivered = str(world.touchpoints["shop.delivered"])
    shop, care = str(world.journeys["Online shop"]), str(world.journeys["Customer service"])
    team = str(world.teams[0])
    agent = str(world.agents[world.teams[0]][0])
    stages = Touchpoint.objects.filter(pk=world.touchpoints["shop.delivered"]).values_list(
        "stage__name", flat=True
    )
    return [
        Case("none", "No filter (default: last 30 days)", {}),
        Case("7d", "Last 7 days", {"period": "7d"}),
        Case("90d", "Last 90 days", {"period": "90d"}),
        Case("365d", "Last 12 months", {"period": "365d"}),
        Case("365d-month", "Last 12 months, trend by month", {"period": "365d", "grain": "month"}),
        Case("survey", "Survey (Relationship NPS)", {"survey": survey}),
        Case("journey", "Journey (Online shop, 16 touchpoints)", {"journey": shop}),
        Case(
            "touchpoint",
            f"Touchpoint (Delivered, stage {stages.first()})",
            {"touchpoint": delivered},
        ),
        Case("channel", "Channel (email)", {"channel": "email"}),
        Case("team", "Team (the largest of 10)", {"team": team}),
        Case("agent", "Agent (one of 100)", {"agent": agent}),
        Case(
            "365d-agent",
            "12 months + agent (an agent's own dashboard)",
            {"period": "365d", "agent": agent},
        ),
        Case("language", "Language (en)", {"language": "en"}),
        Case("plan", "Attribute plan = gold", {"attribute": "plan", "value": "gold"}),
        Case(
            "tp-channel-lang",
            "Touchpoint + channel + language (Delivered, email, nl)",
            {"touchpoint": delivered, "channel": "email", "language": "nl"},
        ),
        Case(
            "journey-team-attr",
            "Journey + team + attribute (Customer service, team 1, plan = gold)",
            {"journey": care, "team": team, "attribute": "plan", "value": "gold"},
        ),
        Case(
            "365d-city-channel",
            "12 months + city = Amsterdam + channel whatsapp",
            {"period": "365d", "attribute": "city", "value": "Amsterdam", "channel": "whatsapp"},
        ),
        Case(
            "90d-survey-agent",
            "90 days + survey (Support CSAT, email) + agent",
            {"period": "90d", "survey": support, "agent": agent},
        ),
    ]


# ------------------------------------------------------------------------------------------------
# The floor: the bare SQL that sums the same rollup rows (no ORM, no Python)
# ------------------------------------------------------------------------------------------------
RESPONSE_SUMS = ("responses", "invited", "scored", "positive", "neutral", "negative", "score_sum")


@dataclass
class Source:
    """The rows one reading of a selector takes: ``metrics.reads.source`` called as the
    selector calls it — the table it picks (a cube or the daily rollup) as ``r``, and its WHERE:
    the cube, the day and month rows of the periods, the filters' conditions."""

    role: str  # responses, invitations, conversations
    table: str
    cube: str  # "c", "p", or "daily"
    where: str
    params: list[Any]

    @property
    def from_(self) -> str:
        return f"{self.table} r"


def _source(role: str, f: Any, *needs: str, periods: Any = None, months: bool = True) -> Source:
    """``metrics.reads.source`` called as the selector calls it."""
    from metrics import reads
    from metrics.models import ConversationDaily, InvitationDaily, ResponseDaily

    daily = {
        "responses": ResponseDaily,
        "invitations": InvitationDaily,
        "conversations": ConversationDaily,
    }[role]
    read = reads.source(daily, f, *needs, periods=periods, months=months)
    where = read.where
    if role == "conversations":
        where += " AND (r.first_responses > 0 OR r.resolved > 0)"
    return Source(role, read.table, read.cube or "daily", where, list(read.params))


def sources(f: Any, fn: str) -> list[Source]:
    """What each selector call reads, with the arguments ``metrics.selectors`` passes ``reads.source``:
    ``overview`` both periods; ``trend`` month rows only at month grain; a breakdown its
    column (the responses also per survey)."""
    from metrics import selectors

    if fn == "overview":
        both = selectors._both_periods(f)
        return [
            _source("responses", f, "survey_id", periods=both),
            _source("invitations", f, periods=both),
            _source("conversations", f, periods=both),
        ]
    if fn == "trend":
        months = f.grain == "month"
        return [
            _source("responses", f, "survey_id", months=months),
            _source("invitations", f, months=months),
            _source("conversations", f, months=months),
        ]
    by = fn.split(":")[1]
    out = [_source("responses", f, selectors._RESPONSE_FIELD[by], "survey_id")]
    column = selectors._CONVERSATION_FIELD.get(by)
    if column and not f.sliced_by_journey:
        out.append(_source("conversations", f, column))
    return out


def rows_read(source: Source) -> int:
    return int(_scalar(f"SELECT count(*) FROM {source.from_} WHERE {source.where}", source.params))


def _hist_sql(source: Source, group: str) -> tuple[str, list[Any]]:
    """Element-wise sums of both duration histograms of ``source``'s rows, grouped by ``group``
    (an expression without parameters): identical histograms are counted first (most rows hold
    one or two conversations), then each distinct one is unnested once and weighted by its
    count."""
    parts = []
    for n, (column, count) in enumerate(
        (("frt_hist", "first_responses"), ("handling_hist", "resolved"))
    ):
        parts.append(
            f"SELECT {group} AS g, {n} AS h, {column} AS hist, count(*) AS times FROM "
            f"{source.from_} WHERE {source.where} AND {count} > 0 GROUP BY 1, 3"
        )
    sql = (
        "SELECT x.g, x.h, e.i, SUM(e.n::bigint * x.times) FROM ("
        + " UNION ALL ".join(parts)
        + ") x CROSS JOIN LATERAL jsonb_array_elements_text(x.hist) WITH ORDINALITY AS e(n, i) "
        "GROUP BY 1, 2, 3"
    )
    return sql, source.params * 2


def _by_kind(source: Source) -> str:
    """The responses' rows joined to the surveys for their kind (NPS, CSAT, CES), as the
    selectors fold the sums per kind."""
    return f"{source.from_} LEFT JOIN surveys_survey s ON s.id = r.survey_id"


def floor_statements(f: Any, fn: str) -> list[tuple[str, list[Any]]]:
    """The statements the floor runs for one selector call, on the rows ``sources`` gives."""
    statements: list[tuple[str, list[Any]]] = []
    start, end, before = f.start, f.end, f.previous().start
    from metrics import reads

    k_conditions, k_params = reads.conditions(f, "customer")
    k_where = " AND ".join(k_conditions)
    counters = "SUM(first_responses), SUM(frt_sum), SUM(resolved), SUM(handling_sum)"
    read = {s.role: s for s in sources(f, fn)}
    responses, conversations = read["responses"], read.get("conversations")
    r = "r."  # the alias of every source (``metrics.reads.ALIAS``)
    if fn == "overview":
        invitations = read["invitations"]
        assert conversations is not None
        sums = ", ".join(
            f"SUM({r}{c}) FILTER (WHERE {r}day >= %s), SUM({r}{c}) FILTER (WHERE {r}day < %s)"
            for c in RESPONSE_SUMS
        )
        statements.append(
            (
                f"SELECT s.kind, {sums} FROM {_by_kind(responses)} WHERE {responses.where} "
                "GROUP BY s.kind",
                [start, start] * len(RESPONSE_SUMS) + responses.params,
            )
        )
        statements.append(
            (
                "SELECT SUM(delivered) FILTER (WHERE day >= %s), SUM(delivered) FILTER (WHERE day "
                f"< %s) FROM {invitations.from_} WHERE {invitations.where}",
                [start, start, *invitations.params],
            )
        )
        statements.append(
            (
                f"SELECT day >= '{start.isoformat()}'::date, {counters} FROM "
                f"{conversations.from_} WHERE {conversations.where} GROUP BY 1",
                conversations.params,
            )
        )
        statements.append(_hist_sql(conversations, f"day >= '{start.isoformat()}'::date"))
        statements.append(
            (
                "SELECT SUM(gained - lost) FILTER (WHERE day < %s), SUM(gained) FILTER (WHERE day "
                ">= %s AND day < %s), SUM(lost) FILTER (WHERE day >= %s AND day < %s), "
                "SUM(gained) FILTER (WHERE day >= %s), SUM(lost) FILTER (WHERE day >= %s) FROM "
                f"metrics_customerdaily r WHERE {k_where} AND day <= %s",
                [before, before, start, before, start, start, start, *k_params, end],
            )
        )
    elif fn == "trend":
        invitations = read["invitations"]
        assert conversations is not None

        def bucket(prefix: str = "") -> str:
            return {
                "week": f"date_trunc('week', {prefix}day)",
                "month": f"date_trunc('month', {prefix}day)",
            }.get(f.grain, f"{prefix}day")

        sums = ", ".join(f"SUM({r}{c})" for c in RESPONSE_SUMS)
        statements.append(
            (
                f"SELECT {bucket(r)}, s.kind, {sums} FROM {_by_kind(responses)} WHERE "
                f"{responses.where} GROUP BY 1, 2",
                responses.params,
            )
        )
        statements.append(
            (
                f"SELECT {bucket()}, SUM(delivered) FROM {invitations.from_} WHERE "
                f"{invitations.where} GROUP BY 1",
                invitations.params,
            )
        )
        statements.append(
            (
                f"SELECT {bucket()}, {counters} FROM {conversations.from_} WHERE "
                f"{conversations.where} GROUP BY 1",
                conversations.params,
            )
        )
        statements.append(_hist_sql(conversations, bucket()))
        statements.append(
            (
                "SELECT GREATEST(day, %s::date), SUM(gained), SUM(lost) FROM "
                f"metrics_customerdaily r WHERE {k_where} AND day <= %s GROUP BY 1",
                [start - dt.timedelta(days=1), *k_params, end],
            )
        )
    else:
        from metrics import selectors

        by = fn.split(":")[1]
        column = selectors._RESPONSE_FIELD[by]
        sums = ", ".join(f"SUM({r}{c})" for c in RESPONSE_SUMS)
        statements.append(
            (
                f"SELECT {r}{column}, s.kind, {sums} FROM {_by_kind(responses)} WHERE "
                f"{responses.where} GROUP BY 1, 2",
                responses.params,
            )
        )
        if conversations is not None:
            column = selectors._CONVERSATION_FIELD[by]
            statements.append(
                (
                    f"SELECT {column}, {counters} FROM {conversations.from_} WHERE "
                    f"{conversations.where} GROUP BY 1",
                    conversations.params,
                )
            )
            statements.append(_hist_sql(conversations, column))
    return statements


def run_statements(statements: list[tuple[str, list[Any]]]) -> None:
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            cursor.fetchall()


# ------------------------------------------------------------------------------------------------
# The raw computation: the same metrics straight from the responses and conversations
# ------------------------------------------------------------------------------------------------
def raw_statements(f: Any) -> list[tuple[str, list[Any]]]:
    """NPS, CSAT and CES counts per survey kind, and first response and handling time (mean
    and median), for the period and the previous one, from the raw rows."""

    def moment(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)

    before, start, end = (
        moment(f.previous().start),
        moment(f.start),
        moment(f.end + dt.timedelta(days=1)),
    )
    joins, conds, params = "", [], []
    if f.survey is not None:
        conds.append("r.survey_id = %s")
        params.append(f.survey)
    if f.touchpoints is not None:
        ids = sorted(f.touchpoints) or [-1]
        conds.append(f"r.touchpoint_id IN ({', '.join(['%s'] * len(ids))})")
        params += ids
    for name, column in (("channel", "channel"), ("language", "language")):
        if getattr(f, name):
            conds.append(f"r.{column} = %s")
            params.append(getattr(f, name))
    for name, column in (("team", "team_id"), ("agent", "agent_id")):
        if getattr(f, name) is not None:
            conds.append(f"r.{column} = %s")
            params.append(getattr(f, name))
    if f.attribute:
        joins = " JOIN journeys_customer c ON c.id = r.customer_id"
        conds.append("c.attributes ->> %s = %s")
        params += [f.attribute, f.value]
    extra = "".join(f" AND {c}" for c in conds)
    statements = [
        (
            "SELECT s.kind, r.completed_at >= %s, count(r.score), count(*) FILTER (WHERE r.band = "
            "'positive'), count(*) FILTER (WHERE r.band = 'neutral'), count(*) FILTER (WHERE "
            "r.band = 'negative') FROM surveys_response r JOIN surveys_survey s ON s.id = "
            f"r.survey_id{joins} WHERE r.completed_at >= %s AND r.completed_at < %s{extra} "
            "GROUP BY 1, 2",
            [start, before, end, *params],
        )
    ]
    joins, conds, params = "", [], []
    if f.channel:
        conds.append("v.channel = %s")
        params.append(f.channel)
    if f.team is not None:
        conds.append("v.team_id = %s")
        params.append(f.team)
    if f.agent is not None:
        conds.append("v.assignee_id = %s")
        params.append(f.agent)
    if f.language or f.attribute:
        joins = " JOIN journeys_customer c ON c.id = v.customer_id"
        if f.language:
            conds.append("c.language = %s")
            params.append(f.language)
        if f.attribute:
            conds.append("c.attributes ->> %s = %s")
            params += [f.attribute, f.value]
    extra = "".join(f" AND {c}" for c in conds)
    for moment_column, duration in (
        ("first_response_at", "v.first_response_at - v.first_customer_message_at"),
        ("resolved_at", "v.resolved_at - v.created_at"),
    ):
        seconds = f"EXTRACT(EPOCH FROM {duration})"
        statements.append(
            (
                f"SELECT v.{moment_column} >= %s, count(*), avg({seconds}), percentile_cont(0.5) "
                f"WITHIN GROUP (ORDER BY {seconds}) FROM inbox_conversation v{joins} WHERE "
                f"v.{moment_column} >= %s AND v.{moment_column} < %s AND {duration} >= "
                f"interval '0'{extra} GROUP BY 1",
                [start, before, end, *params],
            )
        )
    return statements


# ------------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------------
QUICK_TIMES = 10  # a call under 10 ms is timed this many times as often


def _timed_pair(app: Callable[[], Any], floor: Callable[[], Any], n: int) -> tuple[Timing, Timing]:
    """A selector call and its floor timed in turns (call, floor, call, floor…), ``n`` times
    each after two warm-ups, so both see the machine in the same state: timed one block after
    the other on this shared two-core machine, the same floor moved by up to 2× from one run to
    the next. A slow call is timed fewer times (over 0.3 s: 5, over a second: 3), to keep the
    run within minutes, and a quick one (under 10 ms) ``QUICK_TIMES`` as often: at a fraction
    of a millisecond, a median of 15 moves by a tenth of a millisecond between runs."""
    started = time.perf_counter()
    app()
    took = time.perf_counter() - started
    floor()
    warmups = 1
    if took > 1.0:
        n, warmups = 3, 0
    elif took > 0.3:
        n, warmups = min(n, 5), 0
    elif took < 0.01:
        n *= QUICK_TIMES
    for _ in range(warmups):
        app()
        floor()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(n):
        for fn, times in ((app, samples[0]), (floor, samples[1])):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
    return Timing(samples[0]), Timing(samples[1])


def _call(name: str, f: Any) -> Callable[[], Any]:
    from metrics import selectors

    if name == "overview":
        return lambda: selectors.overview(f)
    if name == "trend":
        return lambda: selectors.trend(f)
    by = name.split(":")[1]
    return lambda: selectors.breakdown(f, by)


def _sql_share(fn: Callable[[], Any]) -> tuple[int, float, list[dict[str, Any]]]:
    """One more call with its statements captured: how many, their time, the statements."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    queries = list(captured.captured_queries)
    return len(queries), sum(float(q["time"]) for q in queries) * 1000, queries


def measure(items: list[Case], *, requests: int, today: dt.date) -> None:
    from metrics.filters import filters_parse

    for case in items:
        case.f = filters_parse(case.params, today=today)
        if case.f.errors:
            raise RuntimeError(f"{case.key}: {case.f.errors}")
        log(f"  {case.label}")
        for name in FUNCTIONS:
            call = _call(name, case.f)
            statements = floor_statements(case.f, name)
            case.app[name], case.floor[name] = _timed_pair(
                call, lambda s=statements: run_statements(s), requests
            )
            count, sql_ms, _q = _sql_share(call)
            case.queries[name] = (count, sql_ms)
            case.reads[name] = [
                (source.role, source.cube, rows_read(source)) for source in sources(case.f, name)
            ]
        from metrics import selectors

        case.responses = selectors.overview(case.f).responses
        raw = raw_statements(case.f)
        case.raw = repeat(lambda s=raw: run_statements(s), n=3, warmup=1)
        worst = max(FUNCTIONS, key=lambda n: case.app[n].median_ms)
        log(
            f"    overview {ms(case.app['overview'].median_ms)} (floor "
            f"{ms(case.floor['overview'].median_ms)}, raw {ms(case.raw.median_ms)}; reads "
            f"{_reads_text(case.reads['overview'])}); slowest {worst} "
            f"{ms(case.app[worst].median_ms)} (floor {ms(case.floor[worst].median_ms)})"
        )


def _reads_text(reads: list[tuple[str, str, int]]) -> str:
    """``responses c 1,234 · conversations daily 5,678``: what a call reads, from where."""
    return " · ".join(f"{role} {_source_name(cube)} {rows:,}" for role, cube, rows in reads)


def _source_name(cube: str) -> str:
    return "daily" if cube == "daily" else f"cube {cube}"


WINDOW_CASES = ("none", "365d")  # the raw rows of their periods, against the rows overview reads


def window_counts(f: Any) -> dict[str, int]:
    """The raw rows of ``overview``'s two periods (the previous one and the current one): the
    responses completed in them, the invitations sent in them, the conversations with a first
    response or a resolution in them."""

    def moment(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)

    low, high = moment(f.previous().start), moment(f.end + dt.timedelta(days=1))
    between = "{0} >= %s AND {0} < %s"
    return {
        "responses": int(
            _scalar(
                f"SELECT count(*) FROM surveys_response WHERE {between.format('completed_at')}",
                [low, high],
            )
        ),
        "invitations": int(
            _scalar(
                f"SELECT count(*) FROM surveys_invitation WHERE {between.format('created_at')}",
                [low, high],
            )
        ),
        "conversations": int(
            _scalar(
                f"SELECT count(*) FROM inbox_conversation WHERE ({between.format('first_response_at')}"
                f") OR ({between.format('resolved_at')})",
                [low, high, low, high],
            )
        ),
    }


def explain_slowest(items: list[Case]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the slowest statement of the slowest selector call."""
    case, name = max(
        ((c, n) for c in items for n in FUNCTIONS), key=lambda cn: cn[0].app[cn[1]].median_ms
    )
    _n, _ms, queries = _sql_share(_call(name, case.f))
    slowest = max(queries, key=lambda q: float(q["time"]))
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {slowest['sql']}")
        plan = [row[0] for row in cursor.fetchall()]
    return {"case": case, "name": name, "sql": slowest["sql"], "plan": plan}


# ------------------------------------------------------------------------------------------------
# Freshness
# ------------------------------------------------------------------------------------------------
def freshness(world: World, *, today: dt.date) -> dict[str, Any]:
    """``rollups_refresh_recent()`` at this size, then one response end to end: submitted
    through the services, its signal's refresh run as the worker would run it (after the
    countdown), and ``overview`` showing one more answer."""
    from unittest import mock

    from django.conf import settings
    from django.core.cache import cache

    from cxm.celery import app
    from journeys.models import Customer
    from metrics import selectors, tasks
    from metrics.filters import filters_parse
    from metrics.services import REFRESH_PENDING, rollups_refresh_recent
    from surveys.answers import AnswerValue
    from surveys.models import Survey
    from surveys.services import invitation_create, response_start, response_submit

    log("  freshness: rollups_refresh_recent() ×3")
    refresh = repeat(rollups_refresh_recent, n=3, warmup=0)
    info = world.survey("Relationship NPS")
    survey = Survey.objects.get(pk=info.id)
    customer = Customer.objects.filter(attributes__plan="gold").order_by("-id").first()
    f = filters_parse({"period": "7d", "survey": str(info.id)}, today=today)
    before = selectors.overview(f).figure("nps").n
    questions = list(survey.questions.all())
    main = next(q for q in questions if q.is_scored)
    cache.delete(REFRESH_PENDING)
    with mock.patch.object(app, "send_task") as sent:
        invitation = invitation_create(survey=survey, customer=customer, channel="email")
        response = response_start(survey=survey, language="nl", invitation=invitation)
        submitted = time.perf_counter()
        response_submit(
            response=response, questions=questions, values={main: AnswerValue(number=10)}
        )
    asked = [c for c in sent.call_args_list if c.args and c.args[0] == "metrics.refresh"]
    countdown = asked[0].kwargs.get("countdown") if asked else None
    right_after = selectors.overview(f).figure("nps").n
    time.sleep(countdown or settings.METRICS_REFRESH_DELAY)
    started = time.perf_counter()
    tasks.refresh()  # the task body, as the worker runs it when the countdown is over
    task_s = time.perf_counter() - started
    after = selectors.overview(f).figure("nps").n
    lag = time.perf_counter() - submitted
    return {
        "refresh": refresh,
        "days": settings.METRICS_REFRESH_DAYS,
        "delay": settings.METRICS_REFRESH_DELAY,
        "countdown": countdown,
        "asked": len(asked),
        "before": before,
        "right_after": right_after,
        "after": after,
        "task_s": task_s,
        "lag": lag,
        "ok": bool(asked) and after == before + 1,
    }


# ------------------------------------------------------------------------------------------------
# The benchmark and its report
# ------------------------------------------------------------------------------------------------
def _times(value: float) -> str:
    return f"{value:.1f}×" if value < 10 else f"{value:,.0f}×"


def _ratio_text(value: float) -> str:
    return f"{value:.2f}×" if value < 10 else f"{value:,.0f}×"


def bench_metrics(
    var_dir: Path, *, responses: int, conversations: int, customers: int, requests: int
) -> tuple[Section, list[Section], dict[str, Any]]:
    from django.utils import timezone

    started = time.perf_counter()
    world = setup_world()
    now = int(time.time())
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    plan = Plan(
        responses=responses,
        conversations=conversations,
        customers=customers,
        end=now,
        first_day=today - dt.timedelta(days=DAYS),
    )
    loaded = loaded_marker(plan)
    reused = loaded is not None
    if loaded is None:
        loaded = load(world, plan, var_dir)
    else:
        log(f"Metrics: reusing the data loaded before ({plan.fingerprint})")
    load_s = time.perf_counter() - started
    rollups = rebuild()
    today = timezone.localdate()
    items = cases(world)
    log(f"Metrics: {len(items)} filter combinations × {len(FUNCTIONS)} selector calls")
    measure(items, requests=requests, today=today)
    plan_info = explain_slowest(items)
    window = {c.key: window_counts(c.f) for c in items if c.key in WINDOW_CASES}
    fresh = freshness(world, today=today)
    total_s = time.perf_counter() - started
    figures = {
        "loaded": loaded,
        "reused": reused,
        "load_s": load_s,
        "rollups": rollups,
        "cases": items,
        "explain": plan_info,
        "window": window,
        "fresh": fresh,
        "total_s": total_s,
        "requests": requests,
    }
    summary = Section(
        key="metrics-targets",
        title="Metrics dashboards (issue 7)",
        columns=["Target", "Measured", "Result"],
    )
    for row in summary_rows(figures):
        summary.add(*row)
    sections = [
        data_section(figures),
        cubes_section(figures),
        calls_section(figures),
        breakdown_section(figures),
        explain_section(figures),
        fresh_section(figures),
    ]
    notes = findings(figures)
    if notes:
        found = Section(key="metrics-findings", title="Found in this run", columns=[])
        found.notes += notes
        sections.append(found)
    return summary, sections, figures


def _grain(figures: dict[str, Any], table: str) -> dict[str, Any]:
    return next(g for g in figures["rollups"]["grain"] if g["table"] == table)


def _default_reads(figures: dict[str, Any]) -> list[tuple[str, str, str, int, str, int]]:
    """For the responses and the conversations, what the unfiltered 30-day ``overview`` reads:
    (role, table, cube or "daily", that source's day rows of everybody's slice, the raw table,
    its rows)."""
    none = next(c for c in figures["cases"] if c.key == "none")
    out = []
    for role, cube_table, daily in (
        ("responses", "metrics_responsecube", "metrics_responsedaily"),
        ("conversations", "metrics_conversationcube", "metrics_conversationdaily"),
    ):
        cube = next(cube for r, cube, _n in none.reads["overview"] if r == role)
        raw_table, raw_rows, _mb = _grain(figures, daily)["raw"][0]
        if cube == "daily":
            table, rows = daily, _grain(figures, daily)["everybody"]
        else:
            table, rows = cube_table, _cube(figures, cube_table, cube, "d")["everybody"]
        out.append((role, table, cube, rows, raw_table, raw_rows))
    return out


def summary_rows(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    items: list[Case] = figures["cases"]
    rows: list[tuple[str, str, str]] = []
    rollups = figures["rollups"]
    coarse = [
        (f"`{table}`" + (f" cube {cube}" if cube != "daily" else ""), raw_table, raw, rows)
        for _role, table, cube, rows, raw_table, raw in _default_reads(figures)
    ]
    daily_ratios = []
    for table in ("metrics_responsedaily", "metrics_conversationdaily"):
        grain = _grain(figures, table)
        _raw_table, raw_rows, _mb = grain["raw"][0]
        daily_ratios.append((table, grain["rows"], raw_rows / max(grain["rows"], 1)))
    rows.append(
        (
            f"Rollup grain much smaller than the raw rows (at least {GRAIN_RATIO:.0f}× fewer "
            "rows), judged on what the dashboards read by default: the day rows of everybody's "
            "slice of the cube the unfiltered `overview` reads",
            "; ".join(
                f"{source}, day rows of everybody's slice: {rollup:,} for {raw:,} "
                f"{r.split('_')[1]}s = {_times(raw / max(rollup, 1))} fewer"
                for source, r, raw, rollup in coarse
            )
            + ". Kept beside the cubes for the filter combinations no cube covers (a team or an "
            "agent with a touchpoint, a journey or a language…), the daily rollups with every "
            "dimension: "
            + "; ".join(
                f"`{t}` {rollup:,} rows (all slices) = {ratio:.1f}× fewer"
                for t, rollup, ratio in daily_ratios
            ),
            verdict(all(raw / max(rollup, 1) >= GRAIN_RATIO for _s, _r, raw, rollup in coarse)),
        )
    )
    cube_rows: dict[str, int] = defaultdict(int)
    for c in rollups["cubes"]:
        cube_rows[c["table"]] += c["rows"]
    rows.append(
        (
            "(No target) `rollups_rebuild()` from all the raw rows: daily rollups and cubes",
            f"{rollups['seconds']:.0f} s (daily rows written: "
            + ", ".join(f"{k} {v:,}" for k, v in rollups["written"].items() if v is not None)
            + "; cube rows: "
            + ", ".join(f"`{t}` {n:,}" for t, n in cube_rows.items())
            + ")",
            "see below",
        )
    )
    calls = [(c, n) for c in items for n in FUNCTIONS]
    under = [(c, n) for c, n in calls if c.app[n].median_ms < TARGET_MS]
    worst_case, worst_name = max(calls, key=lambda cn: cn[0].app[cn[1]].median_ms)
    worst = worst_case.app[worst_name]
    overviews = [c.app["overview"] for c in items]
    rows.append(
        (
            f"`overview`, each `breakdown` and `trend` under {TARGET_MS:.0f} ms median, for "
            f"{len(items)} filter combinations ({len(calls)} calls, filters from `filters_parse`)",
            f"{len(under)} of {len(calls)} under {TARGET_MS:.0f} ms; overview "
            f"{ms(min(t.median_ms for t in overviews))}–{ms(max(t.median_ms for t in overviews))}; "
            f"slowest: {worst_name} with {worst_case.label.lower()} {ms(worst.median_ms)} "
            f"(p95 {ms(worst.p95_ms)})",
            verdict(len(under) == len(calls)),
        )
    )
    ratios_floor = [(c, n, c.app[n].median_ms / c.floor[n].median_ms) for c, n in calls]
    within = [r for r in ratios_floor if r[2] <= FLOOR_RATIO]
    heavy = [r for r in ratios_floor if r[0].floor[r[1]].median_ms >= 10]
    c, n, worst_ratio = max(ratios_floor, key=lambda r: r[2])
    rows.append(
        (
            f"… within {FLOOR_RATIO}× of the rollup query floor (the bare SQL summing the same "
            "rows the app reads: the cube or daily rollup rows `reads.source` picks)",
            f"{len(within)} of {len(calls)} within {FLOOR_RATIO}× (of the {len(heavy)} calls whose "
            f"floor takes 10 ms or more: {sum(r[2] <= FLOOR_RATIO for r in heavy)}); median ratio "
            f"{statistics.median(r[2] for r in ratios_floor):.2f}×; worst {n} with "
            f"{c.label.lower()} {worst_ratio:.2f}× ({ms(c.app[n].median_ms)} vs "
            f"{ms(c.floor[n].median_ms)})",
            verdict(len(within) == len(calls)),
        )
    )
    raw_ratios = [(c, c.raw.median_ms / c.app["overview"].median_ms) for c in items if c.raw]
    c_min, lowest = min(raw_ratios, key=lambda r: r[1])
    rows.append(
        (
            f"… `overview` at least {RAW_RATIO:.0f}× faster than computing NPS, CSAT, CES, first "
            "response and handling time from the raw rows",
            f"raw ÷ overview from {_ratio_text(lowest)} ({c_min.label.lower()}: raw "
            f"{ms(c_min.raw.median_ms)}, overview {ms(c_min.app['overview'].median_ms)}) to "
            f"{max(r for _c, r in raw_ratios):,.0f}×",
            verdict(lowest >= RAW_RATIO),
        )
    )
    fresh = figures["fresh"]
    rows.append(
        (
            f"A response submitted through the services is in `overview` within {FRESH_S:.0f} s",
            f"{fresh['lag']:.1f} s from submit to `overview` showing it (countdown "
            f"{fresh['countdown']} s + the refresh task {fresh['task_s']:.1f} s); "
            f"`rollups_refresh_recent()` ({fresh['days']} days) median "
            f"{fresh['refresh'].median_ms / 1000:.1f} s; NPS n {fresh['before']:,} → "
            f"{fresh['after']:,}",
            verdict(fresh["ok"] and fresh["lag"] < FRESH_S),
        )
    )
    return rows


def data_section(figures: dict[str, Any]) -> Section:
    loaded, rollups = figures["loaded"], figures["rollups"]
    counts, timings = loaded["counts"], loaded["timings"]
    section = Section(
        key="metrics-data",
        title="Data and rollups",
        columns=["Rollup", "Rows", "Everybody's rows (attribute = '')", "Days", "Size",
                 "Computed from", "Raw rows ÷ rollup rows"],
    )  # fmt: skip
    for grain in rollups["grain"]:
        section.add(
            f"`{grain['table']}`",
            f"{grain['rows']:,}",
            f"{grain['everybody']:,} ({grain['everybody'] / max(grain['days'], 1):,.0f} a day)",
            f"{grain['days']:,}",
            f"{grain['mb']:,.0f} MB",
            "; ".join(f"`{raw}` {rows:,} rows, {mb:,.0f} MB" for raw, rows, mb in grain["raw"]),
            "; ".join(f"{rows / max(grain['rows'], 1):,.1f}×" for _r, rows, _mb in grain["raw"]),
        )
    t = timings
    how = (
        "reused from an earlier run (marker table `bench_metrics_loaded`), loaded then in "
        if figures["reused"]
        else "loaded in "
    )
    section.intro = (
        f"{counts['answers']:,} answers to {counts['responses']:,} completed responses, "
        f"{counts['invitations']:,} invitations with as many deliveries, "
        f"{counts['conversations']:,} conversations and {counts['customers']:,} customers over "
        f"{DAYS} days (seed {SEED}; see the docstring of `benchmarks/metrics.py`), {how}"
        f"{t['copy']:.0f} s (customers {t['customers']:.0f} s; generating everything else while "
        f"the answers stream into their COPY {t['generate']:.0f} s; the spooled tables "
        f"{t['copy'] - t['customers'] - t['generate']:.0f} s), {loaded['indexes']} non-unique "
        f"indexes built again in {t['index']:.0f} s, `VACUUM ANALYZE` {t['analyze']:.0f} s. "
        f"`metrics.services.rollups_rebuild()` then took **{rollups['seconds']:.0f} s** for "
        "the daily rollups and their cubes (`VACUUM ANALYZE` of the rollups and cubes after it, "
        f"as autovacuum would do: {rollups['vacuum']:.1f} s). Each daily rollup row is one day × "
        "the rollup's dimensions × one slice: everybody (`attribute = ''`), or one value of "
        "`plan` or `city`."
    )
    section.notes.append(
        "The daily rollups keep every dimension: the dashboards read them only for the filter "
        "combinations no cube covers (next table), e.g. a team or an agent together with a "
        "touchpoint, a journey or a language."
    )
    return section


SPAN_NAMES = {"d": "day", "m": "month"}


def cubes_section(figures: dict[str, Any]) -> Section:
    rollups, items = figures["rollups"], figures["cases"]
    section = Section(
        key="metrics-cubes",
        title="Cubes: what the dashboards read",
        columns=["Cube table", "Cube: dimensions kept", "Span", "Rows",
                 "Everybody's rows (attribute = '')", "Everybody's rows a day / month",
                 "Size (share of the table)", "Raw rows ÷ everybody's rows"],
    )  # fmt: skip
    raws = {table: _grain(figures, daily)["raw"][0] for table, daily, _raw in CUBES}
    for c in rollups["cubes"]:
        raw_table, raw_rows, _mb = raws[c["table"]]
        per = "a day" if c["span"] == "d" else "a month"
        section.add(
            f"`{c['table']}`",
            f"{c['cube']}: " + ", ".join(d.removesuffix("_id") for d in c["dims"]),
            SPAN_NAMES.get(c["span"], c["span"]),
            f"{c['rows']:,}",
            f"{c['everybody']:,}",
            f"{c['everybody'] / max(c['days'], 1):,.0f} {per} ({c['days']:,} "
            f"{'days' if c['span'] == 'd' else 'months'})",
            f"{c['mb']:,.0f} MB (of {c['table_mb']:,.0f} MB)",
            f"{_times(raw_rows / max(c['everybody'], 1))} (`{raw_table}` {raw_rows:,})",
        )
    section.intro = (
        "`rollups_rebuild()` and `rollups_refresh()` write, with each daily rollup, its cube: "
        "the same rows summed again over fewer dimensions (a dropped dimension holds 0 or '') "
        "per day (span `d`) and per calendar month (span `m`, `day` the month's first day). "
        "`metrics.reads.source` reads the first cube (in the order of `CUBES`: "
        + "; ".join(
            f"`{table}` " + ", ".join(f"`{name}`" for name in _cube_dims(table))
            for table, _d, _r in CUBES
        )
        + ") whose dimensions include every dimension the filters narrow and the reading groups "
        "on — the "
        "month rows for the whole calendar months of each period and the day rows of the days "
        "around them (`trend` at day or week grain: day rows only) — and the daily rollup when "
        "no cube has them. Size: the table's total (heap and indexes) shared out in proportion "
        "to the row data (`pg_column_size`) of each cube and span."
    )
    window = figures.get("window", {})
    by_key = {c.key: c for c in items}
    for key, raw in window.items():
        case = by_key[key]
        reads = case.reads["overview"]
        section.notes.append(
            f"`overview` with {case.label.lower()} (its period and the previous one, "
            f"{2 * case.f.days} days) reads "
            + "; ".join(
                f"{rows:,} {role} rows from {_source_name(cube)} (against {raw[role]:,} raw "
                f"{role} in those days: {_times(raw[role] / max(rows, 1))} fewer)"
                for role, cube, rows in reads
            )
            + "."
        )
    counts: dict[str, int] = defaultdict(int)
    daily: list[str] = []
    for c in items:
        for name in FUNCTIONS:
            for _role, cube, _rows in c.reads[name]:
                counts[cube] += 1
            if any(cube == "daily" for _role, cube, _rows in c.reads[name]):
                daily.append(f"{name} with {c.label.lower()}")
    total = sum(counts.values())
    section.notes.append(
        f"Of the {total} readings of the {len(items) * len(FUNCTIONS)} calls below: "
        + ", ".join(f"{n} from {_source_name(cube)}" for cube, n in sorted(counts.items()))
        + (
            ". The calls with a reading of the daily rollup: " + "; ".join(daily) + "."
            if daily
            else "; none read the daily rollups."
        )
    )
    return section


def calls_section(figures: dict[str, Any]) -> Section:
    items: list[Case] = figures["cases"]
    section = Section(
        key="metrics-calls",
        title="Overview and trend per filter combination",
        columns=["Filters", "Responses", "`overview` reads (rows)", "`overview` median (p95)",
                 "Floor", "× floor", "SQL (statements, ms)", "Raw", "Raw ÷ overview",
                 "`trend` reads (rows)", "`trend` median (p95)", "Floor", "× floor", "Target"],
    )  # fmt: skip
    for c in items:
        o, t = c.app["overview"], c.app["trend"]
        count, sql_ms = c.queries["overview"]
        ok = all(c.app[n].median_ms < TARGET_MS for n in ("overview", "trend"))
        section.add(
            c.label,
            f"{c.responses:,}",
            _reads_short(c.reads["overview"]),
            f"{ms(o.median_ms)} ({ms(o.p95_ms)})",
            ms(c.floor["overview"].median_ms),
            _ratio_text(o.median_ms / c.floor["overview"].median_ms),
            f"{count}, {sql_ms:,.1f}",
            ms(c.raw.median_ms) if c.raw else "",
            f"{c.raw.median_ms / o.median_ms:,.1f}×" if c.raw else "",
            _reads_short(c.reads["trend"]),
            f"{ms(t.median_ms)} ({ms(t.p95_ms)})",
            ms(c.floor["trend"].median_ms),
            _ratio_text(t.median_ms / c.floor["trend"].median_ms),
            f"< {TARGET_MS:.0f} ms: {verdict(ok)}",
        )
    section.intro = (
        f"Each selector call timed {figures['requests']} times after two warm-ups (a call over "
        "0.3 s: 5 times, over a second: 3 times, after one; a call under 10 ms "
        f"{figures['requests'] * QUICK_TIMES} times), in turns with its floor (call, floor, "
        "call, floor…, so both see the machine in the same state), in this process on the Django "
        "connection (PostgreSQL settings as the harness starts it: `jit` on, the default); the "
        "`Filters` come from `metrics.filters.filters_parse` with today's date, as the "
        "dashboards build them. **Reads**: where the call's rows come from and how many it "
        "reads — responses · invitations · conversations, each a cube's letter (that cube) or "
        "`daily` (the daily rollup), as `metrics.reads.source` picks them, counted with the "
        "filters' "
        "conditions (conversations: those with a first response or a resolution). **Floor**: "
        "the bare SQL on a cursor that reads and sums the very same rows, nothing done in Python: "
        "each statement's FROM and WHERE are the app's own (`metrics.reads.source`: the cube, "
        "its span and days, and the filters' conditions) — for `overview` five statements: the responses summed per survey "
        "kind (joined to `surveys_survey`) for both periods, the delivered invitations, the "
        "conversations' counters, their two duration histograms summed element-wise (identical "
        "histograms counted first, then `jsonb_array_elements_text … WITH ORDINALITY`), and the "
        "customers' running totals; for `trend` the same per day, week or month; for a "
        f"breakdown per key. {_faster_text(figures)} **SQL** is one more `overview` call with "
        "its statements captured: how many, and their time inside the database driver. "
        "**Raw**: NPS, CSAT and CES counts per survey kind and first response and handling time "
        "(mean and median, `percentile_cont`) for the period and the previous one, straight "
        "from `surveys_response` (joined to `surveys_survey`, and to `journeys_customer` for an "
        "attribute) and `inbox_conversation` (joined to the customer for a language or "
        "attribute) — fewer figures than `overview` gives (no response rate, churn or "
        "retention), so the ratio favours the raw side. Median of 3 after a warm-up. "
        "**Responses** is the number of responses in the period `overview` counts."
    )
    return section


def _reads_short(reads: list[tuple[str, str, int]]) -> str:
    return " · ".join(f"{cube} {rows:,}" for _role, cube, rows in reads)


def _faster_text(figures: dict[str, Any]) -> str:
    calls = [(c, n) for c in figures["cases"] for n in FUNCTIONS]
    faster = [(c, n) for c, n in calls if c.app[n].median_ms < c.floor[n].median_ms]
    if not faster:
        return "No call is faster than its floor."
    with_hist = sum(any(role == "conversations" for role, *_x in c.reads[n]) for c, n in faster)
    return (
        f"{len(faster)} of {len(calls)} calls are faster than their floor ({with_hist} of them "
        "read conversations): the app decodes each distinct histogram once in Python, where "
        "the floor unnests the jsonb in SQL."
    )


def breakdown_section(figures: dict[str, Any]) -> Section:
    items: list[Case] = figures["cases"]
    section = Section(
        key="metrics-breakdowns",
        title="Breakdowns per filter combination",
        columns=["Filters", *(f"by {by}" for by in BREAKDOWN_BYS), "Slowest p95", "Target"],
    )
    for c in items:
        names = [f"breakdown:{by}" for by in BREAKDOWN_BYS]
        cells = [
            f"{ms(c.app[n].median_ms)} ({_ratio_text(c.app[n].median_ms / c.floor[n].median_ms)}"
            f"; {'/'.join(cube for _role, cube, _rows in c.reads[n])})"
            for n in names
        ]
        slowest = max(names, key=lambda n: c.app[n].p95_ms)
        ok = all(c.app[n].median_ms < TARGET_MS for n in names)
        section.add(
            c.label,
            *cells,
            f"{ms(c.app[slowest].p95_ms)} ({slowest.split(':')[1]})",
            f"< {TARGET_MS:.0f} ms: {verdict(ok)}",
        )
    section.intro = (
        "`selectors.breakdown(f, by)`: median, and in brackets its ratio to the floor (the "
        "responses summed per key and survey kind; for channel, team, agent and language also the "
        "conversations' counters and histograms per key, unless a survey or journey filter "
        "makes them not apply) and where it reads the responses / the conversations from: a "
        "cube's letter (that cube) or `daily` (the daily rollup)."
    )
    return section


def explain_section(figures: dict[str, Any]) -> Section:
    info = figures["explain"]
    case, name = info["case"], info["name"]
    section = Section(
        key="metrics-explain",
        title="EXPLAIN (ANALYZE, BUFFERS) of the slowest statement",
        columns=[],
    )
    section.intro = (
        f"The slowest call of the run was `{name}` with {case.label.lower()} "
        f"({ms(case.app[name].median_ms)} median); its slowest statement:"
    )
    sql = info["sql"]
    section.notes.append("```sql\n" + (sql if len(sql) < 1500 else sql[:1500] + " …") + "\n```")
    section.notes.append("```\n" + "\n".join(info["plan"]) + "\n```")
    return section


def fresh_section(figures: dict[str, Any]) -> Section:
    fresh = figures["fresh"]
    refresh: Timing = fresh["refresh"]
    section = Section(
        key="metrics-fresh",
        title="Freshness",
        columns=["Step", "Time"],
    )
    section.add(
        f"`rollups_refresh_recent()`: the last {fresh['days']} days of every rollup recomputed "
        "(3 runs)",
        f"median {refresh.median_ms / 1000:.2f} s (min {refresh.min_ms / 1000:.2f}, max "
        f"{refresh.max_ms / 1000:.2f})",
    )
    section.add(
        "The signal of the completed response asks for `metrics.refresh` with a countdown "
        "(`METRICS_REFRESH_DELAY`)",
        f"{fresh['countdown']} s ({fresh['asked']} task requested)",
    )
    section.add("The refresh task, run when the countdown is over", f"{fresh['task_s']:.2f} s")
    section.add(
        "From `response_submit` to `overview` showing the response",
        f"**{fresh['lag']:.1f} s** (NPS n {fresh['before']:,} before, {fresh['right_after']:,} "
        f"right after the submit, {fresh['after']:,} after the refresh): "
        f"{verdict(fresh['ok'] and fresh['lag'] < FRESH_S)}",
    )
    section.intro = (
        "One response to the Relationship NPS survey, end to end in this process: "
        "`invitation_create`, `response_start`, `response_submit` (score 10) through the "
        "services. Its `response_submitted` signal (after commit) calls `refresh_soon`, which "
        "asks for the `metrics.refresh` task with a countdown; the Celery publish is caught "
        "(no worker runs in the benchmark), the benchmark waits out the countdown and runs the "
        "task's body (`metrics.tasks.refresh` → `rollups_refresh_recent`) as the worker would, "
        "then reads `overview` for the last 7 days of that survey. Beat also runs the same "
        "refresh every minute, which bounds the lag of changes that send no signal."
    )
    return section


def _call_text(c: Case, n: str) -> str:
    count, sql_ms = c.queries[n]
    return (
        f"{n} with {c.label.lower()} {ms(c.app[n].median_ms)} (reads "
        f"{_reads_text(c.reads[n])}; SQL {sql_ms:,.0f} ms in {count} statements; floor "
        f"{ms(c.floor[n].median_ms)})"
    )


def findings(figures: dict[str, Any]) -> list[str]:
    """What this run shows is slow or over a target, each only when it does."""
    notes: list[str] = []
    items: list[Case] = figures["cases"]
    slow = [(c, n) for c in items for n in FUNCTIONS if c.app[n].median_ms >= TARGET_MS]
    if slow:
        slow.sort(key=lambda cn: -cn[0].app[cn[1]].median_ms)
        by_function: dict[str, int] = defaultdict(int)
        by_source: dict[str, int] = defaultdict(int)
        for c, n in slow:
            by_function[n] += 1
            for cube in {cube for _role, cube, _rows in c.reads[n]}:
                by_source[cube] += 1
        notes.append(
            f"- **{len(slow)} selector calls over {TARGET_MS:.0f} ms** ("
            + ", ".join(f"{k} {n}" for n, k in by_function.items())
            + "; calls with a reading of "
            + ", ".join(f"{_source_name(cube)}: {k}" for cube, k in sorted(by_source.items()))
            + "); the slowest: "
            + "; ".join(_call_text(c, n) for c, n in slow[:8])
            + ". SQL is the statements' time inside the database driver in one more call; the "
            "rest of the call is Python (the rows turned into objects and added up, the "
            "histograms decoded)."
        )
    daily = [
        (c, n)
        for c in items
        for n in FUNCTIONS
        if any(cube == "daily" for _role, cube, _rows in c.reads[n])
    ]
    if daily:
        daily.sort(key=lambda cn: -cn[0].app[cn[1]].median_ms)
        over = [(c, n) for c, n in daily if c.app[n].median_ms >= TARGET_MS]
        notes.append(
            f"- **{len(daily)} calls read a daily rollup** (no cube has every dimension their "
            f"filters and grouping need), {len(over)} of them over {TARGET_MS:.0f} ms"
            + (": " + "; ".join(_call_text(c, n) for c, n in over[:8]) if over else "")
            + "."
        )
    far = [
        (c, n)
        for c in items
        for n in FUNCTIONS
        if c.app[n].median_ms > FLOOR_RATIO * c.floor[n].median_ms
    ]
    if far:
        small = [(c, n) for c, n in far if c.app[n].median_ms - c.floor[n].median_ms < 5]
        big = [(c, n) for c, n in far if (c, n) not in small]
        text = f"- **{len(far)} calls more than {FLOOR_RATIO}× their floor**"
        if small:
            gap = statistics.median(c.app[n].median_ms - c.floor[n].median_ms for c, n in small)
            text += (
                f", {len(small)} of them by less than 5 ms (median gap {gap:.1f} ms): a call's "
                "fixed costs (the cursor and the round trip, the figures and their margins built "
                "per key in Python, the names read beside the sums) against a floor of one "
                "statement that returns in under a millisecond"
            )
        text += "."
        if big:
            text += " The others: " + "; ".join(
                _call_text(c, n)
                for c, n in sorted(big, key=lambda cn: -cn[0].app[cn[1]].median_ms)[:8]
            )
            text += "."
        notes.append(text)
    for _role, table, cube, rows, raw_table, raw_rows in _default_reads(figures):
        if raw_rows / max(rows, 1) < GRAIN_RATIO:
            notes.append(
                f"- **`{table}`{f' cube {cube}' if cube != 'daily' else ''}, which the "
                f"unfiltered `overview` reads, is not much smaller than `{raw_table}`**: "
                f"{rows:,} day rows of everybody's slice for {raw_rows:,}, "
                f"{raw_rows / max(rows, 1):.1f}× fewer rows."
            )
    beaten = [
        c for c in items if c.raw and c.raw.median_ms < RAW_RATIO * c.app["overview"].median_ms
    ]
    if beaten:
        quickest = min(items, key=lambda c: c.app["overview"].median_ms)
        notes.append(
            f"- **Computing from the raw rows is not {RAW_RATIO:.0f}× slower** for: "
            + "; ".join(
                f"{c.label.lower()} (raw {ms(c.raw.median_ms)}, overview "
                f"{ms(c.app['overview'].median_ms)}, reading {_reads_text(c.reads['overview'])})"
                for c in beaten
                if c.raw
            )
            + f". `overview` takes {ms(quickest.app['overview'].median_ms)} at the least "
            f"({quickest.label.lower()}; floor {ms(quickest.floor['overview'].median_ms)}): its "
            "six statements, churn and retention among them (which the raw side leaves out), "
            "whatever few rows they read; so a raw computation under "
            f"{ms(RAW_RATIO * quickest.app['overview'].median_ms)} cannot be beaten "
            f"{RAW_RATIO:.0f}× — a narrow filter (an agent, a team, a survey) reads few raw rows "
            "through the indexes on `surveys_response` and `inbox_conversation`."
        )
    plan = figures["explain"]["plan"]
    jit = next((line for line in plan if "Timing: Generation" in line), "")
    jit_ms = float(jit.rsplit("Total", 1)[-1].split()[0]) if jit else 0.0
    if jit_ms >= 20:
        total = f"{jit_ms:,.0f} ms"
        notes.append(
            f"- **PostgreSQL's JIT compiles the long-period statements**: {total} of the "
            "slowest statement's time above went to JIT compilation (`jit` is on by default and "
            "these plans cost more than `jit_above_cost`). The dashboards' statements are short "
            "and many; `jit = off` for the web connections (`OPTIONS: {'options': '-c "
            "jit=off'}`) saves that, a settings change outside the metrics app."
        )
    return notes

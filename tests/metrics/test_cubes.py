"""The cubes give the same figures as the daily rollups: on random data over several months,
for random filters, periods and grains, every selector read from the cubes (month rows for whole
months, day rows around them) equals the same selector read from the daily rows only; and a
refresh from any day leaves the cubes as a full rebuild writes them."""

from __future__ import annotations

import datetime as dt
import importlib
from unittest import mock

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.models import Conversation
from journeys.models import Customer
from journeys.services.journeys import journey_save, stage_save, touchpoint_save
from metrics import reads, selectors, services
from metrics.filters import filters_parse
from metrics.models import (
    ConversationCube,
    CustomerCube,
    InvitationCube,
    ResponseCube,
    ResponseDaily,
)
from surveys.models import Response
from tests.metrics.conftest import TODAY, answer, conversation, make_customer, make_survey

pytestmark = pytest.mark.django_db

ANSWERS = st.lists(
    st.tuples(
        st.sampled_from(["nps", "csat", "ces_low"]),
        st.integers(0, 10),
        st.sampled_from(["en", "nl"]),
        st.sampled_from(["email", "sms"]),
        st.sampled_from(["", "gold"]),
        st.integers(0, 130),  # days ago: March to June
        st.sampled_from([None, 0, 1]),  # the agent (and their team) of the response, if any
    ),
    min_size=3,
    max_size=16,
)
CONVERSATIONS = st.lists(
    st.tuples(
        st.sampled_from(["email", "sms"]),
        st.integers(0, 130),
        st.one_of(st.none(), st.integers(0, 3 * 86400)),
        st.one_of(st.none(), st.integers(0, 9 * 86400)),
        st.sampled_from([None, 0, 1]),
    ),
    min_size=2,
    max_size=10,
)
PERIODS = [
    {"period": "7d"},
    {"period": "30d"},
    {"period": "90d"},
    {"period": "365d"},
    {"from": "2026-03-01", "to": "2026-05-31"},  # whole months only
    {"from": "2026-02-14", "to": "2026-04-30"},  # a partial month, then whole ones
    {"from": "2026-04-01", "to": "2026-06-17"},  # whole months, then a partial one
    {"from": "2026-04-03", "to": "2026-04-29"},  # inside one month
]
SLICES = st.fixed_dictionaries(
    {},
    optional={
        "channel": st.sampled_from(["email", "sms"]),
        "language": st.sampled_from(["en", "nl"]),
        "attribute": st.just("plan"),
        "who": st.sampled_from(["team", "agent"]),
        "survey": st.just("nps"),
    },
)


def _read(f) -> dict:
    return {
        "overview": selectors.overview(f).figures,
        "trend": selectors.trend(f),
        "breakdowns": {by: selectors.breakdown(f, by) for by in selectors.BREAKDOWNS},
        "visit_intent": selectors.visit_intent(f),
    }


def _cubes() -> dict[str, list]:
    return {
        model.__name__: sorted(
            tuple(v for k, v in row.items() if k != "id") for row in model.objects.values()
        )
        for model in (ResponseCube, InvitationCube, ConversationCube, CustomerCube)
    }


@pytest.fixture
def world(cx_lead, agent, care_team, channel_accounts):
    surveys = {
        "nps": make_survey("nps", cx_lead),
        "csat": make_survey("csat", cx_lead),
        "ces_low": make_survey("ces", cx_lead, good_end="low"),
    }
    return {"surveys": surveys, "agents": [agent, cx_lead], "team": care_team}


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    answers=ANSWERS,
    talks=CONVERSATIONS,
    slices=SLICES,
    grain=st.sampled_from(["day", "week", "month"]),
    since=st.integers(0, 130),
)
def test_the_cubes_give_the_figures_of_the_daily_rows(
    world, channel_accounts, answers, talks, slices, grain, since
):
    Response.objects.all().delete()
    Conversation.objects.all().delete()
    Customer.objects.all().delete()
    agents, team = world["agents"], world["team"]
    for kind, score, language, channel, plan, days_ago, who in answers:
        low, high = (1, 7) if kind == "ces_low" else (1, 5) if kind == "csat" else (0, 10)
        response = answer(
            world["surveys"][kind],
            make_customer(attributes={"plan": plan} if plan else {}),
            min(max(score, low), high),
            TODAY - dt.timedelta(days=days_ago),
            language=language,
            channel=channel,
        )
        if who is not None:
            Response.objects.filter(pk=response.pk).update(team=team, agent=agents[who])
    for channel, days_ago, frt, handling, who in talks:
        conversation(
            channel_accounts[channel],
            make_customer(language="nl", attributes={"plan": "gold"}),
            TODAY - dt.timedelta(days=days_ago),
            first_response=frt,
            handling=handling,
            team=team if who is not None else None,
            assignee=agents[who] if who is not None else None,
        )
    call_command("rebuild_rollups", stdout=open("/dev/null", "w"))  # noqa: SIM115

    params = {k: v for k, v in slices.items() if k not in ("attribute", "who", "survey")}
    if "attribute" in slices:
        params.update(attribute="plan", value="gold")
    if slices.get("who") == "team":
        params["team"] = str(team.pk)
    elif slices.get("who") == "agent":
        params["agent"] = str(agents[0].pk)
    if "survey" in slices:
        params["survey"] = str(world["surveys"]["nps"].pk)
    for period in PERIODS:
        f = filters_parse({**params, **period, "grain": grain}, today=TODAY)
        assert not f.errors
        from_cubes = _read(f)
        with mock.patch.object(reads, "CUBE_OF", {}):
            from_days = _read(f)
        assert from_cubes == from_days, (period, params, grain)

    # A refresh from any day (the months it falls in read back from the stored day rows) leaves
    # the cubes as the rebuild wrote them.
    rebuilt = _cubes()
    services.rollups_refresh(since=TODAY - dt.timedelta(days=since))
    assert _cubes() == rebuilt


def test_the_cubes_are_much_smaller_than_the_daily_rows(world, channel_accounts):
    """Twenty responses a day on one survey, channel and language, each with one of ten agents:
    the daily rollup keeps a row per agent and day, the coarse cube one row per day, and a whole
    month is one row."""
    customer = make_customer()
    nps = world["surveys"]["nps"]
    for days_ago in range(30):
        for i in range(3):
            response = answer(nps, customer, i * 4, TODAY - dt.timedelta(days=days_ago))
            Response.objects.filter(pk=response.pk).update(agent=world["agents"][i % 2])
    services.rollups_rebuild()
    daily = ResponseDaily.objects.filter(attribute="").count()
    coarse = ResponseCube.objects.filter(attribute="", cube="c")
    assert daily == 60  # two agents a day
    assert coarse.filter(span="d").count() == 30
    assert coarse.filter(span="m").count() == 1  # June
    f = filters_parse({"from": "2026-06-01", "to": "2026-06-30"}, today=TODAY)
    assert selectors.overview(f).figure("nps").n == 90


def test_the_migration_makes_the_touchpoint_cube_a_rebuild_would(world, channel_accounts):
    """Migration 0009 sums the touchpoint cube ("t") of the coarse one ("c") already stored, so
    the journey dashboards have its rows before the next rebuild: the very rows a rebuild
    writes, whatever part of them a new process wrote before the migration ran."""
    journey = journey_save(name="Online shop")
    stage = stage_save(journey=journey, name="Buy")
    touchpoints = [
        touchpoint_save(stage=stage, name=name, key=f"order.{name}", channel="web")
        for name in ("placed", "paid")
    ]
    for days_ago in range(0, 70, 3):
        for i, (kind, channel, language) in enumerate(
            [("nps", "email", "en"), ("nps", "sms", "nl"), ("csat", "email", "nl")]
        ):
            answer(
                world["surveys"][kind],
                make_customer(attributes={"plan": "gold"} if i else {}),
                (days_ago + i) % 5 + 1,
                TODAY - dt.timedelta(days=days_ago),
                language=language,
                channel=channel,
                touchpoint=touchpoints[(days_ago + i) % 2],
            )
    services.rollups_rebuild()
    rebuilt = _cubes()
    assert ResponseCube.objects.filter(cube="t", span="m").exists()
    # Before the migration: the month rows missing, the day rows a new process may have written.
    ResponseCube.objects.filter(cube="t", span="m").delete()
    InvitationCube.objects.filter(cube="t", span="m").delete()

    migration = importlib.import_module("metrics.migrations.0009_touchpoint_cube_team_indexes")
    with connection.schema_editor() as editor:
        migration.touchpoint_cube(apps, editor)
    assert _cubes() == rebuilt

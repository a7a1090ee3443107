from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from cxm.accounts.models import Role
from inbox import services
from inbox.channels.base import InboundMessage
from inbox.models import Conversation, Holiday, SlaPolicy, SlaTarget
from inbox.sla import BusinessHours, add_business_minutes
from tests.conftest import make_user

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")


def _at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=AMS)


def test_business_minutes_skip_nights_weekends_and_holidays():
    hours = BusinessHours(holidays=frozenset({dt.date(2026, 12, 25)}))
    friday_late = _at(2026, 11, 20, 16, 30)
    assert add_business_minutes(friday_late, 60, hours) == _at(2026, 11, 23, 9, 30).astimezone(
        dt.UTC
    )
    saturday = _at(2026, 11, 21, 12, 0)
    assert add_business_minutes(saturday, 30, hours) == _at(2026, 11, 23, 9, 30).astimezone(dt.UTC)
    before_christmas = _at(2026, 12, 24, 16, 0)
    assert add_business_minutes(before_christmas, 120, hours) == _at(
        2026, 12, 28, 10, 0
    ).astimezone(dt.UTC)
    assert add_business_minutes(friday_late, 60, None) == friday_late + dt.timedelta(hours=1)


@pytest.mark.django_db
def test_due_times_follow_the_conversation(accounts, care_team, agent):
    policy = SlaPolicy.objects.create(name="Care", team=care_team, business_hours_only=False)
    SlaTarget.objects.create(
        policy=policy,
        priority=2,
        first_response_minutes=60,
        next_response_minutes=120,
        resolution_minutes=1440,
    )
    SlaTarget.objects.create(
        policy=policy,
        priority=4,
        first_response_minutes=15,
        next_response_minutes=30,
        resolution_minutes=240,
    )
    Holiday.objects.create(day=dt.date(2026, 12, 25), name="Christmas")
    services.message_receive(
        inbound=InboundMessage(
            provider="t",
            provider_id="1",
            channel="sms",
            from_address="+31612345678",
            to_address=accounts["sms"].address,
            text="Help",
        )
    )
    conversation = Conversation.objects.get()
    start = conversation.first_customer_message_at
    assert conversation.first_response_due_at == start + dt.timedelta(minutes=60)
    assert conversation.sla_due_at == conversation.first_response_due_at
    services.conversation_set_priority(conversation=conversation, priority=4)
    conversation.refresh_from_db()
    assert conversation.first_response_due_at == start + dt.timedelta(minutes=15)

    services.reply_send(conversation=conversation, author=agent, text="On it")
    conversation.refresh_from_db()
    assert conversation.first_response_due_at is None and conversation.next_response_due_at is None
    assert conversation.sla_due_at == conversation.resolution_due_at

    services.message_receive(
        inbound=InboundMessage(
            provider="t",
            provider_id="2",
            channel="sms",
            from_address="+31612345678",
            to_address=accounts["sms"].address,
            text="Any news?",
        )
    )
    conversation.refresh_from_db()
    assert (
        conversation.next_response_due_at is not None
        and conversation.sla_due_at == conversation.next_response_due_at
    )

    services.conversation_set_status(conversation=conversation, status="resolved", by=agent)
    conversation.refresh_from_db()
    assert conversation.sla_due_at is None


@pytest.mark.django_db
def test_breached_conversations_float_up_and_the_sla_view_lists_them(client, accounts, care_team):
    from journeys.services import customers_upsert

    cora = make_user(Role.AGENT, "cora@example.com")
    care_team.members.add(cora)
    now = timezone.now()
    made = []
    for n, due in enumerate(
        [
            None,
            now - dt.timedelta(minutes=5),
            now + dt.timedelta(minutes=10),
            now + dt.timedelta(days=1),
        ]
    ):
        customer = customers_upsert([{"external_id": f"S{n}"}])[0].customer
        made.append(
            Conversation.objects.create(
                customer=customer,
                channel_account=accounts["sms"],
                channel="sms",
                subject=f"c{n}",
                team=care_team,
                last_message_at=now - dt.timedelta(hours=n),
                sla_due_at=due,
            )
        )
    client.force_login(cora)
    page = client.get(reverse("inbox:list", args=["unassigned"]))
    rows = page.context["page"]
    assert [c.subject for c in rows.breached] == ["c1"]
    assert [c.subject for c in rows.conversations] == ["c0", "c2", "c3"]
    html = page.content.decode()
    assert 'data-sla="breached"' in html and 'data-sla="at_risk"' in html
    sla = client.get(reverse("inbox:list", args=["sla"])).context["page"]
    assert [c.subject for c in sla.conversations] == ["c1", "c2"]

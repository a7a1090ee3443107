from __future__ import annotations

import pytest
from django.urls import reverse

from cxm.accounts.models import Role
from inbox import services
from inbox.channels.base import InboundMessage
from inbox.models import AgentSetting, Conversation
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _sms(accounts, n: int):
    return services.message_receive(
        inbound=InboundMessage(
            provider="t",
            provider_id=f"r{n}",
            channel="sms",
            from_address=f"+3161234{n:04d}",
            to_address=accounts["sms"].address,
            text="hi",
        )
    )


def test_round_robin_skips_away_and_full_agents(client, accounts, care_team, admin_user):
    a, b, c = (
        make_user(Role.AGENT, f"{x}@example.com", name=x.title()) for x in ("amy", "bob", "cas")
    )
    care_team.members.add(a, b, c)
    client.force_login(admin_user)
    client.post(reverse("inbox:team-routing", args=[care_team.pk]), {"auto_assign": "1"})
    client.force_login(b)
    client.post(reverse("inbox:availability"), {"available": "0"})
    AgentSetting.objects.create(user=c, max_open=1)
    owners = [_sms(accounts, n).conversation.assignee for n in range(4)]
    # b is away; c takes one, then is full; a takes the rest.
    assert [o.email for o in owners] == [
        "amy@example.com",
        "cas@example.com",
        "amy@example.com",
        "amy@example.com",
    ]
    assert Conversation.objects.filter(assignee__isnull=True).count() == 0


def test_without_routing_new_conversations_wait_unassigned(accounts, care_team):
    care_team.members.add(make_user(Role.AGENT, "amy@example.com"))
    assert _sms(accounts, 1).conversation.assignee is None

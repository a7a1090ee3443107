from __future__ import annotations

import pytest
from django.urls import reverse

from cxm.accounts.models import Role
from inbox.models import ChannelAccount, Conversation, InboundEvent, Message
from journeys.models import Interaction
from journeys.services import customers_upsert
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_an_agent_logs_a_call_into_a_new_phone_conversation(client, agent):
    customer = customers_upsert([{"phone": "+31612345678", "name": "Piet"}])[0].customer
    client.force_login(agent)
    response = client.post(
        reverse("inbox:call-log", args=[customer.pk]),
        {
            "direction": "in",
            "duration_minutes": "4.5",
            "outcome": "resolved",
            "notes": "Asked about delivery.\nAll fine.",
        },
    )
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.channel == "phone" and message.data["call"] == {
        "direction": "in",
        "duration_seconds": 270,
        "outcome": "resolved",
    }
    conversation = message.conversation
    assert conversation.subject == "Asked about delivery." and conversation.assignee == agent
    assert Interaction.objects.get(kind="call.logged").customer == customer
    bad = client.post(
        reverse("inbox:call-log", args=[customer.pk]),
        {"direction": "sideways", "duration_minutes": "-1", "outcome": "resolved"},
    )
    assert bad.status_code == 200 and Message.objects.count() == 1


def test_the_api_channel_stores_once_per_external_id(api_client, agent, captured_jobs):
    account = ChannelAccount.objects.create(kind="api", name="Shop backend", address="shop-backend")
    api_client.force_authenticate(agent)
    body = {
        "channel_account": account.pk,
        "customer": {"email": "ann@example.com", "name": "Ann"},
        "text": "Return request",
        "external_id": "ret-77",
    }
    first = api_client.post("/api/v1/inbox/messages/", body, format="json")
    again = api_client.post("/api/v1/inbox/messages/", body, format="json")
    assert (first.status_code, first.json()["status"]) == (202, "queued")
    assert (again.status_code, again.json()["status"]) == (202, "duplicate")
    captured_jobs.run_all()
    conversation = Conversation.objects.get()
    assert conversation.channel == "api" and conversation.customer.email == "ann@example.com"
    assert InboundEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer": {"email": "a@example.com"}, "text": "x"}, "channel_account"),
        (
            {"channel_account": 999, "customer": {"email": "a@example.com"}, "text": "x"},
            "channel_account",
        ),
        ({"channel_account": 0, "customer": {"email": "nope"}, "text": "x"}, "customer.email"),
        ({"channel_account": 0, "customer": {"email": "a@example.com"}}, "text"),
        (
            {"channel_account": 0, "customer": {"email": "a@example.com"}, "text": "x", "extra": 1},
            "extra",
        ),
    ],
)
def test_the_api_channel_names_bad_fields(api_client, agent, body, field):
    account = ChannelAccount.objects.create(kind="api", name="Shop backend", address="shop-backend")
    if body.get("channel_account") == 0:
        body = {**body, "channel_account": account.pk}
    api_client.force_authenticate(agent)
    response = api_client.post("/api/v1/inbox/messages/", body, format="json")
    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}


def test_admins_manage_channels_and_agents_cannot(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("inbox:channel-create"),
        {
            "kind": "sms",
            "name": "Shop SMS",
            "address": "+3197010000099",
            "provider": "twilio",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert ChannelAccount.objects.get().name == "Shop SMS"
    assert "Shop SMS" in client.get(reverse("inbox:channel-list")).content.decode()
    client.force_login(make_user(Role.AGENT))
    assert client.get(reverse("inbox:channel-list")).status_code == 403


def test_the_channels_page_has_one_routing_table_and_a_short_title(client, admin_user):
    client.force_login(admin_user)
    html = client.get(reverse("inbox:channel-list")).content.decode()
    assert html.count("<h2>Routing</h2>") == 1
    title = html.split("<title>")[1].split("</title>")[0]
    assert title.strip() == "Channels · cxm"

from __future__ import annotations

import json

import pytest

from inbox import services
from inbox.models import ChannelAccount, Conversation
from journeys.models import Customer
from journeys.services import customers_upsert

pytestmark = pytest.mark.django_db

ORIGIN = "https://shop.example.com"


@pytest.fixture
def site(care_team):
    return ChannelAccount.objects.create(
        kind="webchat", name="Shop chat", address=ORIGIN, team=care_team
    )


def _post(client, site, path, body, origin=ORIGIN):
    return client.post(
        f"/chat/{site.public_key}/{path}/",
        json.dumps(body),
        content_type="application/json",
        HTTP_ORIGIN=origin,
    )


def test_a_visitor_chats_and_reads_the_agents_answer(client, site, agent):
    start = _post(client, site, "session", {})
    assert start.status_code == 200 and start["Access-Control-Allow-Origin"] == ORIGIN
    token = start.json()["token"]
    assert len(token) >= 22
    assert (
        _post(
            client, site, "messages", {"token": token, "text": "Do you deliver on Sundays?"}
        ).status_code
        == 201
    )
    conversation = Conversation.objects.get()
    assert conversation.channel == "webchat" and conversation.team == site.team
    services.reply_send(conversation=conversation, author=agent, text="Only on Saturdays.")
    messages = client.get(
        f"/chat/{site.public_key}/messages/", {"token": token, "after": 0}, HTTP_ORIGIN=ORIGIN
    ).json()["messages"]
    assert [(m["from"], m["text"]) for m in messages] == [
        ("visitor", "Do you deliver on Sundays?"),
        ("agent", "Only on Saturdays."),
    ]
    later = client.get(
        f"/chat/{site.public_key}/messages/", {"token": token, "after": messages[0]["id"]}
    ).json()["messages"]
    assert [m["text"] for m in later] == ["Only on Saturdays."]
    resumed = _post(client, site, "session", {"token": token}).json()["token"]
    assert resumed == token


def test_other_origins_get_no_cors_and_bad_input_is_named(client, site):
    response = client.options(
        f"/chat/{site.public_key}/session/", HTTP_ORIGIN="https://evil.example.com"
    )
    assert response.status_code == 403 and "Access-Control-Allow-Origin" not in response
    token = _post(client, site, "session", {}).json()["token"]
    assert (
        _post(client, site, "messages", {"token": token, "text": "  "}).json()["errors"][0]["field"]
        == "text"
    )
    assert _post(client, site, "messages", {"token": token, "text": "x" * 5000}).status_code == 400
    assert _post(client, site, "messages", {"token": "forged", "text": "hi"}).status_code == 403
    assert (
        client.post(
            f"/chat/{site.public_key}/messages/", "{nope", content_type="application/json"
        ).status_code
        == 400
    )
    assert (
        client.post("/chat/unknown-key/session/", "{}", content_type="application/json").status_code
        == 404
    )


def test_leaving_an_email_makes_the_visitor_a_known_customer(client, site, agent):
    token = _post(client, site, "session", {}).json()["token"]
    _post(client, site, "messages", {"token": token, "text": "Hello"})
    assert (
        _post(client, site, "contact", {"token": token, "email": "not-an-email"}).status_code == 400
    )
    assert (
        _post(
            client, site, "contact", {"token": token, "email": "NEW@example.com", "name": "Nia"}
        ).status_code
        == 200
    )
    conversation = Conversation.objects.get()
    assert conversation.customer.email == "new@example.com" and Customer.objects.count() == 1
    # Now the agent can also answer by email.
    message = services.reply_send(
        conversation=conversation, author=agent, text="We emailed you too.", channel="email"
    )
    assert message.to_address == "new@example.com"


def test_a_visitor_cannot_claim_someone_elses_customer_record(client, site):
    existing = customers_upsert([{"email": "ceo@example.com", "name": "The CEO"}])[0].customer
    token = _post(client, site, "session", {}).json()["token"]
    _post(client, site, "messages", {"token": token, "text": "Send me the CEO's orders"})
    assert (
        _post(client, site, "contact", {"token": token, "email": "ceo@example.com"}).status_code
        == 200
    )
    conversation = Conversation.objects.get()
    assert conversation.customer_id != existing.pk
    assert (
        conversation.customer.attributes["claimed_email"] == "ceo@example.com"
        and conversation.customer.email == ""
    )

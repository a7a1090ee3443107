from __future__ import annotations

import json

import pytest

from inbox.models import ChannelAccount, Conversation

pytestmark = pytest.mark.django_db

ORIGIN = "https://shop.example.com"


@pytest.fixture
def site(care_team):
    return ChannelAccount.objects.create(
        kind="webform", name="Shop contact", address=ORIGIN, team=care_team
    )


def test_the_contact_page_turns_into_a_conversation(client, site, captured_jobs):
    page = client.get(f"/contact/{site.public_key}/")
    assert page.status_code == 200 and "Contact us" in page.content.decode()
    bad = client.post(
        f"/contact/{site.public_key}/", {"name": "Ann", "email": "nope", "message": "Hi"}
    )
    assert "Enter a valid email address." in bad.content.decode()
    ok = client.post(
        f"/contact/{site.public_key}/",
        {"name": "Ann Smit", "email": "Ann@Example.com", "subject": "Delivery", "message": "When?"},
    )
    assert "Thank you" in ok.content.decode()
    captured_jobs.run_all()
    conversation = Conversation.objects.get()
    assert (
        conversation.channel == "webform"
        and conversation.customer.email == "ann@example.com"
        and conversation.team == site.team
    )


def test_the_embedded_form_posts_from_the_sites_origin(client, site, captured_jobs):
    url = f"/contact/{site.public_key}/submit/"
    bad = client.post(
        url,
        json.dumps({"name": "Ann", "email": "x", "message": ""}),
        content_type="application/json",
        HTTP_ORIGIN=ORIGIN,
    )
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {
        "email",
        "message",
    }
    ok = client.post(
        url,
        json.dumps({"name": "Ann", "email": "ann@example.com", "message": "Hi", "lang": "nl"}),
        content_type="application/json",
        HTTP_ORIGIN=ORIGIN,
    )
    assert ok.status_code == 201 and ok["Access-Control-Allow-Origin"] == ORIGIN
    captured_jobs.run_all()
    assert Conversation.objects.get().channel == "webform"
    # A web-chat key is not a form key.
    chat = ChannelAccount.objects.create(kind="webchat", name="Chat", address=ORIGIN)
    assert (
        client.post(
            f"/contact/{chat.public_key}/submit/", "{}", content_type="application/json"
        ).status_code
        == 404
    )
    assert client.get(f"/contact/{chat.public_key}/").status_code == 404

"""Odd real-world emails through Mailgun's raw-MIME inbound webhook (signed), end to end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path

import pytest
from django.urls import reverse

from cxm.accounts.models import Role
from inbox.models import Message
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "email"
SIGNING_KEY = "mg-signing-key"


@pytest.fixture
def mailgun(settings):
    settings.ANYMAIL = {
        "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
        "WEBHOOK_SECRET": "hooks:s3cret-value",
    }


def _post(client, name: str, *, key: str = SIGNING_KEY):
    # The fixtures are ASCII but for the deliberately broken one, whose bytes pass as Latin-1.
    raw = (FIXTURES / name).read_bytes().decode("latin-1")
    timestamp, token = str(int(time.time())), hashlib.sha256(name.encode()).hexdigest()
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    auth = "Basic " + base64.b64encode(b"hooks:s3cret-value").decode()
    form = {"body-mime": raw, "recipient": "support@shop.example.com", "sender": "x@example.com"}
    form.update(timestamp=timestamp, token=token, signature=signature)
    return client.post("/anymail/mailgun/inbound/", form, HTTP_AUTHORIZATION=auth)


@pytest.mark.parametrize(
    "name",
    [
        "nested_rfc2047.eml",
        "broken_encoding.eml",
        "huge_header.eml",
        "missing_parts.eml",
        "script_payloads.eml",
        "bounce.eml",
    ],
)
def test_odd_emails_are_stored_with_what_can_be_read(
    client, accounts, mailgun, captured_jobs, name
):
    response = _post(client, name)
    assert response.status_code == 200, response.content
    captured_jobs.run_all()
    message = Message.objects.get()
    assert message.conversation.channel == "email"
    if name == "nested_rfc2047.eml":
        assert (
            message.subject == "Bestellung über 100 €" and "wo ist meine Bestellung" in message.text
        )
        assert "<script" not in message.html and [
            a.filename for a in message.attachments.all()
        ] == ["rechnung.pdf"]
        assert message.conversation.customer.name == "Jörg Müller"
    if name == "broken_encoding.eml":
        assert "broken" in message.text and message.subject.startswith("caf")
    if name == "huge_header.eml":
        assert message.text.strip() == "Still readable."
    if name == "missing_parts.eml":
        assert "Only this part" in message.text
    if name == "bounce.eml":
        assert message.is_auto_reply


def test_script_payloads_render_inert_for_agents(
    client, accounts, mailgun, captured_jobs, care_team
):
    _post(client, "script_payloads.eml")
    captured_jobs.run_all()
    message = Message.objects.get()
    for bad in ("javascript:", "<iframe", "<style", "style=", "onerror", "onload"):
        assert bad not in message.html
    agent = make_user(Role.AGENT, "care2@example.com")
    care_team.members.add(agent)
    client.force_login(agent)
    page = client.get(
        reverse("inbox:conversation", args=[message.conversation_id])
    ).content.decode()
    assert (
        "<script>alert(1)</script>" not in page
        and "<img src=x onerror" not in page
        and "<svg onload" not in page
    )


def test_a_wrong_mailgun_signature_stores_nothing(client, accounts, mailgun):
    assert _post(client, "bounce.eml", key="another-key").status_code == 400
    assert not Message.objects.exists()

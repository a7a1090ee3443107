"""Sending surveys end to end: the real worker, real anymail and twilio clients to stub servers."""

from __future__ import annotations

import datetime as dt
import re
import urllib.request
from urllib.parse import urlencode, urlparse

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from twilio.request_validator import RequestValidator

from cxm.accounts.models import Role
from inbox.models import ChannelAccount, Suppression
from journeys.services import customer_create
from surveys import services
from surveys.models import Distribution, Invitation, Response
from surveys.services import distribution as distribution_services
from tests.conftest import (
    PROVIDER_TOKENS,
    assert_accessible,
    make_user,
    screenshot,
    sign_in,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _emails_to(stub, address: str) -> list[dict]:
    return [
        r.json()
        for r in stub.requests
        if r.path.endswith("/email") and r.json().get("To") == address
    ]


def _sms_to(stub, number: str) -> list[dict]:
    return [
        r.form() for r in stub.requests if "Messages" in r.path and r.form().get("To") == number
    ]


def test_lead_sends_by_email_and_sms_and_customers_answer(
    page, browser, live_server, live_providers, celery_worker, provider_stubs, no_csp_violations
):
    lead = make_user(Role.CX_LEAD, "lead@example.com")
    ChannelAccount.objects.create(
        kind="sms", name="Surveys SMS", address="+3197010000077", provider="twilio"
    )
    survey = services.survey_create(
        name="Relationship NPS", kind="nps", default_language="en", languages=["nl"], by=lead
    )
    survey = services.survey_status_change(survey=survey, status="active", by=lead)
    ann = customer_create(name="Ann Smit", email="ann@example.nl", language="nl")
    customer_create(name="Bas Bakker", email="bas@example.nl", language="nl")
    optout = customer_create(name="Olga", email="olga@example.nl", language="nl")
    Suppression.objects.create(channel="email", address="olga@example.nl", reason="opt_out")
    recent = customer_create(name="Rik", email="rik@example.nl", language="nl")
    distribution_services.invitation_request(survey=survey, customer=recent)
    sam = customer_create(name="Sam", phone="+31612340001", preferred_channel="sms", language="en")

    sign_in(page, live_server, lead.email)
    page.goto(f"{live_server.url}/surveys/{survey.pk}/")
    page.get_by_role("button", name="Send by email, SMS or WhatsApp").click()
    assert_accessible(page)
    page.get_by_label("Name").fill("Dutch customers by email")
    page.get_by_label("A segment").check()
    page.get_by_label("Segment: language").select_option("nl")
    page.get_by_role("button", name="Review and create").click()
    page.get_by_role("button", name="Start sending").click()
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "done", timeout=20000)
    expect(page.locator("[data-count='invited']")).to_have_text("2")
    expect(page.locator("[data-count='sent']")).to_have_text("2", timeout=20000)
    reasons = page.locator("table.reasons").first
    expect(reasons).to_contain_text("Opted out")
    expect(reasons).to_contain_text("Invited recently")
    screenshot(page, "distribution-email-progress")
    assert_accessible(page)

    # Ann taps 9 in her email (as the stub ESP received it) on her phone.
    email = wait_for(lambda: _emails_to(provider_stubs["postmark"], "ann@example.nl"))[-1]
    headers = {h["Name"]: h["Value"] for h in email["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    nine = re.search(r'href="([^"]+\?score=9)"', email["HtmlBody"]).group(1)
    phone = browser.new_context(**PHONE)
    answer = phone.new_page()
    answer.goto(live_server.url + urlparse(nine).path + "?score=9")
    answer.get_by_label("Wat vond u het beste?").fill("De snelle levering")
    answer.get_by_role("button", name="Versturen").click()
    expect(answer.get_by_role("heading", level=1)).to_contain_text("Bedankt")
    phone.close()
    assert Response.objects.get(customer=ann).score == 9

    # A second distribution by SMS, answered by replying "9".
    page.goto(f"{live_server.url}/surveys/{survey.pk}/distributions/new/")
    page.get_by_label("Name").fill("SMS customers")
    page.get_by_label("A segment").check()
    page.get_by_label("Segment: preferred channel").select_option("sms")
    page.get_by_role("group", name="Channels, in this order of preference").get_by_label(
        "Email"
    ).uncheck()
    page.get_by_role("group", name="Channels, in this order of preference").get_by_label(
        "SMS"
    ).check()
    page.get_by_label("SMS and WhatsApp: ask the first question").check()
    page.get_by_role("button", name="Review and create").click()
    page.get_by_role("button", name="Start sending").click()
    expect(page.locator("[data-count='sent']")).to_have_text("1", timeout=20000)
    question = wait_for(lambda: _sms_to(provider_stubs["twilio"], sam.phone))[-1]
    assert "Reply with a number from 0 to 10" in question["Body"]
    reply = {
        "MessageSid": "SMreply9",
        "From": sam.phone,
        "To": "+3197010000077",
        "Body": "9",
        "NumMedia": "0",
    }
    url = f"{live_server.url}/inbox/twilio/inbound/"
    signature = RequestValidator(PROVIDER_TOKENS["twilio"]).compute_signature(url, reply)
    request = urllib.request.Request(
        url,
        data=urlencode(reply).encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answered:
        assert answered.status == 200
    wait_for(lambda: Response.objects.filter(customer=sam, score=9).exists())
    follow_up = wait_for(
        lambda: [
            m for m in _sms_to(provider_stubs["twilio"], sam.phone) if "like most" in m["Body"]
        ]
    )
    assert follow_up
    screenshot(page, "distribution-sms-progress")

    # A reminder goes to those who have not answered (Bas), on the same channel.
    first = Distribution.objects.get(name="Dutch customers by email")
    Distribution.objects.filter(pk=first.pk).update(reminder_days=2)
    Invitation.objects.filter(distribution=first).update(
        send_at=timezone.now() - dt.timedelta(days=3)
    )
    assert distribution_services.reminders_send() == 1
    reminder = wait_for(
        lambda: [
            e
            for e in _emails_to(provider_stubs["postmark"], "bas@example.nl")
            if "Herinnering" in e["Subject"] or "Reminder" in e["Subject"]
        ]
    )
    assert reminder
    page.goto(f"{live_server.url}/surveys/distributions/{first.pk}/")
    expect(page.locator("[data-count='responded']")).to_have_text("1")
    expect(page.locator("[data-count='reminders']")).to_have_text("1")
    expect(page.locator("[data-count='clicked']")).to_have_text("1")
    screenshot(page, "distribution-after-reminder")
    assert not Invitation.objects.filter(customer=optout, status="queued").exists()


def test_a_touchpoint_event_posted_to_the_api_invites_after_its_delay(
    live_server, live_providers, celery_worker, provider_stubs
):
    import json

    from cxm.accounts.services import api_token_create
    from journeys import services as journeys

    lead = make_user(Role.CX_LEAD, "lead2@example.com")
    survey = services.survey_create(
        name="Delivery CES", kind="ces", default_language="en", languages=[], by=lead
    )
    survey = services.survey_status_change(survey=survey, status="active", by=lead)
    journey = journeys.journey_save(name="Buying")
    stage = journeys.stage_save(journey=journey, name="Delivery")
    delivered = journeys.touchpoint_save(
        stage=stage, name="Order delivered", key="order.delivered", channel="phone"
    )
    distribution_services.trigger_rule_save(
        survey=survey,
        touchpoint=delivered,
        kind="",
        delay_minutes=1,
        sample_percent=100,
        channels=["email"],
    )
    customer_create(name="Tess", email="tess@example.com")
    token = api_token_create(user=lead, name="shop").secret
    body = json.dumps(
        {
            "kind": "order.delivered",
            "touchpoint": "order.delivered",
            "customer": {"email": "tess@example.com"},
        }
    )
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/interactions/",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as posted:
        assert posted.status in (200, 201)
    invitation = wait_for(
        lambda: Invitation.objects.filter(customer__email="tess@example.com").first()
    )
    assert invitation.status == "planned" and invitation.send_at > timezone.now()
    # A minute later beat's dispatch sends it; here the minute passes at once.
    Invitation.objects.filter(pk=invitation.pk).update(send_at=timezone.now())
    assert distribution_services.invitations_dispatch() == 1
    email = wait_for(lambda: _emails_to(provider_stubs["postmark"], "tess@example.com"))[-1]
    assert f"/s/{invitation.token}/" in email["HtmlBody"]

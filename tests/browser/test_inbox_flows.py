"""The inbox end to end: real webhooks, the real worker, real anymail/twilio clients to stubs."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest
from playwright.sync_api import expect
from twilio.request_validator import RequestValidator

from cxm.accounts import services as account_services
from cxm.accounts.models import Role
from inbox.models import ChannelAccount, Conversation, Delivery
from tests.conftest import (
    PROVIDER_TOKENS,
    assert_accessible,
    make_user,
    screenshot,
    sign_in,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _post(url: str, data: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


@pytest.fixture
def care(db):
    team = account_services.team_save(team=None, name="Customer Care", description="", members=[])
    agent = make_user(Role.AGENT, "cora@example.com", name="Cora Care")
    team.members.add(agent)
    ChannelAccount.objects.create(
        kind="email",
        name="Support mail",
        address="support@shop.example.com",
        provider="postmark",
        team=team,
    )
    ChannelAccount.objects.create(
        kind="sms", name="Support SMS", address="+3197010000000", provider="twilio", team=team
    )
    return agent


def test_sms_and_email_land_in_unassigned_and_an_agent_answers(
    page, live_server, live_providers, celery_worker, care, no_csp_violations
):
    from urllib.parse import urlencode

    sms = {
        "MessageSid": "SMb1",
        "From": "+31612345678",
        "To": "+3197010000000",
        "Body": "Is my sofa coming today?",
        "NumMedia": "0",
    }
    signature = RequestValidator(PROVIDER_TOKENS["twilio"]).compute_signature(
        f"{live_server.url}/inbox/twilio/inbound/", sms
    )
    assert (
        _post(
            f"{live_server.url}/inbox/twilio/inbound/",
            urlencode(sms).encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        )
        == 200
    )
    email = {
        "From": "ann@example.com",
        "FromFull": {"Email": "ann@example.com", "Name": "Ann Smit"},
        "To": "support@shop.example.com",
        "ToFull": [{"Email": "support@shop.example.com", "Name": ""}],
        "OriginalRecipient": "support@shop.example.com",
        "Subject": "Invoice <img src=x onerror=alert(1)>",
        "MessageID": "pm-b1",
        "TextBody": "Please send the invoice.",
        "HtmlBody": "<p>Please send the <b>invoice</b>.</p><script>document.title='pwned'</script>",
        "Headers": [{"Name": "Message-ID", "Value": "<ann-1@mail.example.com>"}],
        "Attachments": [],
    }
    auth = "Basic " + base64.b64encode(PROVIDER_TOKENS["webhook"].encode()).decode()
    assert (
        _post(
            f"{live_server.url}/anymail/postmark/inbound/",
            json.dumps(email).encode(),
            {"Content-Type": "application/json", "Authorization": auth},
        )
        == 200
    )
    wait_for(lambda: Conversation.objects.count() == 2, timeout=30)

    sign_in(page, live_server, care.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    rows = page.locator(".conversation-table tbody tr")
    expect(rows).to_have_count(2)
    assert_accessible(page)
    screenshot(page, "inbox-unassigned")

    page.get_by_role("link", name="Invoice").click()
    expect(page.locator(".message-html")).to_contain_text("Please send the invoice.")
    assert page.title() != "pwned"
    page.get_by_role("button", name="Assign to me").click()
    page.get_by_label("Reply").fill("Here it is, Ann.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".flash")).to_contain_text("on its way")
    wait_for(lambda: Delivery.objects.filter(status="sent").exists(), timeout=30)
    sent = live_providers["postmark"].requests[-1].json()
    headers = {h["Name"]: h["Value"] for h in sent["Headers"]}
    assert sent["To"] == "ann@example.com" and headers["In-Reply-To"] == "<ann-1@mail.example.com>"
    assert sent["ReplyTo"].startswith("reply+")
    page.reload()
    expect(page.locator("[data-delivery-status]")).to_have_text("Sent")
    screenshot(page, "inbox-email-replied")

    page.get_by_role("link", name="Inbox").first.click()
    page.get_by_role("link", name="Is my sofa coming today?").click()
    page.get_by_label("Reply").fill("Yes, between 9 and 12.")
    page.get_by_role("button", name="Send reply").click()
    delivery = wait_for(
        lambda: Delivery.objects.filter(channel="sms", status="sent").first(), timeout=30
    )
    form = live_providers["twilio"].requests[-1].form()
    assert form["To"] == "+31612345678" and form["Body"] == "Yes, between 9 and 12."
    status = {
        "MessageSid": delivery.provider_message_id,
        "MessageStatus": "delivered",
        "To": "+31612345678",
    }
    signature = RequestValidator(PROVIDER_TOKENS["twilio"]).compute_signature(
        f"{live_server.url}/inbox/twilio/status/", status
    )
    assert (
        _post(
            f"{live_server.url}/inbox/twilio/status/",
            urlencode(status).encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        )
        == 204
    )
    wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status == "delivered", timeout=30)
    page.reload()
    expect(page.locator("[data-delivery-status]").last).to_have_text("Delivered")
    assert_accessible(page)
    screenshot(page, "inbox-sms-delivered")


def test_a_second_agent_sees_the_collision_warning(browser, live_server, care, no_csp_violations):
    from django.utils import timezone

    from inbox.models import Message
    from journeys.services import customers_upsert

    team = care.teams.get()
    second = make_user(Role.AGENT, "otto@example.com", name="Otto Other")
    team.members.add(second)
    customer = customers_upsert([{"email": "ann@example.com", "name": "Ann"}])[0].customer
    conversation = Conversation.objects.create(
        customer=customer,
        channel_account=ChannelAccount.objects.get(kind="email"),
        channel="email",
        subject="Broken leg of the table",
        team=team,
        last_message_at=timezone.now(),
    )
    Message.objects.create(
        conversation=conversation,
        direction="in",
        channel="email",
        text="One leg is broken.",
        created_at=timezone.now(),
    )

    first_page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    second_page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    url = f"{live_server.url}/inbox/conversations/{conversation.pk}/"
    sign_in(first_page, live_server, care.email)
    first_page.goto(url)
    sign_in(second_page, live_server, second.email)
    second_page.goto(url)
    expect(second_page.locator(".collision")).to_contain_text(
        "Cora Care is also viewing this conversation.", timeout=10_000
    )
    first_page.get_by_label("Reply").fill("I am on it")
    expect(second_page.locator(".collision")).to_contain_text(
        "Cora Care is typing a reply.", timeout=10_000
    )
    screenshot(second_page, "inbox-collision")

    # A new customer message appears without reloading.
    Message.objects.create(
        conversation=conversation,
        direction="in",
        channel="email",
        text="Also a scratch on the top.",
        created_at=timezone.now(),
    )
    expect(first_page.locator(".thread")).to_contain_text(
        "Also a scratch on the top.", timeout=10_000
    )


def test_a_web_chat_visitor_and_an_agent_talk_live(browser, live_server, care, no_csp_violations):
    """The widget embedded on another origin (a stub "shop" site), talking to cxm through CORS."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    shop_html = b""

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(shop_html)

        def log_message(self, *args: object) -> None:
            pass

    shop = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=shop.serve_forever, daemon=True).start()
    shop_origin = f"http://127.0.0.1:{shop.server_address[1]}"
    site = ChannelAccount.objects.create(
        kind="webchat", name="Shop chat", address=shop_origin, team=care.teams.get()
    )
    shop_html = (
        f'<!doctype html><html lang="nl"><head><title>Meubelshop</title></head><body><h1>Meubelshop</h1>'
        f'<script src="{live_server.url}/static/webchat/widget.js" data-cxm-site="{site.public_key}" defer></script></body></html>'
    ).encode()
    try:
        visitor = browser.new_context(viewport={"width": 1000, "height": 800}).new_page()
        visitor.goto(shop_origin + "/")
        visitor.get_by_role("button", name="Chat met ons").click()
        visitor.get_by_label("Typ je bericht").fill("Hebben jullie deze bank in het groen?")
        visitor.get_by_role("button", name="Versturen").click()
        expect(visitor.locator(".cxm-chat-visitor")).to_contain_text("in het groen")

        agent_page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
        sign_in(agent_page, live_server, care.email)
        agent_page.goto(f"{live_server.url}/inbox/unassigned/")
        agent_page.get_by_role("link", name="Hebben jullie deze bank").click()
        agent_page.get_by_label("Reply").fill("Ja, in drie tinten groen!")
        agent_page.get_by_role("button", name="Send reply").click()
        expect(visitor.locator(".cxm-chat-agent").last).to_contain_text(
            "Ja, in drie tinten groen!", timeout=10_000
        )
        screenshot(visitor, "webchat-visitor")

        visitor.get_by_label("Typ je bericht").fill("Top, dank je!")
        visitor.keyboard.press("Enter")
        expect(agent_page.locator(".thread")).to_contain_text("Top, dank je!", timeout=10_000)
        visitor.get_by_label("Je e-mailadres").fill("groen@example.com")
        visitor.get_by_role("button", name="Opslaan").click()
        expect(visitor.locator(".cxm-chat-note")).to_contain_text(
            "per e-mail"
        )  # answered in the page language
        assert Conversation.objects.get(channel="webchat").customer.email == "groen@example.com"
    finally:
        shop.shutdown()
        shop.server_close()


def test_keyboard_shortcuts_bulk_resolve_and_the_sms_counter(
    page, live_server, care, no_csp_violations
):
    from django.utils import timezone

    from inbox.models import Message
    from journeys.services import customers_upsert

    team = care.teams.get()
    sms = ChannelAccount.objects.get(kind="sms")
    made = []
    for n in range(3):
        customer = customers_upsert([{"phone": f"+3161234500{n}", "name": f"Klant {n}"}])[
            0
        ].customer
        conversation = Conversation.objects.create(
            customer=customer,
            channel_account=sms,
            channel="sms",
            subject=f"Vraag {n}",
            team=team,
            last_message_at=timezone.now(),
        )
        Message.objects.create(
            conversation=conversation,
            direction="in",
            channel="sms",
            text=f"Vraag {n}",
            created_at=timezone.now(),
        )
        made.append(conversation)
    sign_in(page, live_server, care.email)
    page.goto(f"{live_server.url}/inbox/unassigned/")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_be_visible()
    screenshot(page, "inbox-shortcuts")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator(".bulk-select:checked")).to_have_count(2)
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".flash")).to_contain_text("2 conversations updated")
    assert Conversation.objects.filter(status="resolved").count() == 2

    open_one = Conversation.objects.exclude(status="resolved").get()
    page.goto(f"{live_server.url}/inbox/conversations/{open_one.pk}/")
    page.get_by_label("Reply").fill("x" * 161)
    expect(page.locator("#segments")).to_have_text("161 characters · 2 SMS")
    page.get_by_label("Reply").fill("Café ☕")
    expect(page.locator("#segments")).to_have_text("6 characters · 1 SMS")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("e")
    expect(page.locator(".flash")).to_contain_text("Resolved")

"""Outgoing webhooks end to end: an admin subscribes a receiver on 127.0.0.1, sends a test
event through the real worker, reads the delivery and its attempt, and replays it."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from cxm.webhooks.models import WebhookDelivery
from tests.conftest import assert_accessible, screenshot, sign_in, wait_for
from tests.webhooks.conftest import Receiver, documented_verifier

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver():
    started = Receiver(answer=(200, b'{"ok": true}', {"Content-Type": "application/json"})).start()
    yield started
    started.stop()


def test_an_admin_subscribes_sends_a_test_event_and_replays_it(
    page, live_server, settings, admin_user, receiver, celery_worker, no_csp_violations
):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    sign_in(page, live_server, admin_user.email)
    page.goto(f"{live_server.url}/accounts/profile/")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="New webhook").click()

    # A wrong URL first: the form says what is wrong, beside the field.
    page.get_by_label("Name").fill("Support tools")
    page.get_by_label("URL").fill("ftp://127.0.0.1/hooks")
    page.get_by_label("A customer message was received").check()
    page.get_by_label("A survey response was submitted").check()
    page.get_by_role("button", name="Save webhook").click()
    expect(page.locator("#id_url_error")).to_contain_text("Only https:// URLs can receive webhooks")
    assert_accessible(page)
    screenshot(page, "webhooks-form-error")

    page.get_by_label("URL").fill(receiver.url)
    page.get_by_role("button", name="Save webhook").click()
    expect(page.locator(".flash")).to_contain_text("Webhook “Support tools” was created.")
    secret = page.locator("#shown-secret").input_value()
    assert secret.startswith("whsec_")
    assert_accessible(page)
    screenshot(page, "webhooks-created-secret")

    page.get_by_role("button", name="Send test event").click()
    expect(page.locator(".flash")).to_contain_text("A test event was queued")
    # The log polls while a delivery is pending: no reload needed.
    expect(page.locator("#deliveries tbody tr").first).to_contain_text("Delivered", timeout=20_000)
    (request,) = receiver.requests
    assert request.headers["X-Cxm-Event"] == "webhook.test"
    verify = documented_verifier()
    assert verify(secret, request.body, request.headers["X-Cxm-Signature"])
    assert json.loads(request.body)["data"]["subscription"]["name"] == "Support tools"
    page.reload()  # the secret is shown once
    expect(page.locator("#shown-secret")).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "webhooks-subscription-log")

    delivery = WebhookDelivery.objects.get()
    page.get_by_role("link", name=f"#{delivery.pk}").click()
    attempts = page.get_by_role("table").nth(1)
    expect(attempts.locator("tbody tr")).to_have_count(1)
    expect(attempts.locator("tbody tr").first).to_contain_text("200")
    assert_accessible(page)
    screenshot(page, "webhooks-delivery")

    page.get_by_role("button", name="Replay").click()
    expect(page.locator(".flash")).to_contain_text("The delivery was queued again.")
    wait_for(lambda: len(receiver.requests) == 2, timeout=20)
    wait_for(lambda: WebhookDelivery.objects.get().status == "succeeded", timeout=20)
    page.reload()
    expect(attempts.locator("tbody tr")).to_have_count(2)
    expect(attempts.locator("tbody tr").first).to_contain_text("2.1")
    first, second = (json.loads(r.body) for r in receiver.requests)
    assert first["id"] == second["id"]  # a replay is the same event: receivers deduplicate it
    assert_accessible(page)
    screenshot(page, "webhooks-replayed")

    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Webhooks").click()
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("Support tools")
    expect(row).to_contain_text("Delivered")
    assert_accessible(page)
    screenshot(page, "webhooks-list")

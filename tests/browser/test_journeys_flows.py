"""Journeys, the timeline and merging, in real Chromium."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from cxm.accounts import services as account_services
from cxm.accounts.models import Role
from journeys import services
from journeys.models import Stage, Touchpoint
from tests.conftest import assert_accessible, make_user, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _card_keys(page, stage_name):
    column = page.locator(
        ".stage-column", has=page.get_by_role("heading", name=stage_name, exact=True)
    )
    return column.locator(".tp-card code").all_inner_texts()


def test_build_a_journey_reorder_it_and_see_the_map(page, live_server, no_csp_violations):
    lead = make_user(Role.CX_LEAD, "lead@example.com")
    sign_in(page, live_server, lead.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Journeys").click()
    page.get_by_label("Name").fill("Buying a sofa")
    page.get_by_role("button", name="Create journey").click()
    for stage in ("Discover", "Buy", "Delivery"):
        page.get_by_label("New stage").fill(stage)
        page.get_by_role("button", name="Add stage").click()
    touchpoints = [
        ("Discover", "Ad seen", "ad.seen", "social"),
        ("Discover", "Showroom visit", "store.visit", "store"),
        ("Buy", "Order placed", "order.placed", "web"),
        ("Delivery", "Order delivered", "order.delivered", "email"),
    ]
    for stage, name, key, channel in touchpoints:
        column = page.locator(
            ".stage-column", has=page.get_by_role("heading", name=stage, exact=True)
        )
        column.get_by_role("link", name="Add touchpoint").click()
        page.get_by_label("Name").fill(name)
        page.get_by_label("Key").fill(key)
        page.get_by_label("Channel").select_option(channel)
        page.get_by_role("button", name="Save touchpoint").click()
        expect(page.locator(".flash")).to_contain_text(name)
    assert _card_keys(page, "Discover") == ["ad.seen", "store.visit"]

    # Keyboard alternative: focus the button and press Enter.
    page.get_by_role("button", name="Move Showroom visit up").focus()
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert _card_keys(page, "Discover") == ["store.visit", "ad.seen"]
    page.get_by_role("button", name="Move stage Delivery left").click()
    expect(page.locator(".stage-head h2")).to_have_text(["Discover", "Delivery", "Buy"])

    # Drag and drop: the ad card onto the Buy column, then Buy back before Delivery.
    with page.expect_response(lambda r: "/reorder/" in r.url), page.expect_navigation():
        page.locator(f"#touchpoint-{Touchpoint.objects.get(key='ad.seen').pk}").drag_to(
            page.locator(
                ".stage-column", has=page.get_by_role("heading", name="Buy", exact=True)
            ).locator(".touchpoint-list")
        )
    expect(
        page.locator(
            ".stage-column", has=page.get_by_role("heading", name="Buy", exact=True)
        ).locator(".tp-card")
    ).to_have_count(2)
    buy = Stage.objects.get(name="Buy")
    assert Touchpoint.objects.get(key="ad.seen").stage_id == buy.pk
    with page.expect_response(lambda r: "/reorder/" in r.url), page.expect_navigation():
        page.locator(f"#stage-{buy.pk} .stage-head").drag_to(
            page.locator(
                ".stage-column", has=page.get_by_role("heading", name="Delivery", exact=True)
            )
        )
    expect(page.locator(".stage-head h2")).to_have_text(["Discover", "Buy", "Delivery"])

    services.interactions_ingest(
        events=[
            {
                "kind": "order.placed",
                "touchpoint": "order.placed",
                "customer": {"external_id": str(i)},
            }
            for i in range(6)
        ]
    )
    page.reload()
    buy_column = page.locator(
        ".stage-column", has=page.get_by_role("heading", name="Buy", exact=True)
    )
    expect(
        buy_column.locator(f"#touchpoint-{Touchpoint.objects.get(key='order.placed').pk} .tp-total")
    ).to_have_text("6 interactions")
    assert_accessible(page)
    screenshot(page, "journey-map")


def test_events_posted_to_the_api_appear_on_the_timeline(page, live_server, no_csp_violations):
    lead = make_user(Role.CX_LEAD, "lead@example.com")
    journey = services.journey_save(name="Orders")
    stage = services.stage_save(journey=journey, name="Delivery")
    services.touchpoint_save(
        stage=stage, name="Order delivered", key="order.delivered", channel="email"
    )
    token = account_services.api_token_create(user=lead, name="shop").secret
    events = {
        "events": [
            {
                "kind": "order.placed",
                "channel": "web",
                "customer": {
                    "external_id": "S-1",
                    "email": "sam@example.com",
                    "name": "Sam Shopper",
                },
                "summary": "Order 1001: sofa",
                "occurred_at": "2026-11-20T09:15:00Z",
                "url": "https://shop.example.com/orders/1001",
            },
            {
                "kind": "order.delivered",
                "touchpoint": "order.delivered",
                "customer": {"email": "sam@example.com"},
                "summary": "Delivered by truck",
                "occurred_at": "2026-11-22T14:05:00Z",
            },
            {
                "kind": "call.logged",
                "channel": "phone",
                "customer": {"external_id": "S-1"},
                "summary": "Asked about assembly",
                "occurred_at": "2026-11-22T16:30:00Z",
            },
        ]
    }
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/interactions/",
        data=json.dumps(events).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": "batch-1",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    assert body["created"] == 3
    customer_id = body["results"][0]["customer_id"]

    sign_in(page, live_server, lead.email)
    page.goto(f"{live_server.url}/customers/{customer_id}/")
    timeline = page.locator(".timeline")
    expect(timeline.locator(".timeline-entry")).to_have_count(3)
    expect(timeline.locator(".timeline-entry").first).to_contain_text("call.logged")
    expect(timeline.locator(".timeline-day")).to_have_count(2)
    expect(timeline.get_by_role("link", name="Open source")).to_have_attribute(
        "href", "https://shop.example.com/orders/1001"
    )
    page.get_by_label("Channel").select_option("email")
    page.get_by_role("button", name="Filter").click()
    expect(timeline.locator(".timeline-entry")).to_have_count(1)
    expect(timeline.locator(".timeline-entry")).to_contain_text("Delivered by truck")
    assert_accessible(page)
    screenshot(page, "customer-timeline")


def test_load_more_fetches_the_next_page(page, live_server, no_csp_violations):
    agent = make_user(Role.AGENT, "agent@example.com")
    services.interactions_ingest(
        events=[
            {
                "kind": "page.viewed",
                "channel": "web",
                "customer": {"external_id": "M"},
                "occurred_at": f"2026-11-{1 + i // 10:02d}T{i % 10 + 8:02d}:00:00Z",
            }
            for i in range(40)
        ]
    )
    sign_in(page, live_server, agent.email)
    customer_id = services.customers_upsert([{"external_id": "M"}])[0].customer.pk
    page.goto(f"{live_server.url}/customers/{customer_id}/")
    expect(page.locator(".timeline-entry")).to_have_count(25)
    page.get_by_role("button", name="Load more").click()
    expect(page.locator(".timeline-entry")).to_have_count(40)
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)


def test_merge_two_customers(page, live_server, no_csp_violations):
    lead = make_user(Role.CX_LEAD, "lead@example.com")
    a, b = (
        r.customer
        for r in services.customers_upsert(
            [
                {"email": "nina@example.com", "name": "Nina Jansen"},
                {"phone": "+31612349999", "name": "Nina J"},
            ]
        )
    )
    services.interaction_record(
        customer=a, kind="message.received", channel="email", summary="Where is my order?"
    )
    services.interaction_record(
        customer=b, kind="message.received", channel="sms", summary="Sent you an email too"
    )
    sign_in(page, live_server, lead.email)
    page.goto(f"{live_server.url}/customers/{a.pk}/")
    page.get_by_role("button", name="Merge with…").click()
    page.get_by_label("Search customers").fill("+3161234")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name="Compare").click()
    page.get_by_label("Nina J", exact=True).check()
    screenshot(page, "merge-compare")
    page.get_by_role("button", name="Merge into one customer").click()
    expect(page.locator(".flash")).to_contain_text("merged into one")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nina J")
    expect(page.locator(".profile")).to_contain_text("+31612349999")
    expect(page.locator(".timeline-entry")).to_have_count(3)  # both messages and the merge itself
    screenshot(page, "merge-done")

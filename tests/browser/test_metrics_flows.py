"""The dashboards in real Chromium: a CX lead filters the overview by touchpoint and channel,
shares the URL, opens the agents' coaching view, downloads a CSV and switches a chart to its
table; the same pages on a phone."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from cxm.accounts import services as account_services
from cxm.accounts.models import Role
from inbox.models import ChannelAccount
from journeys.services import customer_create
from journeys.services.journeys import journey_save, stage_save, touchpoint_save
from metrics import services
from tests.conftest import assert_accessible, make_user, screenshot, sign_in
from tests.metrics.conftest import conversation, make_survey
from tests.metrics.test_dashboard_pages import days_ago, reply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _data() -> dict:
    lead = make_user(Role.CX_LEAD, "lead@example.com", name="Lena Lead")
    alex = make_user(Role.AGENT, "alex@example.com", name="Alex Agent")
    bea = make_user(Role.AGENT, "bea@example.com", name="Bea Bakker")
    team = account_services.team_save(team=None, name="Care", description="", members=[])
    journey = journey_save(name="Online shop")
    buy, deliver = (
        stage_save(journey=journey, name="Buy"),
        stage_save(journey=journey, name="Deliver"),
    )
    checkout = touchpoint_save(stage=buy, name="Checkout", key="order.placed", channel="web")
    delivery = touchpoint_save(
        stage=deliver, name="Delivery", key="order.delivered", channel="email"
    )
    touchpoint_save(stage=deliver, name="Returns", key="order.returned", channel="web")
    nps, csat = make_survey("nps", lead), make_survey("csat", lead)
    visit = make_survey("visit_intent", lead)
    ann = customer_create(name="Ann Smit", email="ann@example.com")
    recent = days_ago(2)
    for score in (10, 10, 9, 9, 9, 9, 8, 7, 6, 3):
        reply(nps, ann, score, recent, touchpoint=checkout, comment="Smooth checkout")
    for score in (9, 2, 1):
        reply(nps, ann, score, recent, touchpoint=delivery, channel="sms", comment="Parcel late")
    reply(nps, ann, 10, days_ago(35), touchpoint=delivery, channel="sms")
    for score, agent, text in (
        (5, alex, "Alex was great"),
        (4, alex, "Quick answer"),
        (2, alex, "Took two days"),
        (5, bea, "Bea solved it"),
        (4, bea, ""),
    ):
        reply(csat, ann, score, recent, agent=agent, team=team, comment=text)
    for reason, got in (("buy", "yes"), ("buy", "yes"), ("buy", "no"), ("support", "no")):
        reply(visit, ann, None, recent, choices={"reason": [reason], "fulfilled": [got]})
    mail = ChannelAccount.objects.create(
        kind="email", name="Mail", address="help@shop.example", provider="postmark"
    )
    conversation(mail, ann, recent, first_response=90, handling=5400, team=team, assignee=alex)
    conversation(mail, ann, recent, first_response=400, handling=9000, team=team, assignee=bea)
    services.rollups_rebuild()
    return {"lead": lead, "delivery": delivery, "alex": alex}


def _nps(page) -> str:
    return page.locator("#card-nps [data-value]").inner_text()


def test_lead_filters_shares_coaches_and_downloads(page, browser, live_server, no_csp_violations):
    data = _data()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, live_server, data["lead"].email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboards").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.locator("#card-nps")).to_contain_text("Small sample")
    expect(page.locator("#trend-table")).to_be_hidden()  # the chart is drawn instead
    expect(page.locator(".chart-box canvas")).to_be_visible()
    screenshot(page, "metrics-overview")
    assert_accessible(page)
    everyone = _nps(page)

    # Filter by touchpoint and channel with the filter bar: the URL carries the filters.
    bar = page.locator("form[data-filter-form]")
    bar.get_by_label("Touchpoint").select_option(label="Delivery")
    bar.get_by_label("Channel").select_option("sms")
    bar.get_by_role("button", name="Apply filters").click()
    page.wait_for_load_state("networkidle")
    query = parse_qs(urlparse(page.url).query)
    assert query["touchpoint"] == [str(data["delivery"].pk)]
    assert query["channel"] == ["sms"]
    assert "from" not in query and "survey" not in query  # empty fields are left out
    filtered = _nps(page)
    assert filtered != everyone
    assert filtered == "−33.3"  # 1 promoter, 2 detractors of 3
    expect(page.locator("#card-frt [data-note]")).to_contain_text("do not apply")
    expect(page.locator("#card-nps [data-change]")).to_contain_text("worse")
    page.get_by_role("link", name="Copy link to these figures").click()
    expect(page.locator("[data-copy-status]")).to_have_text("Link copied to the clipboard.")
    screenshot(page, "metrics-overview-filtered")

    # Share: the same URL in a new page shows the same figures.
    shared = page.context.new_page()
    shared.goto(page.url)
    assert _nps(shared) == filtered
    expect(shared.locator("#f-touchpoint")).to_have_value(str(data["delivery"].pk))
    shared.close()

    # The trend can be switched to another metric, and to its table.
    page.get_by_label("Metric shown").select_option(label="CSAT")
    trend = page.get_by_role("button", name="Show table")
    trend.click()
    expect(page.locator("#trend-table")).to_be_visible()
    expect(page.get_by_role("button", name="Hide table")).to_have_attribute("aria-expanded", "true")

    # The agents' coaching view, for everyone again.
    page.get_by_role("button", name="Reset").click()
    page.get_by_role("navigation", name="Dashboards").get_by_role("link", name="Agents").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Agents")
    coaching = page.locator(".coaching")
    expect(coaching).to_contain_text("Alex was great")
    expect(coaching).to_contain_text("Bea solved it")
    screenshot(page, "metrics-agents")
    assert_accessible(page)

    # Download the agents' table as CSV.
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("cxm-agents-agents-")
    content = Path(download.path()).read_text(encoding="utf-8-sig")
    lines = content.strip().splitlines()
    assert lines[0].startswith("Agent,Responses,CSAT,CSAT n,CSAT margin,NPS")
    assert lines[1].startswith("Alex Agent,3,66.67,3,")
    assert lines[2].startswith("Bea Bakker,2,100,2,")

    # A breakdown shows its chart and its table; the table view toggles.
    table = page.locator("#agents-table")
    expect(page.locator(".chart-box canvas")).to_be_visible()
    expect(table.get_by_role("rowheader", name="Alex Agent")).to_be_visible()
    page.get_by_role("button", name="Hide table").click()
    expect(table).to_be_hidden()
    expect(page.get_by_role("button", name="Show table")).to_have_attribute(
        "aria-expanded", "false"
    )
    page.get_by_role("button", name="Show table").click()
    expect(table).to_be_visible()

    # The other dashboards.
    nav = page.get_by_role("navigation", name="Dashboards")
    nav.get_by_role("link", name="Touchpoints").click()
    expect(page.locator(".score-map")).to_contain_text("Checkout")
    expect(page.locator(f'[data-touchpoint-id="{data["delivery"].pk}"]')).to_contain_text("Poor")
    screenshot(page, "metrics-touchpoints")
    assert_accessible(page)
    nav.get_by_role("link", name="Channels").click()
    expect(page.locator("#channels-title")).to_be_visible()
    screenshot(page, "metrics-channels")
    assert_accessible(page)
    nav.get_by_role("link", name="Visit intent").click()
    expect(page.locator("#visits-table")).to_be_attached()
    screenshot(page, "metrics-visits")
    assert_accessible(page)
    nav.get_by_role("link", name="Comments").click()
    page.get_by_role("navigation", name="Score band").get_by_role("link", name="Unhappy").click()
    expect(page.locator(".comment-list")).to_contain_text("Parcel late")
    expect(page.locator(".comment-list")).not_to_contain_text("Alex was great")
    screenshot(page, "metrics-comments")
    assert_accessible(page)
    page.get_by_role("link", name="View response").first.click()
    expect(page).to_have_url(re.compile(r"/surveys/responses/\d+/$"))


def test_tampered_filters_show_the_message_beside_the_field(browser, live_server):
    data = _data()
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, live_server, data["lead"].email)
    response = page.goto(f"{live_server.url}/metrics/?channel=fax&from=2026-13-01")
    assert response.status == 400
    expect(page.locator("#f-channel-error")).to_have_text("There is no such channel.")
    expect(page.locator("#f-from-error")).to_have_text("Enter a date like 2026-01-31.")
    expect(page.get_by_role("alert")).to_contain_text("No figures for these filters")
    expect(page.locator(".metric-cards")).to_have_count(0)
    screenshot(page, "metrics-tampered")
    assert_accessible(page)
    page.goto(f"{live_server.url}/metrics/?from=2001-01-01&to=2001-01-31")
    expect(page.locator(".empty-note")).to_contain_text("Nothing to show")
    expect(page.locator("#trend-table")).to_contain_text("No figures in this period")
    screenshot(page, "metrics-overview-empty")
    assert_accessible(page)
    context.close()


def test_dashboards_on_a_phone(browser, live_server):
    data = _data()
    phone = browser.new_context(**PHONE)
    page = phone.new_page()
    sign_in(page, live_server, data["lead"].email)
    page.goto(f"{live_server.url}/metrics/")
    expect(page.locator("details.filter-bar")).not_to_have_attribute("open", "")
    screenshot(page, "metrics-overview-phone")
    page.locator("details.filter-bar > summary").click()
    screenshot(page, "metrics-overview-phone-filters")
    for name in ("touchpoints", "agents", "comments"):
        page.goto(f"{live_server.url}/metrics/{name}/")
        screenshot(page, f"metrics-{name}-phone")
        # (The main navigation bar is the base layout's; the dashboard itself must fit.)
        scroll = page.evaluate("document.querySelector('main').scrollWidth")
        assert scroll <= 390, f"{name}: the dashboard is {scroll}px wide"
    phone.close()

    # An agent on a phone sees their own figures only.
    agent_phone = browser.new_context(**PHONE)
    page = agent_phone.new_page()
    sign_in(page, live_server, data["alex"].email)
    page.goto(f"{live_server.url}/metrics/agents/")
    expect(page.locator(".coaching")).to_contain_text("Alex was great")
    expect(page.locator(".coaching")).not_to_contain_text("Bea solved it")
    expect(page.get_by_label("Agent", exact=True)).to_be_disabled()
    screenshot(page, "metrics-agent-own-phone")
    agent_phone.close()

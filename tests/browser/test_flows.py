"""User flows in real Chromium (Playwright), against the live server on PostgreSQL."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from cxm.accounts.models import Role
from journeys.models import Customer
from tests.conftest import assert_accessible, make_user, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVERY_SECTION = ["Inbox", "Follow-ups", "Surveys", "Dashboards", "Customers", "Journeys"]
NAV = {  # (shown, hidden): agents see their own follow-ups and figures
    Role.AGENT: (EVERY_SECTION, []),
    Role.CX_LEAD: (EVERY_SECTION, []),
    Role.ADMIN: (EVERY_SECTION, []),
}


@pytest.mark.parametrize("role", [Role.AGENT, Role.CX_LEAD, Role.ADMIN])
def test_each_role_signs_in_and_sees_its_navigation(page, live_server, role, no_csp_violations):
    user = make_user(role, f"{role.value}@example.com", name=f"{role.label} Person")
    sign_in(page, live_server, user.email)
    nav = page.get_by_role("navigation", name="Main")
    shown, hidden = NAV[role]
    for label in shown:
        expect(nav.get_by_role("link", name=label)).to_be_visible()
    for label in hidden:
        expect(nav.get_by_role("link", name=label)).to_have_count(0)
    page.locator("summary", has_text=user.get_short_name()).click()
    settings_link = page.get_by_role("link", name="Settings")
    if role == Role.ADMIN:
        expect(settings_link).to_be_visible()
    else:
        expect(settings_link).to_have_count(0)
    screenshot(page, f"nav-{role.value}")


def test_failed_sign_in_shows_a_clear_message(page, live_server, db):
    make_user(Role.AGENT, "agent@example.com")
    sign_in(page, live_server, "agent@example.com", "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    assert_accessible(page)
    screenshot(page, "sign-in-failed")


@pytest.mark.worker
def test_import_a_csv_with_bad_rows_and_read_the_report(
    page, live_server, celery_worker, tmp_path, no_csp_violations
):
    lead = make_user(Role.CX_LEAD, "lead@example.com")
    csv_path = tmp_path / "customers.csv"
    csv_path.write_text(
        "external_id,name,email,phone,language\n"
        "B1,Bea Bakker,bea@example.com,0612345678,nl\n"
        "B2,Broken Mail,broken-at-example,,en\n"
        "B3,Ioana Pop,ioana@example.com,+40 721 234 567,ro\n"
        "B4,Short Phone,short@example.com,123,nl\n"
    )
    sign_in(page, live_server, lead.email)
    page.get_by_role("link", name="Customers").click()
    page.get_by_role("button", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(str(csv_path))
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator(".import-status")).to_have_attribute("data-status", "done", timeout=30_000)
    expect(page.locator('[data-count="created"]')).to_have_text("2")
    expect(page.locator('[data-count="failed"]')).to_have_text("2")
    errors = page.locator("table.import-errors")
    expect(errors).to_contain_text("Not a valid email address.")
    expect(errors).to_contain_text("Not a valid phone number.")
    assert_accessible(page)
    screenshot(page, "import-report")
    assert Customer.objects.filter(external_id__in=["B1", "B3"]).count() == 2
    page.get_by_role("link", name="Back to customers").click()
    page.get_by_label("Search").fill("bakker")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("+31612345678")
    assert_accessible(page)
    screenshot(page, "customer-search")


def test_create_an_api_token_and_call_the_api_with_it(page, live_server, no_csp_violations):
    lead = make_user(Role.CX_LEAD, "lead@example.com")
    Customer.objects.create(external_id="T1", name="Token Test")
    sign_in(page, live_server, lead.email)
    page.locator("summary", has_text=lead.get_short_name()).click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Token name").fill("Warehouse sync")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Token", exact=True).input_value()
    expect(page.get_by_text("Copy it now: it will not be shown again.")).to_be_visible()
    screenshot(page, "api-token-created")

    request = urllib.request.Request(
        f"{live_server.url}/api/v1/customers/?q=token",
        headers={"Authorization": f"Bearer {secret}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    assert [c["external_id"] for c in body["results"]] == ["T1"]

    page.reload()
    expect(page.get_by_label("Token", exact=True)).to_have_count(0)  # shown once only
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("tbody")).to_contain_text("revoked")
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(request, timeout=10)
    assert denied.value.code == 401


def test_admin_invites_a_user_and_builds_a_team(page, live_server, no_csp_violations):
    admin = make_user(Role.ADMIN, "admin@example.com", name="Ada Admin")
    sign_in(page, live_server, admin.email)
    page.goto(f"{live_server.url}/accounts/users/")
    page.get_by_role("button", name="Invite a user").click()
    page.get_by_label("Name").fill("Vera Visser")
    page.get_by_label("Email address").fill("vera@example.com")
    page.get_by_label("Agent").check()
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".flash")).to_contain_text("vera@example.com was invited")
    expect(page.locator("tbody")).to_contain_text("Invited")
    screenshot(page, "users-invited")
    page.get_by_role("link", name="Teams").click()
    page.get_by_role("button", name="New team").click()
    page.get_by_label("Name").fill("Customer Care")
    page.get_by_label("Vera Visser").check()
    page.get_by_role("button", name="Save team").click()
    expect(page.locator("tbody")).to_contain_text("Vera Visser")
    assert_accessible(page)
    screenshot(page, "teams")


def test_api_docs_page_renders_without_a_cdn(page, live_server, no_csp_violations):
    user = make_user(Role.AGENT, "agent@example.com")
    sign_in(page, live_server, user.email)
    external = []
    page.on(
        "request",
        lambda r: external.append(r.url) if not r.url.startswith(live_server.url) else None,
    )
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.get_by_text("/api/v1/customers/").first).to_be_visible(timeout=15_000)
    screenshot(page, "api-docs")
    assert not [u for u in external if not u.startswith("data:")]

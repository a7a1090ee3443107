"""Close the loop in real Chromium, with the real worker and the real twilio client to a stub:
a detractor answers on their phone, the follow-up reaches its owner with the answers, the owner
replies by SMS from the conversation, resolves it with a root cause; the queue and the dashboard
count it as closed within its deadline, and a CRM hears the signed followup.closed event. And a CX lead writes the rules and the root-cause list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cxm.accounts import services as account_services
from cxm.accounts.models import Role
from inbox.models import ChannelAccount, Delivery
from journeys.models import Interaction, Journey, Stage, Touchpoint
from journeys.services import customer_create
from metrics import followup_services
from metrics.models import FollowUp, FollowUpRule
from surveys import services as surveys
from surveys.models import Survey
from tests.conftest import assert_accessible, make_user, screenshot, sign_in, wait_for
from tests.webhooks.conftest import Receiver, documented_verifier, subscribe


@pytest.fixture
def crm_receiver():
    started = Receiver().start()
    yield started
    started.stop()


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def shop(db):
    """Care owns the delivery touchpoint; the NPS survey asks about it; detractors get a
    follow-up within 24 hours."""
    cora = make_user(Role.AGENT, "cora@example.com", name="Cora Care")
    lena = make_user(Role.CX_LEAD, "lena@example.com", name="Lena Lead")
    team = account_services.team_save(
        team=None, name="Customer Care", description="", members=[cora], lead=lena
    )
    ChannelAccount.objects.create(
        kind="sms", name="Support SMS", address="+3197010000000", provider="twilio", team=team
    )
    ChannelAccount.objects.create(
        kind="email",
        name="Support mail",
        address="help@shop.example",
        provider="postmark",
        team=team,
    )
    stage = Stage.objects.create(journey=Journey.objects.create(name="Buying"), name="Delivery")
    touchpoint = Touchpoint.objects.create(
        stage=stage, name="Sofa delivered", key="order.delivered", channel="web", owner_team=team
    )
    survey = surveys.survey_create(
        name="Delivery NPS", kind="nps", default_language="en", languages=[], by=lena
    )
    Survey.objects.filter(pk=survey.pk).update(touchpoint=touchpoint)
    survey = surveys.survey_status_change(survey=survey, status="active", by=lena)
    delivery = followup_services.root_cause_save(cause=None, name="Delivery", parent=None)
    followup_services.root_cause_save(cause=None, name="Late", parent=delivery)
    followup_services.root_cause_save(cause=None, name="Damaged", parent=delivery)
    followup_services.root_cause_save(cause=None, name="Price", parent=None)
    followup_services.rule_save(
        rule=None, by=lena, name="Detractors", survey=survey, score_op="lte", score=6, due_hours=24
    )
    return {"cora": cora, "lena": lena, "survey": survey, "team": team}


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_detractor_is_called_back_by_sms_and_the_loop_is_closed_in_time(
    page,
    browser,
    live_server,
    live_providers,
    celery_worker,
    shop,
    crm_receiver,
    settings,
    no_csp_violations,
):
    # The CRM listens for closed follow-ups on 127.0.0.1 (private targets allowed in tests).
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    receiver = crm_receiver
    crm = subscribe(receiver.url, ["followup.closed"], name="CRM")
    dirk = customer_create(
        name="Dirk de Vries", email="dirk@example.nl", phone="+31612345678", preferred_channel="sms"
    )
    invitation = surveys.invitation_create(survey=shop["survey"], customer=dirk, channel="sms")

    # Dirk answers on his phone: a 3, and why.
    phone = browser.new_context(**PHONE, locale="en-GB")
    customer_page = phone.new_page()
    customer_page.goto(f"{live_server.url}/s/{invitation.token}/")
    customer_page.locator("label.scale-option", has_text="3").first.click()
    customer_page.get_by_role("button", name="Next").click()
    customer_page.get_by_label("What could we do better?").fill(
        "The sofa came a week late and nobody told me."
    )
    customer_page.get_by_role("button", name="Send").click()
    expect(customer_page.get_by_role("heading", level=1)).to_contain_text("Thank you")
    phone.close()

    followup = wait_for(lambda: FollowUp.objects.select_related("conversation").first(), timeout=30)
    assert followup.owner == shop["cora"] and followup.conversation.channel == "sms"

    # Cora finds it in her queue, with the deadline and the score.
    sign_in(page, live_server, shop["cora"].email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Follow-ups").click()
    row = page.locator(".followup-table tbody tr", has_text="Dirk de Vries")
    expect(row).to_contain_text("in 23")  # hours left of the 24
    expect(row.locator(".score-badge")).to_have_text("3")
    expect(page.locator("[data-metric='open'] [data-value]")).to_have_text("1")
    assert_accessible(page)
    screenshot(page, "followups-queue")

    # The follow-up page shows what Dirk answered.
    row.get_by_role("link", name="Dirk de Vries").click()
    expect(page.locator("dl.answers")).to_contain_text("The sofa came a week late")
    expect(page.locator("dl.answers")).to_contain_text("How likely are you to recommend us")
    assert_accessible(page)
    screenshot(page, "followup-detail-new")

    # She answers on Dirk's own channel from the conversation, where the answers are a note.
    page.get_by_role("button", name="Reply on SMS").click()
    expect(page.locator(".message-note")).to_contain_text("Survey answers: Delivery NPS")
    expect(page.locator(".message-note")).to_contain_text("The sofa came a week late")
    page.get_by_label("Reply").fill("Sorry Dirk, that should not happen. Can I call you today?")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".flash")).to_contain_text("on its way")
    wait_for(lambda: Delivery.objects.filter(channel="sms", status="sent").exists(), timeout=30)
    sent = live_providers["twilio"].requests[-1].form()
    assert sent["To"] == "+31612345678" and sent["Body"].startswith("Sorry Dirk")
    screenshot(page, "followup-conversation-replied")
    wait_for(lambda: FollowUp.objects.get(pk=followup.pk).status == "contacted", timeout=30)

    # Back on the follow-up: resolved with its root cause, within the deadline.
    page.goto(f"{live_server.url}/followups/{followup.pk}/")
    expect(page.locator(".followup-status")).to_have_text("Contacted")
    page.get_by_label("Root cause").select_option(label="Late")
    page.get_by_label("Outcome").fill("Apologised; a voucher for the next delivery.")
    page.get_by_label("The customer is happy again").check()
    page.get_by_role("button", name="Resolve follow-up").click()
    expect(page.locator(".flash")).to_contain_text("Follow-up resolved.")
    expect(page.locator(".followup-status")).to_have_text("Resolved")
    expect(page.get_by_text("within the deadline")).to_be_visible()
    expect(page.locator(".followup-history")).to_contain_text("reply in the conversation")
    assert_accessible(page)
    screenshot(page, "followup-detail-resolved")

    # The queue and its figures count it as closed in time.
    page.goto(f"{live_server.url}/followups/?status=closed")
    expect(page.locator(".followup-table tbody tr", has_text="Dirk de Vries")).to_contain_text(
        "Closed in time"
    )
    expect(page.locator("[data-metric='closed_loop'] [data-value]")).to_have_text("100\u00a0%")
    expect(page.locator(".root-causes")).to_contain_text("Delivery › Late")
    screenshot(page, "followups-queue-closed")

    # Lena's dashboard counts the closed loop and its root cause.
    page.context.clear_cookies()
    sign_in(page, live_server, shop["lena"].email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboards").click()
    loop = page.locator("[data-loop-metrics]")
    expect(loop.locator("[data-metric='closed_loop'] [data-value]")).to_have_text("100\u00a0%")
    expect(page.locator("table[data-table-name='root_causes']")).to_contain_text("Delivery › Late")
    with page.expect_download() as download:
        page.locator("a[data-csv='root_causes']").click()
    assert "Late" in Path(download.value.path()).read_text(encoding="utf-8")
    screenshot(page, "followups-dashboard-loop")

    # The CRM received the signed followup.closed event and can verify it.
    verify = documented_verifier()
    hook = wait_for(
        lambda: next(
            (r for r in receiver.requests if r.headers.get("X-Cxm-Event") == "followup.closed"),
            None,
        ),
        timeout=30,
    )
    assert verify(crm.secret, hook.body, hook.headers["X-Cxm-Signature"])
    assert not verify("whsec_wrong", hook.body, hook.headers["X-Cxm-Signature"])
    event = json.loads(hook.body)
    assert event["event"] == "followup.closed" and event["data"]["status"] == "resolved"

    followup.refresh_from_db()
    assert followup.status == "resolved" and followup.closed_at <= followup.due_at
    assert followup.first_contacted_at is not None and followup.recovered
    kinds = set(
        Interaction.objects.filter(customer=dirk, kind__startswith="followup.").values_list(
            "kind", flat=True
        )
    )
    assert kinds == {
        "followup.opened",
        "followup.assigned",
        "followup.contacted",
        "followup.resolved",
    }


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_cx_lead_writes_the_rules_and_the_root_causes(page, live_server, shop, no_csp_violations):
    sign_in(page, live_server, shop["lena"].email)
    page.goto(f"{live_server.url}/followups/root-causes/")
    page.get_by_label("Name").fill("Billing")
    page.get_by_role("button", name="Add root cause").click()
    expect(page.locator(".flash")).to_contain_text("“Billing” was added.")
    page.get_by_label("Name").fill("Double charge")
    page.get_by_label("Category").select_option(label="Billing")
    page.get_by_role("button", name="Add root cause").click()
    expect(page.locator(".cause-group", has_text="Billing")).to_contain_text("Double charge")
    assert_accessible(page)
    screenshot(page, "followups-root-causes")

    page.get_by_role("link", name="Rules").click()
    page.get_by_role("button", name="New rule").click()
    page.get_by_label("Name").fill("Refund requests from gold customers")
    page.get_by_label("Survey", exact=True).select_option(label="Delivery NPS")
    page.get_by_label("Score", exact=True).select_option("between")
    page.get_by_label("Score value").fill("6")
    page.get_by_label("… and").fill("2")
    page.get_by_label("Keywords in text answers").fill("refund,, money back")
    page.get_by_label("Customer attributes").fill("plan = gold")
    page.get_by_label("Owner").select_option("person")
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_text("The range is empty: 6 is above 2.")).to_be_visible()
    expect(page.get_by_text("One of the keywords is empty")).to_be_visible()
    expect(page.get_by_text("Choose the person.")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "followups-rule-errors")
    page.get_by_label("Score value").fill("0")
    page.get_by_label("… and").fill("6")
    page.get_by_label("Keywords in text answers").fill("refund, money back")
    page.get_by_label("Person").select_option(label="Cora Care")
    page.get_by_label("Priority").select_option(label="Urgent")
    page.get_by_label("Deadline (hours)").fill("4")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator(".flash")).to_contain_text("was saved")

    # The new rule is narrower: move it above the broad one, and switch the broad one off.
    rows = page.locator(".rule-table tbody tr")
    expect(rows.nth(1)).to_contain_text("Refund requests")
    page.get_by_role("button", name="Move “Refund requests from gold customers” up").click()
    expect(rows.nth(0)).to_contain_text("Refund requests")
    page.get_by_role("button", name="Disable “Detractors”").click()
    expect(page.locator(".flash")).to_contain_text("“Detractors” is disabled.")
    assert_accessible(page)
    screenshot(page, "followups-rules")
    assert list(FollowUpRule.objects.values_list("name", "is_active")) == [
        ("Refund requests from gold customers", True),
        ("Detractors", False),
    ]

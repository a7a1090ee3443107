"""Surveys in real Chromium: a CX lead builds and previews an NPS survey in English and Dutch,
a customer answers it on a phone, and the answer shows up for the lead."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import F
from playwright.sync_api import expect

from cxm.accounts.models import Role
from journeys.models import Interaction
from journeys.services import customer_create
from surveys import services
from surveys.models import Response, Survey
from tests.conftest import assert_accessible, make_user, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def test_lead_builds_previews_and_activates_an_nps_survey_a_customer_answers_in_dutch(
    page, browser, live_server, no_csp_violations
):
    lead = make_user(Role.CX_LEAD, "lead@example.com")
    dirk = customer_create(name="Dirk de Vries", email="dirk@example.nl", language="nl")
    sign_in(page, live_server, lead.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Surveys").click()
    page.get_by_label("Name").fill("Relationship NPS")
    page.get_by_label("NPS —").check()
    page.get_by_role("group", name="Also offered in").get_by_label("Dutch").check()
    page.get_by_role("button", name="Create survey").click()
    screenshot(page, "survey-created")
    expect(page.get_by_role("heading", name="Relationship NPS")).to_be_visible()

    # A conditional follow-up of our own, in English …
    page.get_by_role("button", name="Add a question").click()
    page.get_by_label("Question", exact=True).fill("Which part of the service let you down?")
    page.get_by_label("Type").select_option("single")
    page.get_by_role("textbox", name="Key", exact=True).fill("letdown")
    page.get_by_label("Choices, one per line").fill("Delivery\nSupport\nPrice")
    page.get_by_label("Show only when the answer to").select_option("recommend")
    page.get_by_label("is at least").fill("0")
    page.get_by_label("and at most").fill("6")
    page.get_by_role("button", name="Save question").click()
    expect(page.locator(".flash-warning")).to_contain_text("letdown")  # not yet in Dutch

    # … and in Dutch.
    page.get_by_role("navigation", name="Language of the texts").get_by_role(
        "link", name="Dutch"
    ).click()
    page.get_by_role("link", name="Edit letdown").click()
    page.get_by_label("Question", exact=True).fill("Welk deel van de service viel tegen?")
    page.get_by_label("Choices, one per line").fill("Bezorging\nKlantenservice\nPrijs")
    page.get_by_role("button", name="Save question").click()
    expect(page.locator(".flash-warning")).to_have_count(0)

    # The live preview shows the Dutch page; the size buttons switch phone / desktop width.
    preview = page.frame_locator("[data-preview-iframe]")
    expect(preview.locator("legend")).to_contain_text("Hoe waarschijnlijk")
    page.get_by_role("button", name="Desktop").click()
    expect(page.locator("[data-preview-frame]")).not_to_have_class("preview-frame preview-phone")
    page.get_by_role("button", name="Phone").click()
    screenshot(page, "survey-builder")
    assert_accessible(page)

    page.get_by_role("button", name="Activate").click()
    expect(page.locator(".flash")).to_contain_text("The survey is active")
    page.get_by_label("Customer").fill("dirk@example.nl")
    page.get_by_role("button", name="Create personal link").click()
    link = page.locator("[data-personal-link]").get_attribute("href")
    assert link and "/s/" in link

    # Dirk answers on his phone, in Dutch.
    phone = browser.new_context(**PHONE, locale="en-GB")
    customer_page = phone.new_page()
    customer_page.goto(link)
    expect(customer_page.locator("html")).to_have_attribute("lang", "nl")
    expect(customer_page.get_by_text("Vraag 1 van")).to_be_visible()
    assert_accessible(customer_page)
    screenshot(customer_page, "survey-respond-phone-nl")
    customer_page.locator("label.scale-option", has_text="3").first.click()
    customer_page.get_by_role("button", name="Volgende").click()
    customer_page.get_by_label("Wat kunnen we beter doen?").fill("Sneller bezorgen")
    customer_page.get_by_role("button", name="Volgende").click()
    customer_page.get_by_label("Bezorging").check()
    screenshot(customer_page, "survey-respond-phone-followup")
    customer_page.get_by_role("button", name="Versturen").click()
    expect(customer_page.get_by_role("heading", level=1)).to_contain_text("Bedankt")
    screenshot(customer_page, "survey-respond-phone-thanks")
    phone.close()

    response = Response.objects.get(customer=dirk)
    assert (response.score, response.language) == (3, "nl") and response.completed_at
    survey = Survey.objects.get(name="Relationship NPS")
    assert dict(response.answers.values_list("question__key", "choices"))["letdown"] == ["delivery"]

    # The lead finds the response on the responses page and on Dirk's timeline.
    page.goto(f"{live_server.url}/surveys/{survey.pk}/responses/?band=negative")
    row = page.get_by_role("row", name="Sneller bezorgen")
    expect(row).to_contain_text("Dirk de Vries")
    row.get_by_role("link").first.click()
    expect(page.locator("dl.answers")).to_contain_text("Delivery")  # in the reader's language
    page.get_by_role("link", name="Dirk de Vries").click()
    expect(page.locator(".timeline")).to_contain_text("Relationship NPS · 3")
    screenshot(page, "survey-on-timeline")
    assert Interaction.objects.filter(customer=dirk, kind="survey.response").count() == 1


def test_one_click_score_link_preselects_and_a_person_stores_it(browser, live_server, db):
    lead = make_user(Role.CX_LEAD, "lead2@example.com")
    survey = services.survey_create(
        name="NPS", kind="nps", default_language="en", languages=[], by=lead
    )
    survey = services.survey_status_change(survey=survey, status="active", by=lead)
    anna = customer_create(name="Anna", email="anna@example.com")
    invitation = services.invitation_create(survey=survey, customer=anna)
    url = f"{live_server.url}/s/{invitation.token}/?score=9"

    # A mail scanner (no script) only fetches: the score is chosen on the page, nothing stored.
    scanner = browser.new_context(java_script_enabled=False, **PHONE)
    scanned = scanner.new_page()
    scanned.goto(url)
    expect(scanned.get_by_role("radio", name="9")).to_be_checked()
    screenshot(scanned, "survey-one-click-no-script")
    assert not Response.objects.exists()
    # Without JavaScript a person taps Next, and the page still works.
    scanned.get_by_role("button", name="Next").click()
    expect(scanned.get_by_label("What did you like most?")).to_be_visible()
    scanner.close()
    assert Response.objects.get().score == 9

    # With JavaScript the page posts the score itself, once.
    other = services.invitation_create(
        survey=survey, customer=customer_create(name="Bo", email="bo@example.com")
    )
    context = browser.new_context(**PHONE)
    person = context.new_page()
    person.goto(f"{live_server.url}/s/{other.token}/?score=4")
    expect(person.get_by_label("What could we do better?")).to_be_visible()
    assert Response.objects.get(invitation=other).score == 4
    context.close()


PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f1b5a50000000049454e44ae426082"
)


def test_branded_public_link_on_one_page_and_the_csv_download(
    page, browser, live_server, no_csp_violations, tmp_path
):
    lead = make_user(Role.CX_LEAD, "lead3@example.com")
    survey = services.survey_create(
        name="Showroom visit",
        kind="visit_intent",
        default_language="en",
        languages=["fy"],
        by=lead,
    )
    sign_in(page, live_server, lead.email)
    page.goto(f"{live_server.url}/surveys/{survey.pk}/settings/")
    page.get_by_label("All questions on one page").check()
    page.get_by_label("Anonymous public link").check()
    page.get_by_label("One response per browser").check()
    page.get_by_label("Accent colour").fill("#ffee00")
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG_1PX)
    page.get_by_label("Logo", exact=True).set_input_files(str(logo))
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".field-error")).to_contain_text("hard to read")
    page.get_by_label("Accent colour").fill("#7a1f5c")
    page.get_by_label("Logo", exact=True).set_input_files(str(logo))
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash")).to_contain_text("Settings saved")
    page.get_by_role("button", name="Activate").click()
    public = page.locator("[data-public-link]").get_attribute("href")

    # A visitor answers in Frisian on one page; the follow-up appears only after "no".
    visitor = browser.new_context(**PHONE, locale="fy-NL")
    answer = visitor.new_page()
    answer.goto(public)
    expect(answer.locator("html")).to_have_attribute("lang", "fy")
    expect(answer.locator(".respond-logo")).to_be_visible()
    missing = answer.locator("[data-question='missing']")
    expect(missing).to_be_hidden()
    answer.locator("[data-question='reason'] input[value='other']").check()
    answer.locator("#q-reason-other").fill("In bank besjen")
    answer.locator("[data-question='fulfilled'] input[value='no']").check()
    expect(missing).to_be_visible()
    answer.locator("#q-missing").fill("Te lang wachtsje")
    assert_accessible(answer)
    screenshot(answer, "survey-public-one-page-fy")
    answer.locator("button[type=submit]").click()
    expect(answer.locator(".respond-thanks")).to_be_visible()
    Response.objects.update(completed_at=F("completed_at") - dt.timedelta(hours=1))
    answer.goto(public)  # the same browser an hour later: no second response
    expect(answer.locator("[data-survey]")).to_have_count(0)
    expect(answer.locator("h1")).to_be_visible()
    visitor.close()
    response = Response.objects.get(survey=survey)
    assert response.completed_at and response.customer_id is None and response.language == "fy"

    page.goto(f"{live_server.url}/surveys/{survey.pk}/responses/")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    text = download.value.path().read_text()
    assert "In bank besjen" in text and "Te lang wachtsje" in text

"""Report emails end to end: a CX lead subscribes on the overview dashboard, the due-report task
runs in a real Celery worker, the email reaches the stub ESP with the figures, and its
unsubscribe link works without signing in."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from cxm.accounts.models import Role
from cxm.celery import app
from cxm.jobs import Job
from metrics import reports, services
from metrics.models import ReportSubscription
from tests.conftest import (
    ROOT,
    assert_accessible,
    make_user,
    provider_env,
    screenshot,
    sign_in,
    subprocess_database_url,
    wait_for,
)
from tests.metrics.conftest import answer, make_customer, make_survey

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

QUEUE = "metrics-reports-e2e"
NAME = f"reports-e2e@{socket.gethostname()}"
LOG = Path(settings.VAR_DIR) / "celery-reports-worker.log"


@pytest.fixture(scope="module")
def report_worker(
    django_db_setup: Any, provider_stubs: dict[str, Any], live_server: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker set up like production for system email: ``EMAIL_BACKEND`` is the Anymail
    backend of the stub ESP. The shared ``celery_worker`` sends system email to the dev outbox
    (``provider_env`` sets only ``INBOX_EMAIL_BACKEND``), so this one has a queue of its own."""
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        **provider_env(provider_stubs),
        "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
        "PUBLIC_BASE_URL": live_server.url,
    }
    log = open(LOG, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cxm",
            "worker",
            "-Q",
            QUEUE,
            "-n",
            NAME,
            "--pool=solo",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "INFO",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not app.control.ping(destination=[NAME], timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the report worker did not start; see {LOG}")
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _emails_to(stub: Any, address: str) -> list[dict]:
    return [
        r.json()
        for r in stub.requests
        if r.path.endswith("/email") and r.json().get("To") == address
    ]


def _runs_done() -> int:
    return LOG.read_text(errors="replace").count(f"Task {Job.METRICS_REPORTS_SEND.value}[")


def test_lead_subscribes_on_the_dashboard_and_gets_the_weekly_email(
    page, browser, live_server, live_providers, provider_stubs, report_worker, no_csp_violations
):
    lead = make_user(Role.CX_LEAD, "lead@example.com", name="Lena Lead")
    # Last full week: 10, 10, 9 promoters and a 6 → NPS 50 from 4 answers; the week before, a
    # promoter only (100).
    start, _end = reports.report_period("weekly", timezone.now())
    survey = make_survey("nps", lead)
    someone = make_customer()
    for score in (10, 10, 9, 6):
        answer(survey, someone, score, start + dt.timedelta(days=2), channel="link", invited=False)
    answer(survey, someone, 10, start - dt.timedelta(days=3), channel="link", invited=False)
    services.rollups_rebuild()

    sign_in(page, live_server, lead.email)
    page.goto(f"{live_server.url}/metrics/")
    box = page.get_by_role("region", name="Get this dashboard by email")
    box.get_by_label("How often").select_option("weekly")
    box.get_by_role("button", name="Subscribe").click()
    expect(page.locator(".flash")).to_contain_text(
        "Subscribed: the Overview report will come by email every Monday at 07:00."
    )
    box = page.get_by_role("region", name="Get this dashboard by email")
    expect(box.get_by_role("listitem")).to_contain_text("Weekly")
    box.scroll_into_view_if_needed()
    screenshot(page, "metrics-report-subscribed")
    assert_accessible(page, context=".report-subscribe")
    subscription = ReportSubscription.objects.get(user=lead)
    assert (subscription.dashboard, subscription.frequency) == ("overview", "weekly")
    assert subscription.next_send_at.astimezone(dt.UTC).weekday() == 0

    box.get_by_role("link", name="All your report emails").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Report emails")
    expect(page.get_by_role("row")).to_have_count(2)
    screenshot(page, "metrics-report-list")
    assert_accessible(page)

    # Monday morning: the report is due, and the task is delivered twice (at least once).
    ReportSubscription.objects.filter(pk=subscription.pk).update(
        next_send_at=timezone.now() - dt.timedelta(minutes=1)
    )
    runs = _runs_done()
    app.send_task(Job.METRICS_REPORTS_SEND.value, queue=QUEUE)
    app.send_task(Job.METRICS_REPORTS_SEND.value, queue=QUEUE)
    wait_for(lambda: _runs_done() >= runs + 4)  # each run logs "received" and "succeeded"
    emails = _emails_to(provider_stubs["postmark"], "lead@example.com")
    assert len(emails) == 1
    email = emails[0]
    assert email["Subject"].startswith("Overview, weekly report:")
    assert "NPS: 50 (± " in email["TextBody"] and "4 answers" in email["TextBody"]
    assert "−50 on the previous period (100): worse." in email["TextBody"]
    assert ">50 <span" in email["HtmlBody"] and "4 answers" in email["HtmlBody"]
    headers = {h["Name"]: h["Value"] for h in email["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    subscription.refresh_from_db()
    assert subscription.last_sent_at is not None
    assert subscription.next_send_at > timezone.now()

    # The email as the lead sees it.
    reader = browser.new_page(viewport={"width": 720, "height": 900})
    reader.set_content(email["HtmlBody"])
    screenshot(reader, "metrics-report-email")
    dashboard_link = reader.get_by_role("link", name="Open the dashboard").get_attribute("href")
    assert dashboard_link.startswith(f"{live_server.url}/metrics/?period=custom&from=")
    unsubscribe = reader.get_by_role("link", name="Unsubscribe from this report").get_attribute(
        "href"
    )
    reader.close()

    # Unsubscribing from the email, not signed in.
    stranger = browser.new_context()
    signed_out = stranger.new_page()
    signed_out.goto(unsubscribe)
    expect(signed_out.get_by_role("heading", level=1)).to_have_text("Unsubscribe from this report?")
    assert_accessible(signed_out)
    signed_out.get_by_role("button", name="Unsubscribe").click()
    expect(signed_out.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    screenshot(signed_out, "metrics-report-unsubscribed")
    stranger.close()
    assert not ReportSubscription.objects.filter(pk=subscription.pk).exists()
    assert re.search(r"/metrics/reports/unsubscribe/[^/]+/$", unsubscribe)

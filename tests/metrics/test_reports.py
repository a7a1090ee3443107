"""Scheduled report emails: when they go out, what they say and in which language, that a due
report goes out once however often the task runs, and the pages and links to (un)subscribe."""

from __future__ import annotations

import datetime as dt
import re
import threading
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from cxm.accounts.models import Role
from cxm.celery import app
from cxm.jobs import Job
from metrics import reports, services, tasks
from metrics.models import ReportSubscription
from surveys.models import Response
from tests.conftest import make_user
from tests.metrics.conftest import answer, make_customer, make_survey

pytestmark = pytest.mark.django_db

UTC = dt.UTC
AMS = ZoneInfo("Europe/Amsterdam")
MONDAY = dt.datetime(2026, 6, 8, 7, 5, tzinfo=UTC)  # reports the week of 1–7 June
IN_WEEK = dt.date(2026, 6, 3)
WEEK_BEFORE = dt.date(2026, 5, 27)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------
# When
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 6, 3, 12), utc(2026, 6, 8, 7)),  # a Wednesday
        (utc(2026, 6, 8, 6, 59), utc(2026, 6, 8, 7)),  # Monday, before seven
        (utc(2026, 6, 8, 7), utc(2026, 6, 15, 7)),  # Monday at seven: the next one
        (utc(2026, 5, 31, 23), utc(2026, 6, 1, 7)),  # across a month end
        (utc(2026, 12, 28, 8), utc(2027, 1, 4, 7)),  # across a year end
    ],
)
def test_weekly_reports_go_out_on_the_next_monday_at_seven(now, expected):
    assert reports.next_send_at("weekly", now) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 1, 31, 10), utc(2026, 2, 1, 7)),
        (utc(2026, 2, 1, 6), utc(2026, 2, 1, 7)),
        (utc(2026, 2, 1, 7), utc(2026, 3, 1, 7)),
        (utc(2026, 12, 15), utc(2027, 1, 1, 7)),
        (utc(2028, 2, 29, 12), utc(2028, 3, 1, 7)),  # leap day
    ],
)
def test_monthly_reports_go_out_on_the_first_at_seven(now, expected):
    assert reports.next_send_at("monthly", now) == expected


@pytest.mark.parametrize(
    ("frequency", "now", "expected_utc"),
    [
        # Summer time starts on Sunday 29 March: 07:00 on Monday is 05:00 UTC, a week after 06:00.
        ("weekly", dt.datetime(2026, 3, 23, 8, tzinfo=AMS), utc(2026, 3, 30, 5)),
        ("weekly", dt.datetime(2026, 3, 20, 12, tzinfo=AMS), utc(2026, 3, 23, 6)),
        # … and ends on Sunday 25 October.
        ("weekly", dt.datetime(2026, 10, 23, 12, tzinfo=AMS), utc(2026, 10, 26, 6)),
        ("monthly", dt.datetime(2026, 3, 15, tzinfo=AMS), utc(2026, 4, 1, 5)),
        ("monthly", dt.datetime(2026, 10, 15, tzinfo=AMS), utc(2026, 11, 1, 6)),
        # Sunday 23:30 UTC is already Monday 01:30 in Amsterdam: that Monday's 07:00.
        ("weekly", utc(2026, 3, 29, 23, 30), utc(2026, 3, 30, 5)),
    ],
)
def test_the_send_time_stays_at_seven_local_across_summer_time(
    settings, frequency, now, expected_utc
):
    settings.TIME_ZONE = "Europe/Amsterdam"
    sent_at = reports.next_send_at(frequency, now)
    assert sent_at == expected_utc
    assert sent_at.astimezone(AMS).time() == dt.time(7, 0)


@pytest.mark.parametrize(
    ("frequency", "now", "period"),
    [
        ("weekly", MONDAY, ("2026-06-01", "2026-06-07")),
        ("weekly", utc(2026, 6, 14, 20), ("2026-06-01", "2026-06-07")),  # late, on Sunday
        ("monthly", utc(2026, 7, 1, 7), ("2026-06-01", "2026-06-30")),
        ("monthly", utc(2026, 3, 1, 7), ("2026-02-01", "2026-02-28")),
    ],
)
def test_a_report_covers_the_last_full_week_or_month(frequency, now, period):
    start, end = reports.report_period(frequency, now)
    assert (start.isoformat(), end.isoformat()) == period


def test_the_period_follows_the_local_calendar(settings):
    settings.TIME_ZONE = "Europe/Amsterdam"
    # Sunday 22:30 UTC is Monday 00:30 in Amsterdam: the week just ended is complete.
    start, end = reports.report_period("weekly", utc(2026, 6, 7, 22, 30))
    assert (start, end) == (dt.date(2026, 6, 1), dt.date(2026, 6, 7))


# ------------------------------------------------------------------------------------------------
# Subscribing
# ------------------------------------------------------------------------------------------------
def test_subscribing_checks_each_field_and_names_it(cx_lead):
    with pytest.raises(ValidationError) as caught:
        reports.report_subscribe(
            user=cx_lead, dashboard="bogus", frequency="daily", query="survey=999999&channel=fax"
        )
    assert set(caught.value.message_dict) == {
        "dashboard",
        "frequency",
        "query.survey",
        "query.channel",
    }
    assert ReportSubscription.objects.count() == 0


@pytest.mark.parametrize("query", ["survey=%C2%B2", "value=a%00b&attribute=plan", "team=abc"])
def test_tampered_filters_are_refused_not_crashed_on(cx_lead, query):
    with pytest.raises(ValidationError) as caught:
        reports.report_subscribe(
            user=cx_lead, dashboard="overview", frequency="weekly", query=query
        )
    assert all(name.startswith("query.") for name in caught.value.message_dict)


def test_subscribing_again_changes_the_frequency_of_the_same_subscription(cx_lead):
    survey = make_survey("nps", cx_lead)
    first, created = reports.report_subscribe(
        user=cx_lead,
        dashboard="overview",
        frequency="weekly",
        query=f"period=7d&survey={survey.pk}&channel=email",
        now=MONDAY,
    )
    assert created and first.query == f"survey={survey.pk}&channel=email"
    assert first.next_send_at == utc(2026, 6, 15, 7)
    # The same filters from a dashboard showing another period: the same subscription.
    again, created = reports.report_subscribe(
        user=cx_lead,
        dashboard="overview",
        frequency="monthly",
        query=f"channel=email&survey={survey.pk}&period=90d&grain=week",
        now=MONDAY,
    )
    assert not created and again.pk == first.pk
    again.refresh_from_db()
    assert (again.frequency, again.next_send_at) == ("monthly", utc(2026, 7, 1, 7))
    reports.report_subscribe(
        user=cx_lead, dashboard="overview", frequency="weekly", query="channel=sms"
    )
    reports.report_subscribe(user=cx_lead, dashboard="channels", frequency="weekly", query="")
    assert ReportSubscription.objects.filter(user=cx_lead).count() == 3


def test_an_agents_subscription_does_not_keep_an_agent_filter(agent, cx_lead):
    subscription, _ = reports.report_subscribe(
        user=agent, dashboard="agents", frequency="weekly", query=f"agent={cx_lead.pk}&channel=sms"
    )
    assert subscription.query == "channel=sms"


# ------------------------------------------------------------------------------------------------
# Sending
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def week_of_answers(cx_lead):
    """NPS in the week of 1–7 June: 10, 10, 9 promoters, 7 passive, 3 detractor → +40, n = 5.
    The week before: one promoter → +100. CSAT: 5 of 8 satisfied → 62.5 %."""
    nps, csat = make_survey("nps", cx_lead), make_survey("csat", cx_lead)
    someone = make_customer()
    for score in (10, 10, 9, 7, 3):
        answer(nps, someone, score, IN_WEEK, invited=False, channel="link")
    answer(nps, someone, 10, WEEK_BEFORE, invited=False, channel="link")
    for score in (5, 5, 4, 4, 4, 3, 2, 1):
        answer(csat, someone, score, IN_WEEK, invited=False, channel="link")
    services.rollups_rebuild()
    return {"nps": nps, "csat": csat}


def _due(user, dashboard="overview", frequency="weekly", query=""):
    subscription, _ = reports.report_subscribe(
        user=user, dashboard=dashboard, frequency=frequency, query=query, now=MONDAY
    )
    ReportSubscription.objects.filter(pk=subscription.pk).update(next_send_at=utc(2026, 6, 8, 7))
    subscription.refresh_from_db()
    return subscription


def test_a_due_report_is_sent_in_the_users_language(week_of_answers):
    dutch = make_user(Role.CX_LEAD, "femke@example.nl", name="Femke de Vries", language="nl")
    english = make_user(Role.CX_LEAD, "emma@example.com", name="Emma Jones")
    _due(dutch)
    _due(english)

    assert reports.reports_send_due(now=MONDAY, base_url="https://cxm.example") == 2

    by_address = {message.to[0]: message for message in mail.outbox}
    dutch_mail, english_mail = by_address["femke@example.nl"], by_address["emma@example.com"]
    # Dates and numbers in Dutch need no catalogue of ours: Django's own has the month names.
    assert "1 juni – 7 juni 2026" in dutch_mail.subject
    assert "1 June – 7 June 2026" in english_mail.subject
    assert "62,5%" in dutch_mail.body and "62.5%" in english_mail.body
    assert "NPS: 40 (± 70,1)" in dutch_mail.body and "NPS: 40 (± 70.1)" in english_mail.body
    assert "5 answers" in english_mail.body
    assert "−60 on the previous period (100): worse." in english_mail.body
    for message in (dutch_mail, english_mail):
        html = message.alternatives[0][0]
        assert message.alternatives[0][1] == "text/html"
        assert ">40 <span" in html
        assert "https://cxm.example/metrics/" in html
        assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert '<html lang="nl">' in dutch_mail.alternatives[0][0]
    # The link back opens the dashboard on the week of the email.
    link = re.search(r"https://cxm\.example/\S+from=2026-06-01\S*", english_mail.body).group(0)
    assert "to=2026-06-07" in link and "period=custom" in link


def test_a_small_sample_is_flagged(week_of_answers, cx_lead):
    _due(cx_lead)
    reports.reports_send_due(now=MONDAY)
    body = mail.outbox[0].body
    nps_line = next(line for line in body.splitlines() if line.startswith("NPS:"))
    assert "small sample" in nps_line
    assert "Small sample: fewer than 30 behind the figure" in body


def test_running_twice_sends_one_email(week_of_answers, cx_lead):
    subscription = _due(cx_lead)
    assert reports.reports_send_due(now=MONDAY) == 1
    assert reports.reports_send_due(now=MONDAY) == 0
    assert reports.reports_send_due(now=MONDAY + dt.timedelta(minutes=15)) == 0
    assert len(mail.outbox) == 1
    subscription.refresh_from_db()
    assert subscription.last_sent_at == MONDAY
    assert subscription.next_send_at == utc(2026, 6, 15, 7)


def test_the_task_sends_due_reports(week_of_answers, cx_lead, settings, monkeypatch):
    _due(cx_lead)
    monkeypatch.setattr(reports.timezone, "now", lambda: MONDAY)
    tasks.reports_send()
    tasks.reports_send()
    assert len(mail.outbox) == 1
    assert app.conf.beat_schedule["metrics-reports-send"]["task"] == Job.METRICS_REPORTS_SEND
    assert app.conf.beat_schedule["metrics-reports-send"]["schedule"].minute == {0, 15, 30, 45}


def test_a_failed_send_is_retried_on_the_next_run(week_of_answers, cx_lead, monkeypatch):
    subscription = _due(cx_lead)

    def refuse(email, to):
        raise OSError("ESP unreachable")

    monkeypatch.setattr(reports, "_email_send", refuse)
    assert reports.reports_send_due(now=MONDAY) == 0
    subscription.refresh_from_db()
    assert subscription.next_send_at == utc(2026, 6, 8, 7) and subscription.last_sent_at is None
    monkeypatch.undo()
    assert reports.reports_send_due(now=MONDAY + dt.timedelta(minutes=15)) == 1
    assert len(mail.outbox) == 1


def test_an_agent_gets_their_own_figures(week_of_answers, agent):
    # Two of the five NPS answers of the week are credited to the agent: 10 and 3 → 0, n = 2.
    mine = Response.objects.filter(
        survey=week_of_answers["nps"], score__in=(10, 3), completed_at__date=IN_WEEK
    ).order_by("pk")
    Response.objects.filter(pk__in=[r.pk for r in mine[:1]] + [mine.last().pk]).update(agent=agent)
    services.rollups_rebuild()
    _due(agent, dashboard="agents")
    reports.reports_send_due(now=MONDAY)
    body = mail.outbox[0].body
    lines = [line for line in body.splitlines() if line.startswith("- ")]
    assert lines == [
        "- Alex Agent: Responses 2; CSAT —; NPS 0 (n = 2 · ± 138.6), small sample; "
        "First response time (median) —; Handling time (median) —"
    ]


def test_a_user_who_may_no_longer_see_dashboards_gets_nothing(week_of_answers, cx_lead):
    subscription = _due(cx_lead)
    cx_lead.is_active = False
    cx_lead.save(update_fields=["is_active"])
    assert reports.reports_send_due(now=MONDAY) == 0
    assert mail.outbox == []
    subscription.refresh_from_db()
    assert subscription.next_send_at == utc(2026, 6, 15, 7)


def test_filters_that_no_longer_match_are_explained_in_the_email(cx_lead):
    subscription = _due(cx_lead)
    ReportSubscription.objects.filter(pk=subscription.pk).update(query="survey=999999")
    assert reports.reports_send_due(now=MONDAY) == 1
    assert "survey: There is no such survey." in mail.outbox[0].body


def test_each_dashboard_has_its_email(week_of_answers, cx_lead):
    for dashboard in ("channels", "touchpoints", "agents", "visits"):
        _due(cx_lead, dashboard=dashboard)
    assert reports.reports_send_due(now=MONDAY) == 4
    subjects = sorted(message.subject.split(",")[0] for message in mail.outbox)
    assert subjects == ["Agents", "Channels", "Touchpoints", "Visit intent"]
    channels = next(m for m in mail.outbox if m.subject.startswith("Channels"))
    assert (
        "- Link: Responses 13; NPS 40 (n = 5 · ± 70.1), small sample; "
        "CSAT 62.5% (n = 8 · ± 33.5), small sample; CES —;"
    ) in channels.body
    visits = next(m for m in mail.outbox if m.subject.startswith("Visit intent"))
    assert "No answers in this period." in visits.body


# ------------------------------------------------------------------------------------------------
# Unsubscribing by the email's link, signed out
# ------------------------------------------------------------------------------------------------
def _unsubscribe_path(message) -> str:
    return re.search(r"https?://[^/\s]+(/metrics/reports/unsubscribe/\S+/)", message.body).group(1)


def test_the_unsubscribe_link_works_without_signing_in(week_of_answers, cx_lead, client):
    subscription = _due(cx_lead)
    reports.reports_send_due(now=MONDAY)
    path = _unsubscribe_path(mail.outbox[0])
    assert mail.outbox[0].extra_headers["List-Unsubscribe"].endswith(f"{path}>")

    page = client.get(path)
    assert page.status_code == 200
    assert "Unsubscribe from this report?" in page.content.decode()
    assert ReportSubscription.objects.filter(pk=subscription.pk).exists()  # GET only asks

    done = client.post(path)
    assert done.status_code == 200 and "You are unsubscribed" in done.content.decode()
    assert not ReportSubscription.objects.filter(pk=subscription.pk).exists()
    assert client.post(path).status_code == 200  # twice is fine
    assert client.get(path).status_code == 200


def test_a_mail_clients_one_click_unsubscribe_works(cx_lead, client):
    subscription = _due(cx_lead)
    path = reverse(
        "metrics:report-unsubscribe-token", args=[reports.unsubscribe_token(subscription)]
    )
    response = client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert not ReportSubscription.objects.exists()


def test_a_tampered_unsubscribe_link_does_nothing(cx_lead, client):
    subscription = _due(cx_lead)
    token = reports.unsubscribe_token(subscription)
    for bad in (token[:-2] + "xx", "garbage", reports.unsubscribe_token(subscription) + "a"):
        path = reverse("metrics:report-unsubscribe-token", args=[bad])
        assert client.post(path).status_code == 404
    assert ReportSubscription.objects.filter(pk=subscription.pk).exists()


# ------------------------------------------------------------------------------------------------
# Pages
# ------------------------------------------------------------------------------------------------
def test_subscribing_on_a_dashboard_goes_back_to_it(client, cx_lead):
    client.force_login(cx_lead)
    back = "/metrics/?period=7d&channel=email"
    response = client.post(
        reverse("metrics:report-subscribe"),
        {
            "dashboard": "overview",
            "frequency": "weekly",
            "query": "period=7d&channel=email",
            "next": back,
        },
    )
    assert response.status_code == 302 and response["Location"] == back
    subscription = ReportSubscription.objects.get(user=cx_lead)
    assert (subscription.dashboard, subscription.query) == ("overview", "channel=email")
    page = client.get(reverse("metrics:report-list")).content.decode()
    assert "Subscribed: the Overview report will come by email every Monday at 07:00." in page
    assert "Channel: Email" in page


def test_a_next_on_another_site_is_not_followed(client, cx_lead):
    client.force_login(cx_lead)
    response = client.post(
        reverse("metrics:report-subscribe"),
        {"dashboard": "overview", "frequency": "weekly", "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("metrics:report-list")


def test_bad_input_on_a_dashboard_is_a_message_there(client, cx_lead):
    client.force_login(cx_lead)
    response = client.post(
        reverse("metrics:report-subscribe"),
        {
            "dashboard": "overview",
            "frequency": "hourly",
            "query": "survey=999999",
            "next": "/metrics/reports/",
        },
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The report was not saved." in page and "How often" in page
    assert not ReportSubscription.objects.exists()


def test_bad_input_on_the_reports_page_is_a_form_error(client, cx_lead):
    client.force_login(cx_lead)
    url = reverse("metrics:report-subscribe")
    response = client.post(url, {"dashboard": "nope", "frequency": "weekly"})
    assert response.status_code == 400
    assert 'class="field-error" id="id_dashboard_error"' in response.content.decode()
    response = client.post(
        url, {"dashboard": "overview", "frequency": "weekly", "query": "survey=999999"}
    )
    assert response.status_code == 400
    assert "survey: There is no such survey." in response.content.decode()
    assert not ReportSubscription.objects.exists()


def test_the_reports_page_lists_the_users_subscriptions(
    client, cx_lead, agent, django_assert_max_num_queries
):
    surveys = [make_survey("nps", cx_lead) for _ in range(5)]
    for survey in surveys:
        reports.report_subscribe(
            user=cx_lead, dashboard="overview", frequency="weekly", query=f"survey={survey.pk}"
        )
    reports.report_subscribe(user=agent, dashboard="agents", frequency="monthly", query="")
    client.force_login(cx_lead)
    client.get(reverse("metrics:report-list"))  # warm the session and permission caches
    with django_assert_max_num_queries(12):
        page = client.get(reverse("metrics:report-list"))
    text = page.content.decode()
    for survey in surveys:
        assert f"Survey: {survey.name}" in text
    assert "Agents" not in text.split("<h2>")[0]  # the agent's subscription is not listed


def test_unsubscribing_someone_elses_report_is_not_found(client, cx_lead, agent):
    theirs, _ = reports.report_subscribe(
        user=agent, dashboard="agents", frequency="weekly", query=""
    )
    client.force_login(cx_lead)
    response = client.post(reverse("metrics:report-unsubscribe", args=[theirs.pk]))
    assert response.status_code == 404
    assert ReportSubscription.objects.filter(pk=theirs.pk).exists()


def test_unsubscribing_on_the_page(client, cx_lead):
    mine, _ = reports.report_subscribe(
        user=cx_lead, dashboard="overview", frequency="weekly", query=""
    )
    client.force_login(cx_lead)
    response = client.post(
        reverse("metrics:report-unsubscribe", args=[mine.pk]), {"next": "/metrics/reports/"}
    )
    assert response.status_code == 302 and response["Location"] == "/metrics/reports/"
    assert not ReportSubscription.objects.exists()


def test_a_user_without_a_role_may_not_subscribe(client):
    nobody = make_user(None)
    client.force_login(nobody)
    assert client.get(reverse("metrics:report-list")).status_code == 403
    response = client.post(
        reverse("metrics:report-subscribe"), {"dashboard": "overview", "frequency": "weekly"}
    )
    assert response.status_code == 403


def test_the_subscribe_box_shows_the_users_subscriptions_of_the_dashboard(cx_lead):
    reports.report_subscribe(
        user=cx_lead, dashboard="overview", frequency="monthly", query="channel=sms"
    )
    reports.report_subscribe(user=cx_lead, dashboard="channels", frequency="weekly", query="")
    request = RequestFactory().get("/metrics/?channel=sms")
    request.user = cx_lead
    html = render_to_string(
        "metrics/_subscribe.html",
        {"dashboard": "overview", "query": "channel=sms"},
        request=request,
    )
    assert 'name="query" value="channel=sms"' in html
    assert 'name="next" value="/metrics/?channel=sms"' in html
    assert "Monthly · Channel: SMS" in html
    assert html.count("Unsubscribe<span") == 1  # only this dashboard's


def test_a_monthly_report_covers_the_last_month(cx_lead):
    survey = make_survey("nps", cx_lead)
    someone = make_customer()
    for day in (dt.date(2026, 6, 1), dt.date(2026, 6, 30)):
        answer(survey, someone, 10, day, invited=False, channel="link")
    answer(survey, someone, 0, dt.date(2026, 7, 1), invited=False, channel="link")
    services.rollups_rebuild()
    dutch = make_user(Role.CX_LEAD, "femke@example.nl", name="Femke", language="nl")
    subscription, _ = reports.report_subscribe(
        user=dutch, dashboard="overview", frequency="monthly", query="", now=MONDAY
    )
    assert subscription.next_send_at == utc(2026, 7, 1, 7)
    assert reports.reports_send_due(now=utc(2026, 7, 1, 7, 10)) == 1
    message = mail.outbox[0]
    assert "juni 2026" in message.subject
    assert "NPS: 100 (± 0,0)" in message.body  # not the 0 of 1 July


@pytest.mark.django_db(transaction=True)
def test_a_report_another_run_is_sending_is_passed_over(cx_lead):
    """Two runs at once: the row one run holds is skipped by the other, not sent twice."""
    subscription = _due(cx_lead)
    locked, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with transaction.atomic():
            ReportSubscription.objects.select_for_update().get(pk=subscription.pk)
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=other_run)
    thread.start()
    assert locked.wait(10)
    try:
        assert reports.reports_send_due(now=MONDAY) == 0
    finally:
        release.set()
        thread.join()
    assert reports.reports_send_due(now=MONDAY) == 1

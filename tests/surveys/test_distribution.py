from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cxm.errors import ApplicationError, Conflict
from inbox.models import Delivery, Suppression
from journeys.models import Interaction
from journeys.services import customer_create
from surveys import selectors
from surveys.models import Distribution, Invitation
from surveys.services import distribution as services
from tests.inbox.conftest import postmark_stub, twilio_stub  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    made = {
        "ann": customer_create(name="Ann Smit", email="ann@example.com", language="nl"),
        "bob": customer_create(name="Bob", email="bob@example.com"),
        "cas": customer_create(name="Cas", external_id="cas-1"),  # no email, no phone
        "dee": customer_create(name="Dee", email="dee@example.com"),
        "eva": customer_create(
            name="Eva", email="eva@example.com", phone="+31612345678", preferred_channel="sms"
        ),
        "fay": customer_create(name="Fay", email="fay@example.com"),
    }
    Suppression.objects.create(channel="email", address="bob@example.com", reason="opt_out")
    Suppression.objects.create(channel="email", address="fay@example.com", reason="bounce")
    return made


def _start(survey, lead, captured_jobs, **values):
    values = {"name": "Q4 NPS", "audience": "all", "channels": ["email", "sms"], **values}
    distribution = services.distribution_create(survey=survey, by=lead, **values)
    services.distribution_start(distribution=distribution, by=lead)
    captured_jobs.run_all()
    distribution.refresh_from_db()
    return distribution


def test_planning_skips_with_reasons_and_sends_on_the_right_channel(
    nps_survey,
    cx_lead,
    people,
    captured_jobs,
    postmark_stub,  # noqa: F811
    twilio_stub,  # noqa: F811
):
    other = services.invitation_request(survey=nps_survey, customer=people["dee"])
    assert other.status == "queued"
    distribution = _start(nps_survey, cx_lead, captured_jobs)
    rows = {i.customer.name: i for i in distribution.invitations.select_related("customer")}
    assert rows["Bob"].skip_reason == "opted_out"
    assert rows["Cas"].skip_reason == "no_address"
    assert rows["Dee"].skip_reason == "throttled"
    assert rows["Fay"].skip_reason == "suppressed"
    assert rows["Ann Smit"].status == "queued" and rows["Ann Smit"].channel == "email"
    assert rows["Eva"].channel == "sms" and rows["Eva"].address == "+31612345678"
    assert distribution.status == "done"

    emails = [r.json() for r in postmark_stub.requests]
    ann = next(e for e in emails if e["To"] == "ann@example.com")
    headers = {h["Name"]: h["Value"] for h in ann["Headers"]}
    token = rows["Ann Smit"].token
    assert headers["List-Unsubscribe"].endswith(f"/s/{token}/unsubscribe/>")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"/s/{token}/?score=0" in ann["HtmlBody"] and f"/s/{token}/?score=10" in ann["HtmlBody"]
    assert "Hoe waarschijnlijk" in ann["HtmlBody"]  # Ann reads Dutch
    assert ann["Subject"].startswith("Hoe") or "Ann" in ann["Subject"]
    sms = [r for r in twilio_stub.requests if "Messages" in r.path]
    assert len(sms) == 1 and f"/s/{rows['Eva'].token}/" in sms[0].form()["Body"]

    progress = selectors.distribution_progress(distribution=distribution)
    assert (progress["invited"], progress["skipped"], progress["sent"]) == (2, 4, 2)
    assert dict(progress["skipped_by_reason"])["Opted out"] == 1


def test_a_customer_is_never_invited_twice_by_one_distribution(
    nps_survey, cx_lead, people, captured_jobs
):
    distribution = _start(nps_survey, cx_lead, captured_jobs, contact_days=0)
    count = distribution.invitations.count()
    assert services.distribution_plan(distribution_id=distribution.pk) == 0
    assert distribution.invitations.count() == count
    assert Delivery.objects.count() == distribution.invitations.filter(status="queued").count()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"send_at": timezone.now() - dt.timedelta(hours=1)}, "send_at"),
        ({"texts": {"en": {"intro": "Hi {firstname}"}}}, "intro"),
        ({"segment": {"language": "fy"}, "audience": "segment"}, "audience"),
        ({"channels": ["pigeon"]}, "channels"),
        ({"audience": "list", "customer_ids": []}, "customers"),
        ({"reminder_days": 5, "expires_days": 3}, "reminder_days"),
    ],
)
def test_bad_distributions_are_refused_and_nothing_is_planned(
    nps_survey, cx_lead, people, values, field
):
    with pytest.raises(ApplicationError) as error:
        services.distribution_create(
            survey=nps_survey,
            by=cx_lead,
            **{"name": "x", "audience": "all", "channels": ["email"], **values},
        )
    assert error.value.field == field
    assert not Invitation.objects.exists()


def test_send_window_in_the_customers_timezone():
    customer = customer_create(name="Tom", external_id="tom", timezone="America/New_York")
    window = (dt.time(9), dt.time(20))
    ny = zoneinfo.ZoneInfo("America/New_York")
    night = dt.datetime(2026, 11, 24, 3, 0, tzinfo=ny)
    assert services.send_time(night, customer, window) == dt.datetime(2026, 11, 24, 9, 0, tzinfo=ny)
    late = dt.datetime(2026, 11, 24, 21, 0, tzinfo=ny)
    assert services.send_time(late, customer, window) == dt.datetime(2026, 11, 25, 9, 0, tzinfo=ny)
    noon = dt.datetime(2026, 11, 24, 12, 0, tzinfo=ny)
    assert services.send_time(noon, customer, window) == noon


def test_pause_resume_and_cancel(nps_survey, cx_lead, people, captured_jobs):
    later = timezone.now() + dt.timedelta(hours=2)
    distribution = _start(nps_survey, cx_lead, captured_jobs, send_at=later, contact_days=0)
    assert distribution.invitations.filter(status="planned").count() == 3
    services.distribution_set_status(distribution=distribution, status="paused", by=cx_lead)
    Invitation.objects.update(send_at=timezone.now())
    assert services.invitations_dispatch() == 0
    services.distribution_set_status(distribution=distribution, status="sending", by=cx_lead)
    captured_jobs.run_all()
    assert distribution.invitations.filter(status="queued").count() == 3
    with pytest.raises(Conflict):
        services.distribution_start(distribution=distribution, by=cx_lead)


def test_cancel_drops_what_was_not_sent(nps_survey, cx_lead, people, captured_jobs):
    later = timezone.now() + dt.timedelta(hours=2)
    distribution = _start(nps_survey, cx_lead, captured_jobs, send_at=later, contact_days=0)
    services.distribution_set_status(distribution=distribution, status="cancelled", by=cx_lead)
    assert set(distribution.invitations.values_list("status", flat=True)) == {
        "cancelled",
        "skipped",
    }
    assert not Delivery.objects.exists()


def test_one_reminder_to_those_who_did_not_answer(nps_survey, cx_lead, people, captured_jobs):
    distribution = _start(nps_survey, cx_lead, captured_jobs, reminder_days=3, contact_days=0)
    queued = list(distribution.invitations.filter(status="queued"))
    Invitation.objects.filter(pk=queued[0].pk).update(status="responded")
    Invitation.objects.update(send_at=timezone.now() - dt.timedelta(days=4))
    assert services.reminders_send() == len(queued) - 1
    assert services.reminders_send() == 0  # one reminder only
    captured_jobs.run_all()
    reminder = (
        Delivery.objects.filter(subject__startswith="Reminder").first()
        or Delivery.objects.filter(text__startswith="Reminder").first()
    )
    assert reminder is not None


def test_unsubscribe_link_suppresses_and_shows_on_the_timeline(nps_survey, people):
    invitation = services.invitation_request(survey=nps_survey, customer=people["ann"])
    url = reverse("surveys:unsubscribe", args=[invitation.token])
    csrf_client = Client(enforce_csrf_checks=True)
    assert (
        "Afmelden" in csrf_client.get(url).content.decode()
        or csrf_client.get(url).status_code == 200
    )
    # RFC 8058: the mail client's one-click POST has no CSRF token.
    reply = csrf_client.post(url, {"List-Unsubscribe": "One-Click"})
    assert reply.status_code == 200
    assert Suppression.objects.filter(
        channel="email", address="ann@example.com", reason="opt_out"
    ).exists()
    assert Interaction.objects.filter(customer=people["ann"], kind="customer.opted_out").exists()
    with pytest.raises(Conflict) as error:
        services.invitation_request(survey=nps_survey, customer=people["ann"], channels=["email"])
    assert error.value.code == "opted_out"


def test_invitation_api(api_client, cx_lead, nps_survey, people):
    from cxm.accounts.services import api_token_create

    issued = api_token_create(user=cx_lead, name="shop")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    url = f"/api/v1/surveys/{nps_survey.pk}/invitations/"
    created = api_client.post(
        url, {"customer": {"email": "ann@example.com"}, "agent_name": "Sam"}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["status"] == "queued" and "/s/" in created.json()["link"]
    refused = api_client.post(url, {"customer": {"email": "bob@example.com"}}, format="json")
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["code"] == "opted_out"
    again = api_client.post(url, {"customer": {"email": "ann@example.com"}}, format="json")
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "throttled"
    missing = api_client.post(url, {"customer": {"email": "nobody@example.com"}}, format="json")
    assert missing.status_code == 404
    bad = api_client.post(url, {"customer": {"id": 1}, "channels": ["fax"]}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"].startswith("channels")


def test_distribution_pages(client, cx_lead, nps_survey, people, captured_jobs):
    client.force_login(cx_lead)
    page = client.get(reverse("surveys:distribution-new", args=[nps_survey.pk]))
    assert page.status_code == 200
    reply = client.post(
        reverse("surveys:distribution-new", args=[nps_survey.pk]),
        {
            "name": "Dutch customers",
            "audience": "segment",
            "segment_language": "nl",
            "channels": ["email"],
            "intro": "Hoi {first_name}!",
        },
    )
    assert reply.status_code == 302, reply.content.decode()[:3000]
    distribution = Distribution.objects.get(name="Dutch customers")
    client.post(reverse("surveys:distribution-status", args=[distribution.pk]), {"action": "start"})
    captured_jobs.run_all()
    progress = client.get(reverse("surveys:distribution-progress", args=[distribution.pk]))
    assert 'data-count="invited">1<' in progress.content.decode()
    bad = client.post(
        reverse("surveys:distribution-new", args=[nps_survey.pk]),
        {"name": "x", "audience": "all", "channels": ["email"], "intro": "Hi {voornaam}"},
    )
    assert "Unknown merge field" in bad.content.decode()


def test_a_touchpoint_event_invites_after_its_delay(
    api_client, cx_lead, nps_survey, people, captured_jobs
):
    from cxm.accounts.services import api_token_create
    from journeys import services as journeys

    journey = journeys.journey_save(name="Buying")
    stage = journeys.stage_save(journey=journey, name="Delivery")
    delivered = journeys.touchpoint_save(
        stage=stage, name="Order delivered", key="order.delivered", channel="phone"
    )
    rule = services.trigger_rule_save(
        survey=nps_survey,
        touchpoint=delivered,
        kind="",
        delay_minutes=120,
        sample_percent=100,
        channels=["email"],
    )
    issued = api_token_create(user=cx_lead, name="shop")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    posted = api_client.post(
        "/api/v1/interactions/",
        {
            "kind": "order.delivered",
            "touchpoint": "order.delivered",
            "customer": {"email": "ann@example.com"},
        },
        format="json",
    )
    assert posted.status_code in (200, 201), posted.json()
    captured_jobs.run_all()
    invitation = Invitation.objects.get(trigger=rule)
    assert invitation.status == "planned" and invitation.customer == people["ann"]
    assert invitation.send_at > timezone.now() + dt.timedelta(minutes=110)
    # Due: beat's dispatch sends it.
    Invitation.objects.filter(pk=invitation.pk).update(send_at=timezone.now())
    assert services.invitations_dispatch() == 1
    # The same event again (a redelivered task) invites nobody twice.
    interaction = Interaction.objects.get(kind="order.delivered")
    assert services.interaction_triggers(interaction_id=interaction.pk) == []
    assert Invitation.objects.filter(trigger=rule).count() == 1


def test_sampling_is_stable_per_interaction(nps_survey):
    rule = services.trigger_rule_save(
        survey=nps_survey,
        touchpoint=None,
        kind="order.placed",
        delay_minutes=0,
        sample_percent=30,
        channels=["email"],
    )
    picked = [services._sampled(rule, n) for n in range(2000)]
    assert 0.25 < sum(picked) / 2000 < 0.35
    assert picked == [services._sampled(rule, n) for n in range(2000)]


def _sms_from(customer, text: str, n: int):
    from inbox import services as inbox
    from inbox.channels.base import InboundMessage

    return inbox.message_receive(
        inbound=InboundMessage(
            provider="twilio",
            provider_id=f"SM{n:032d}",
            channel="sms",
            from_address=customer.phone,
            to_address="+3197010000000",
            text=text,
        )
    )


def test_an_sms_reply_answers_the_survey(nps_survey, cx_lead, people, captured_jobs):
    from inbox.models import ChannelAccount
    from surveys.models import Response
    from surveys.services.replies import parse_score

    ChannelAccount.objects.create(
        kind="sms", name="SMS", address="+3197010000000", provider="outbox"
    )
    eva = people["eva"]
    distribution = _start(
        nps_survey,
        cx_lead,
        captured_jobs,
        audience="list",
        customer_ids=[eva.pk],
        channels=["sms"],
        reply_mode=True,
    )
    invitation = distribution.invitations.get()
    question = Delivery.objects.get(to_address=eva.phone)
    assert "Reply with a number from 0 to 10" in question.text

    _sms_from(eva, "When does my order come?", 1)  # not an answer: stays with the agents
    captured_jobs.run_all()
    assert not Response.objects.exists()

    _sms_from(eva, " 8/10!", 2)
    captured_jobs.run_all()
    response = Response.objects.get(invitation=invitation)
    assert response.score == 8 and response.completed_at is None
    follow_up = Delivery.objects.filter(to_address=eva.phone).order_by("-id").first()
    assert "What would make it a 10" in follow_up.text

    _sms_from(eva, "Deliver on Saturdays", 3)
    captured_jobs.run_all()
    response.refresh_from_db()
    assert response.completed_at is not None
    assert response.answers.get(question__key="ten").text == "Deliver on Saturdays"
    assert "Thank you" in Delivery.objects.filter(to_address=eva.phone).order_by("-id").first().text
    from inbox.models import Conversation

    # Eva's question about her order keeps the conversation open for an agent.
    assert Conversation.objects.get(customer=eva).status == "open"
    q = nps_survey.questions.get(key="recommend")
    assert [parse_score(t, q) for t in ("8", " 8!", "8/10", "11", "eight", "8 of 10")] == [
        8,
        8,
        8,
        None,
        None,
        None,
    ]


def test_a_quarterly_distribution_starts_its_next_run_when_due(
    nps_survey, cx_lead, people, captured_jobs
):
    from surveys.services import recurring

    distribution = _start(nps_survey, cx_lead, captured_jobs, repeat_months=3, contact_days=0)
    assert recurring.distributions_repeat() == 0  # not due yet
    later = recurring.add_months(distribution.started_at, 3) + dt.timedelta(minutes=1)
    assert recurring.distributions_repeat(now=later) == 1
    assert recurring.distributions_repeat(now=later) == 0  # one next run only
    run = distribution.next_run
    captured_jobs.run_all()
    assert run.status == "sending" and run.repeat_months == 3
    assert (
        run.invitations.filter(status="queued").count()
        == distribution.invitations.filter(status="queued").count()
    )
    assert recurring.add_months(dt.datetime(2026, 11, 30, tzinfo=dt.UTC), 3).date() == dt.date(
        2027, 2, 28
    )


def test_message_preview_per_customer(client, cx_lead, nps_survey, people):
    client.force_login(cx_lead)
    distribution = services.distribution_create(
        survey=nps_survey,
        by=cx_lead,
        name="Preview",
        audience="all",
        channels=["email"],
        texts={"en": {"subject": "Hello {first_name}!"}},
    )
    page = client.get(
        reverse("surveys:distribution-preview", args=[distribution.pk]),
        {"customer": people["dee"].pk},
    )
    assert "Hello Dee!" in page.content.decode()
    html = client.get(
        reverse("surveys:distribution-preview-html", args=[distribution.pk]),
        {"customer": people["dee"].pk},
    )
    assert (
        "?score=10" in html.content.decode() and "unsafe-inline" in html["Content-Security-Policy"]
    )


def test_an_uploaded_list_with_unknown_customers_is_refused(client, cx_lead, nps_survey, people):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(cx_lead)
    upload = SimpleUploadedFile(
        "list.csv", b"email\nann@example.com\nghost@example.com\n", "text/csv"
    )
    reply = client.post(
        reverse("surveys:distribution-new", args=[nps_survey.pk]),
        {"name": "List", "audience": "list", "channels": ["email"], "customer_file": upload},
    )
    assert reply.status_code == 200 and "ghost@example.com" in reply.content.decode()
    assert not Distribution.objects.exists()
    good = SimpleUploadedFile("list.csv", b"email\nANN@example.com\ndee@example.com\n", "text/csv")
    reply = client.post(
        reverse("surveys:distribution-new", args=[nps_survey.pk]),
        {"name": "List", "audience": "list", "channels": ["email"], "customer_file": good},
    )
    assert reply.status_code == 302
    assert sorted(Distribution.objects.get().customer_ids) == sorted(
        [people["ann"].pk, people["dee"].pk]
    )


def test_a_conversation_of_survey_answers_only_is_resolved(
    nps_survey, cx_lead, people, captured_jobs
):
    from inbox.models import ChannelAccount, Conversation

    ChannelAccount.objects.create(
        kind="sms", name="SMS", address="+3197010000000", provider="outbox"
    )
    eva = people["eva"]
    _start(
        nps_survey,
        cx_lead,
        captured_jobs,
        audience="list",
        customer_ids=[eva.pk],
        channels=["sms"],
        reply_mode=True,
    )
    _sms_from(eva, "10", 1)
    captured_jobs.run_all()
    _sms_from(eva, "Great service", 2)
    captured_jobs.run_all()
    assert Conversation.objects.get(customer=eva).status == "resolved"


def test_a_reply_survey_with_a_required_choice_sends_the_link_to_finish(
    cx_lead, people, captured_jobs
):
    from inbox.models import ChannelAccount
    from surveys import services as survey_services
    from surveys.models import Response

    ChannelAccount.objects.create(
        kind="sms", name="SMS", address="+3197010000000", provider="outbox"
    )
    survey = survey_services.survey_create(
        name="Visit", kind="nps", default_language="en", languages=[], by=cx_lead
    )
    survey_services.question_save(
        survey=survey,
        language="en",
        key="reason",
        type="single",
        required=True,
        texts={"text": "Why?"},
        choice_labels=["Price", "Quality"],
    )
    survey = survey_services.survey_status_change(survey=survey, status="active", by=cx_lead)
    eva = people["eva"]
    _start(
        survey,
        cx_lead,
        captured_jobs,
        audience="list",
        customer_ids=[eva.pk],
        channels=["sms"],
        reply_mode=True,
    )
    _sms_from(eva, "3", 1)
    captured_jobs.run_all()
    response = Response.objects.get(customer=eva)
    assert response.score == 3 and response.completed_at is None
    last = Delivery.objects.filter(to_address=eva.phone).order_by("-id").first()
    assert "A few more questions" in last.text and "/s/" in last.text


def test_no_reminder_after_an_opt_out(nps_survey, cx_lead, people, captured_jobs):
    distribution = _start(nps_survey, cx_lead, captured_jobs, reminder_days=2, contact_days=0)
    Invitation.objects.update(send_at=timezone.now() - dt.timedelta(days=3))
    ann = distribution.invitations.get(customer=people["ann"])
    services.invitation_unsubscribe(invitation=ann)
    sent = services.reminders_send()
    assert sent == distribution.invitations.filter(status="queued").count() - 1
    assert Invitation.objects.get(pk=ann.pk).reminder is None


def test_dispatch_checks_expiry_and_the_window_when_it_sends(
    nps_survey, cx_lead, people, captured_jobs
):
    later = timezone.now() + dt.timedelta(hours=1)
    distribution = _start(
        nps_survey, cx_lead, captured_jobs, send_at=later, contact_days=0, expires_days=1
    )
    services.distribution_set_status(distribution=distribution, status="paused", by=cx_lead)
    # Paused for two days: the links would be dead by now.
    Invitation.objects.filter(status="planned").update(
        send_at=timezone.now() - dt.timedelta(days=2),
        expires_at=timezone.now() - dt.timedelta(days=1),
    )
    services.distribution_set_status(distribution=distribution, status="sending", by=cx_lead)
    captured_jobs.run_all()
    assert set(
        distribution.invitations.exclude(
            skip_reason__in=["opted_out", "suppressed", "no_address"]
        ).values_list("skip_reason", flat=True)
    ) == {"outside_window"}


def test_segments_by_stage_activity_and_last_survey(nps_survey, cx_lead, people, captured_jobs):
    from journeys import services as journeys
    from journeys.services import interaction_record

    journey = journeys.journey_save(name="Buying")
    stage = journeys.stage_save(journey=journey, name="Delivery")
    touchpoint = journeys.touchpoint_save(
        stage=stage, name="Delivered", key="order.delivered", channel="phone"
    )
    interaction_record(
        customer=people["ann"], kind="order.delivered", channel="phone", touchpoint=touchpoint
    )
    distribution = services.distribution_create(
        survey=nps_survey,
        by=cx_lead,
        name="Delivered",
        audience="segment",
        channels=["email"],
        segment={"stage": stage.pk, "active_days": 7, "unsurveyed_days": 30},
    )
    assert list(services.audience_customers(distribution)) == [people["ann"]]


def test_a_lost_planning_task_is_planned_again(nps_survey, cx_lead, people, captured_jobs):
    distribution = services.distribution_create(
        survey=nps_survey, by=cx_lead, name="Lost", audience="all", channels=["email"]
    )
    services.distribution_start(distribution=distribution, by=cx_lead)
    captured_jobs.sent.clear()  # the worker died with the planning task
    captured_jobs.commit()
    captured_jobs.sent.clear()
    Distribution.objects.filter(pk=distribution.pk).update(
        started_at=timezone.now() - dt.timedelta(minutes=11)
    )
    services.invitations_dispatch()
    captured_jobs.run_all()
    distribution.refresh_from_db()
    assert distribution.planned_at is not None and distribution.invitations.exists()

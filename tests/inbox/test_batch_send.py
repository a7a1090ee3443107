"""Bulk email: a batch of own-content deliveries claimed in one statement and sent over one ESP
connection (the real anymail Postmark backend against a stub), receipts recorded one by one."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from django.template import Context, Template
from django.utils import timezone

from inbox import services
from inbox.channels import email as email_channel
from inbox.models import Delivery
from journeys.services import customer_create
from surveys import messages
from surveys import services as survey_services
from surveys.models import Invitation, Survey
from surveys.services.builder import new_token
from tests import stubs

pytestmark = pytest.mark.django_db


def _drafts(count: int, *, domain: str = "example.com") -> list[services.DeliveryDraft]:
    return [
        services.DeliveryDraft(
            channel="email",
            to_address=f"customer{n}@{domain}",
            subject=f"How did we do, {n}?",
            text=f"Tell us: https://cxm.example.com/s/token{n}/",
            html=f"<p>Tell us: <a href='https://cxm.example.com/s/token{n}/'>here</a></p>",
            headers={"List-Unsubscribe": f"<https://cxm.example.com/s/token{n}/unsubscribe/>"},
            from_address="surveys@shop.example.com",
        )
        for n in range(count)
    ]


def _queue(count: int, captured_jobs, **kwargs) -> list[int]:
    rows = services.deliveries_queue(drafts=_drafts(count, **kwargs))
    captured_jobs.commit()
    captured_jobs.sent.clear()
    return [row.pk for row in rows]


def test_a_batch_sends_every_delivery_once_with_its_own_provider_id(
    postmark_stub, captured_jobs, django_assert_max_num_queries
):
    ids = _queue(25, captured_jobs)
    # One statement claims the batch, one records each receipt, one asks for the rest.
    with django_assert_max_num_queries(25 + 3):
        assert services.deliveries_send(delivery_ids=ids) == 25
    sent = [r.json() for r in postmark_stub.requests]
    assert sorted(m["To"] for m in sent) == sorted(f"customer{n}@example.com" for n in range(25))
    first = next(m for m in sent if m["To"] == "customer3@example.com")
    assert first["Subject"] == "How did we do, 3?" and "token3" in first["HtmlBody"]
    headers = {h["Name"]: h["Value"] for h in first["Headers"]}
    assert headers["List-Unsubscribe"] == "<https://cxm.example.com/s/token3/unsubscribe/>"
    rows = list(Delivery.objects.filter(pk__in=ids))
    assert {r.status for r in rows} == {"sent"}
    assert len({r.provider_message_id for r in rows}) == 25
    assert all(r.attempts == 1 and r.claimed_until is None and r.error == "" for r in rows)

    # The task delivered again (at least once): nothing is sent twice.
    assert services.deliveries_send(delivery_ids=ids) == 0
    assert len(postmark_stub.requests) == 25


def test_a_500_for_one_message_retries_it_later_and_the_others_are_sent(
    postmark_stub, captured_jobs
):
    ids = _queue(5, captured_jobs)

    def respond(recorded):
        if recorded.json()["To"] == "customer2@example.com":
            return 500, {"ErrorCode": 500, "Message": "Internal error"}
        return stubs.postmark_ok(recorded)

    postmark_stub.respond = respond
    before = timezone.now()
    assert services.deliveries_send(delivery_ids=ids) == 4
    failed = Delivery.objects.get(to_address="customer2@example.com")
    assert failed.status == "queued" and failed.provider_message_id == ""
    assert failed.error == "ESP answered 500" and failed.claimed_until is None
    assert failed.next_attempt_at >= before + dt.timedelta(seconds=services.RETRY_DELAYS[0])
    assert Delivery.objects.filter(status="sent").count() == 4
    captured_jobs.commit()
    assert captured_jobs.sent == [("inbox.outbound.send_batch", {"delivery_ids": [failed.pk]})]

    # Not due yet: a redelivered batch leaves it alone; when it is due, it goes.
    assert services.deliveries_send(delivery_ids=ids) == 0
    postmark_stub.respond = stubs.postmark_ok
    Delivery.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())
    assert services.deliveries_send(delivery_ids=[failed.pk]) == 1
    failed.refresh_from_db()
    assert failed.status == "sent" and failed.attempts == 2 and failed.error == ""
    assert len(postmark_stub.requests) == 6


def test_a_permanent_422_fails_that_delivery_with_the_reason(postmark_stub, captured_jobs):
    ids = _queue(4, captured_jobs)
    # Postmark's answers to a bad request: https://postmarkapp.com/developer/api/overview#error-codes
    refusals = {
        "customer1@example.com": {
            "ErrorCode": 300,
            "Message": "Invalid 'To' address: 'customer1@example.com'.",
        },
        "customer2@example.com": {"ErrorCode": 300, "Message": "Invalid 'From' address: 'x'."},
    }

    def respond(recorded):
        refusal = refusals.get(recorded.json()["To"])
        return (422, refusal) if refusal else stubs.postmark_ok(recorded)

    postmark_stub.respond = respond
    assert services.deliveries_send(delivery_ids=ids) == 4
    refused = Delivery.objects.get(to_address="customer1@example.com")
    assert refused.status == "failed" and refused.claimed_until is None
    assert refused.error.startswith("recipient refused")
    invalid = Delivery.objects.get(to_address="customer2@example.com")
    assert invalid.status == "failed" and invalid.error.startswith("ESP answered 422")
    assert "Invalid 'From' address" in invalid.error
    assert Delivery.objects.filter(status="sent").count() == 2
    captured_jobs.commit()
    assert captured_jobs.sent == []  # nothing to retry


def test_the_last_temporary_error_fails_the_delivery(postmark_stub, captured_jobs):
    [delivery_id] = _queue(1, captured_jobs)
    Delivery.objects.filter(pk=delivery_id).update(attempts=len(services.RETRY_DELAYS))
    postmark_stub.respond = lambda recorded: (503, {"ErrorCode": 503, "Message": "Down"})
    services.deliveries_send(delivery_ids=[delivery_id])
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.error == "ESP answered 503"


def test_an_unreachable_esp_is_a_temporary_error(settings, captured_jobs):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.INBOX_EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "pm",
        "POSTMARK_API_URL": f"http://127.0.0.1:{port}/",
    }
    ids = _queue(2, captured_jobs)
    services.deliveries_send(delivery_ids=ids)
    rows = list(Delivery.objects.filter(pk__in=ids))
    assert {r.status for r in rows} == {"queued"}
    assert all(r.error.startswith("ESP unreachable") and r.next_attempt_at for r in rows)


def test_claimed_not_due_and_sent_deliveries_are_left_alone(postmark_stub, captured_jobs):
    ids = _queue(4, captured_jobs)
    later = timezone.now() + dt.timedelta(minutes=1)
    Delivery.objects.filter(pk=ids[0]).update(claimed_until=later)  # another task holds it
    Delivery.objects.filter(pk=ids[1]).update(next_attempt_at=later)  # its retry is not due
    Delivery.objects.filter(pk=ids[2]).update(status="sent", provider_message_id="pm-1")
    assert services.deliveries_send(delivery_ids=ids) == 1
    assert [r.json()["To"] for r in postmark_stub.requests] == ["customer3@example.com"]
    assert Delivery.objects.get(pk=ids[0]).attempts == 0


def test_statuses_only_move_forward(postmark_stub, captured_jobs, monkeypatch):
    ids = _queue(2, captured_jobs)
    real = email_channel.send_many

    def send_many(outbound):
        for result in real(outbound):
            # A bounce webhook overtakes the receipt of the first message.
            Delivery.objects.filter(pk=ids[0]).update(status="bounced", error="Hard bounce")
            yield result

    monkeypatch.setattr(email_channel, "send_many", send_many)
    services.deliveries_send(delivery_ids=ids)
    bounced, sent = Delivery.objects.get(pk=ids[0]), Delivery.objects.get(pk=ids[1])
    assert bounced.status == "bounced" and bounced.provider_message_id
    assert sent.status == "sent"


def test_a_batch_whose_claim_runs_short_hands_the_rest_back(
    postmark_stub, captured_jobs, monkeypatch
):
    ids = _queue(3, captured_jobs)
    monkeypatch.setattr(services, "SEND_MARGIN", services.CLAIM)  # no time left to send
    assert services.deliveries_send(delivery_ids=ids) == 0
    assert postmark_stub.requests == []
    rows = list(Delivery.objects.filter(pk__in=ids))
    assert all(r.status == "queued" and r.attempts == 0 and r.claimed_until is None for r in rows)
    captured_jobs.commit()
    assert captured_jobs.sent == [("inbox.outbound.send_batch", {"delivery_ids": ids})]


def test_sms_in_a_batch_goes_one_by_one_beside_the_email(postmark_stub, twilio_stub, captured_jobs):
    rows = services.deliveries_queue(
        drafts=[
            *_drafts(2),
            services.DeliveryDraft(channel="sms", to_address="+31612345678", text="Hi"),
        ]
    )
    captured_jobs.commit()
    assert services.deliveries_send(delivery_ids=[r.pk for r in rows]) == 3
    assert len(postmark_stub.requests) == 2
    assert len([r for r in twilio_stub.requests if "Messages" in r.path]) == 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


# ------------------------------------------------------------------------------------------------
# The drafts of a dispatch chunk are made as one invitation's would be
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def invitations(cx_lead):
    survey = survey_services.survey_create(
        name="Relationship NPS", kind="nps", default_language="en", languages=["nl"], by=cx_lead
    )
    survey = survey_services.survey_status_change(survey=survey, status="active", by=cx_lead)
    people = [
        ("<b>&amp;'Ann\" Smit", "nl", "ann@example.com"),
        ("Bob", "en", "bob@example.com"),
        ("", "en", "cas@example.com"),
        ("Dee", "de", "dee@example.com"),
    ]
    made = []
    for name, language, address in people:
        customer = customer_create(name=name or "x", email=address, language=language)
        if not name:
            customer.name = ""
            customer.save(update_fields=["name"])
        made.append(
            Invitation.objects.create(
                survey=survey,
                customer=customer,
                token=new_token(),
                channel="email",
                address=address,
                language=language if language in survey.languages else "en",
                status="planned",
            )
        )
    sms = customer_create(name="Eva", phone="+31612345678")
    made.append(
        Invitation.objects.create(
            survey=survey,
            customer=sms,
            token=new_token(),
            channel="sms",
            address="+31612345678",
            language="en",
            status="planned",
        )
    )
    return made


@pytest.mark.parametrize("reminder", [False, True])
def test_chunk_drafts_equal_single_drafts(invitations, reminder, django_assert_max_num_queries):
    single = [messages.invitation_draft(i, reminder=reminder) for i in invitations]
    with django_assert_max_num_queries(1):  # the first question, once
        chunk = messages.invitation_drafts(invitations, reminder=reminder)
    assert chunk == single
    assert "&lt;b&gt;&amp;amp;&#x27;Ann&quot;" in chunk[0].html
    assert "<b>&amp;'Ann\"" in chunk[0].text


def test_chunk_drafts_with_a_logo_equal_single_drafts(invitations):
    Survey.objects.filter(pk=invitations[0].survey_id).update(logo="surveys/logos/brand.png")
    for invitation in invitations:
        invitation.survey.refresh_from_db()
    assert messages.invitation_drafts(invitations) == [
        messages.invitation_draft(i) for i in invitations
    ]


def test_a_template_that_transforms_a_personal_part_is_rendered_for_each(invitations, monkeypatch):
    template = Template("{{ intro|upper }} {{ link }} {{ unsubscribe|length }}")
    monkeypatch.setattr(
        messages, "render_to_string", lambda name, context: template.render(Context(context))
    )
    chunk = messages.invitation_drafts(invitations[:2])
    assert chunk == [messages.invitation_draft(i) for i in invitations[:2]]
    assert "ANN" in chunk[0].html

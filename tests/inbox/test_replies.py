"""Replies through the real anymail and twilio clients to stub providers; deliveries and statuses."""

from __future__ import annotations

import json

import pytest

from inbox import services
from inbox.models import Conversation, Delivery, Message, Suppression
from journeys.services import customers_upsert
from tests import stubs
from tests.inbox.conftest import basic_auth, twilio_post

pytestmark = pytest.mark.django_db


def _conversation(accounts, channel: str, customer_values: dict) -> Conversation:
    customer = customers_upsert([customer_values])[0].customer
    return Conversation.objects.create(
        customer=customer,
        channel_account=accounts[channel],
        channel=channel,
        subject="Sofa delivery",
        team=accounts[channel].team,
    )


def _inbound(conversation: Conversation, message_id: str = "<first@mail.example.com>") -> Message:
    from django.utils import timezone

    return Message.objects.create(
        conversation=conversation,
        direction="in",
        channel=conversation.channel,
        text="Where is it?",
        message_id=message_id,
        created_at=timezone.now(),
    )


def test_email_reply_reaches_postmark_with_threading_headers(
    accounts, postmark_stub, agent, captured_jobs
):
    conversation = _conversation(accounts, "email", {"email": "ann@example.com"})
    _inbound(conversation)
    message = services.reply_send(
        conversation=conversation, author=agent, text="It arrives on Friday."
    )
    captured_jobs.run_all()
    sent = postmark_stub.requests[0].json()
    headers = {h["Name"]: h["Value"] for h in sent["Headers"]}
    assert sent["To"] == "ann@example.com" and sent["From"] == "support@shop.example.com"
    assert sent["ReplyTo"] == f"reply+{conversation.reply_token}@cxm.localhost"
    assert sent["Subject"] == "Re: Sofa delivery"
    assert headers["In-Reply-To"] == "<first@mail.example.com>"
    assert headers["References"] == "<first@mail.example.com>"
    assert headers["Message-ID"] == message.message_id
    delivery = Delivery.objects.get()
    assert (
        delivery.status == "sent"
        and delivery.provider == "postmark"
        and delivery.provider_message_id
    )


def test_postmark_tracking_moves_the_delivery_forward_only(
    client, accounts, postmark_stub, agent, captured_jobs
):
    conversation = _conversation(accounts, "email", {"email": "ann@example.com"})
    services.reply_send(conversation=conversation, author=agent, text="Hello")
    captured_jobs.run_all()
    delivery = Delivery.objects.get()

    def track(record_type: str, event_id: str, **extra):
        body = {
            "RecordType": record_type,
            "MessageID": delivery.provider_message_id,
            "Recipient": "ann@example.com",
            "ID": event_id,
            **extra,
        }
        response = client.post(
            "/anymail/postmark/tracking/",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=basic_auth(),
        )
        assert response.status_code == 200
        captured_jobs.run_all()
        delivery.refresh_from_db()
        return delivery.status

    assert track("Delivery", "e1", DeliveredAt="2026-11-24T10:00:00Z") == "delivered"
    # An out-of-order "sent"-like event never moves it back.
    services.delivery_status_apply(
        status=services.DeliveryStatus("postmark", "late", delivery.provider_message_id, "sent")
    )
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_a_hard_bounce_suppresses_the_address(
    client, accounts, postmark_stub, agent, captured_jobs
):
    conversation = _conversation(accounts, "email", {"email": "gone@example.com"})
    services.reply_send(conversation=conversation, author=agent, text="Hello")
    captured_jobs.run_all()
    delivery = Delivery.objects.get()
    body = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "TypeCode": 1,
        "MessageID": delivery.provider_message_id,
        "Email": "gone@example.com",
        "ID": 42,
        "Description": "Unknown user",
    }
    client.post(
        "/anymail/postmark/tracking/",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(),
    )
    captured_jobs.run_all()
    delivery.refresh_from_db()
    assert delivery.status == "bounced"
    assert Suppression.objects.filter(channel="email", address="gone@example.com").exists()
    with pytest.raises(services.ApplicationError, match="opted out"):
        services.reply_send(conversation=conversation, author=agent, text="Again")


def test_mailgun_is_a_setting_away(accounts, agent, settings, captured_jobs):
    stub = stubs.StubServer(stubs.mailgun_ok).start()
    try:
        settings.INBOX_EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
        settings.ANYMAIL = {
            "MAILGUN_API_KEY": "key-test",
            "MAILGUN_SENDER_DOMAIN": "mg.example.com",
            "MAILGUN_API_URL": stub.url + "/v3",
        }
        conversation = _conversation(accounts, "email", {"email": "ann@example.com"})
        services.reply_send(conversation=conversation, author=agent, text="Via Mailgun")
        captured_jobs.run_all()
    finally:
        stub.stop()
    request = stub.requests[0]
    assert request.path == "/v3/mg.example.com/messages.mime" or request.path.startswith(
        "/v3/mg.example.com/messages"
    )
    delivery = Delivery.objects.get()
    assert delivery.provider == "mailgun" and delivery.status == "sent"


def test_sms_reply_reaches_twilio_and_the_status_callback_marks_it_delivered(
    client, accounts, twilio_stub, agent, captured_jobs
):
    conversation = _conversation(accounts, "sms", {"phone": "+31612345678"})
    services.reply_send(conversation=conversation, author=agent, text="Friday between 9 and 12.")
    captured_jobs.run_all()
    form = twilio_stub.requests[0].form()
    assert twilio_stub.requests[0].path == "/2010-04-01/Accounts/ACtest/Messages.json"
    assert (form["To"], form["From"], form["Body"]) == (
        "+31612345678",
        "+3197010000000",
        "Friday between 9 and 12.",
    )
    assert form["StatusCallback"] == "https://cxm.example.com/inbox/twilio/status/"
    delivery = Delivery.objects.get()
    assert delivery.provider == "twilio" and delivery.provider_message_id.startswith("SM")
    for status in ("delivered", "sent"):  # a late "sent" after "delivered"
        response = twilio_post(
            client,
            "/inbox/twilio/status/",
            {
                "MessageSid": delivery.provider_message_id,
                "MessageStatus": status,
                "To": "+31612345678",
            },
        )
        assert response.status_code == 204
    captured_jobs.run_all()
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_whatsapp_replies_use_whatsapp_addresses(accounts, twilio_stub, agent, captured_jobs):
    conversation = _conversation(accounts, "whatsapp", {"phone": "+31612345678"})
    services.reply_send(conversation=conversation, author=agent, text="Hoi!")
    captured_jobs.run_all()
    form = twilio_stub.requests[0].form()
    assert form["To"] == "whatsapp:+31612345678" and form["From"] == "whatsapp:+3197010000001"


def test_temporary_errors_retry_and_permanent_ones_fail_with_the_reason(
    accounts, twilio_stub, agent, captured_jobs
):
    conversation = _conversation(accounts, "sms", {"phone": "+31612345678"})
    twilio_stub.respond = lambda r: (
        503,
        {"code": 20500, "message": "Service unavailable", "status": 503},
    )
    services.reply_send(conversation=conversation, author=agent, text="One")
    captured_jobs.commit()
    name, kwargs = captured_jobs.sent.pop(0)
    from cxm.celery import app

    app.tasks[name].run(**kwargs)
    delivery = Delivery.objects.get()
    assert delivery.status == "queued" and delivery.attempts == 1 and "503" in delivery.error
    captured_jobs.commit()
    assert captured_jobs.names() == ["inbox.outbound.send"]  # scheduled again, with a countdown
    captured_jobs.sent.clear()

    twilio_stub.respond = lambda r: (
        400,
        {"code": 21211, "message": "The 'To' number is not valid.", "status": 400},
    )
    app.tasks[name].run(**kwargs)  # too early: the retry is not due yet, so nothing happens
    delivery.refresh_from_db()
    assert delivery.status == "queued" and delivery.attempts == 1
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)  # the backoff has passed
    app.tasks[name].run(**kwargs)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "21211" in delivery.error

    twilio_stub.respond = stubs.twilio_ok
    services.delivery_retry(delivery=delivery)
    captured_jobs.run_all()
    delivery.refresh_from_db()
    assert delivery.status == "sent"


def test_first_response_time_is_recorded(accounts, agent, captured_jobs):
    from django.utils import timezone

    conversation = _conversation(accounts, "sms", {"phone": "+31612345678"})
    Conversation.objects.filter(pk=conversation.pk).update(first_customer_message_at=timezone.now())
    services.reply_send(conversation=conversation, author=agent, text="Hi")
    services.reply_send(conversation=conversation, author=agent, text="Again")
    conversation.refresh_from_db()
    first = conversation.first_response_at
    assert first is not None and conversation.status == "pending"
    services.conversation_set_status(conversation=conversation, status="resolved", by=agent)
    conversation.refresh_from_db()
    assert conversation.first_response_at == first and conversation.resolved_at is not None


def test_a_claimed_delivery_is_not_sent_twice_and_the_sweeper_requeues_lost_work(
    accounts, twilio_stub, agent, captured_jobs
):
    import datetime as dt

    from django.utils import timezone

    from inbox.models import InboundEvent

    conversation = _conversation(accounts, "sms", {"phone": "+31612345678"})
    services.reply_send(conversation=conversation, author=agent, text="Once")
    captured_jobs.commit()
    captured_jobs.sent.pop(0)
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(
        claimed_until=timezone.now() + dt.timedelta(minutes=1)
    )
    services.delivery_send(delivery_id=delivery.pk)  # another task holds it: nothing is sent
    assert twilio_stub.requests == []

    # The task was lost: after the claim expires, the sweeper queues it again, and it is sent once.
    old = timezone.now() - dt.timedelta(minutes=10)
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=old, created_at=old)
    event = InboundEvent.objects.create(
        provider="twilio", kind="message", provider_id="SMlost", payload={}
    )
    InboundEvent.objects.filter(pk=event.pk).update(received_at=old)
    assert services.stuck_work_requeue() == {"events": 1, "deliveries": 1}
    captured_jobs.commit()
    assert sorted(captured_jobs.names()) == ["inbox.inbound.process", "inbox.outbound.send"]
    services.delivery_send(delivery_id=delivery.pk)
    services.delivery_send(delivery_id=delivery.pk)
    assert len(twilio_stub.requests) == 1

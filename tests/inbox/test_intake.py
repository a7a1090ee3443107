"""Provider webhooks → stored once → processed: threading, customers, timeline, suppression."""

from __future__ import annotations

import json

import pytest

from inbox.models import Conversation, InboundEvent, Message, Suppression
from inbox.signals import message_received
from journeys.models import Customer, Interaction
from tests.inbox.conftest import basic_auth, twilio_post

pytestmark = pytest.mark.django_db

SMS = {
    "MessageSid": "SM1111",
    "From": "+31612345678",
    "To": "+3197010000000",
    "Body": "Where is my sofa?",
    "NumMedia": "0",
}


def test_signed_sms_is_stored_once_and_lands_in_the_teams_unassigned(
    client, accounts, twilio_stub, captured_jobs
):
    heard = []
    message_received.connect(
        lambda **kw: heard.append(kw["message_id"]), weak=False, dispatch_uid="t-intake"
    )
    try:
        first = twilio_post(client, "/inbox/twilio/inbound/", SMS)
        again = twilio_post(client, "/inbox/twilio/inbound/", SMS)
        assert first.status_code == again.status_code == 200
        assert "<Response>" in first.content.decode()
        assert InboundEvent.objects.count() == 1
        captured_jobs.run_all()
    finally:
        message_received.disconnect(dispatch_uid="t-intake")
    conversation = Conversation.objects.get()
    assert (
        conversation.channel == "sms"
        and conversation.team == accounts["sms"].team
        and conversation.assignee is None
    )
    assert conversation.customer.phone == "+31612345678"
    assert Message.objects.get().text == "Where is my sofa?"
    assert Interaction.objects.get(kind="message.received").customer == conversation.customer
    assert heard == [Message.objects.get().pk]


def test_unsigned_or_wrongly_signed_twilio_posts_are_refused(client, accounts, twilio_stub):
    assert client.post("/inbox/twilio/inbound/", SMS).status_code == 403
    assert (
        twilio_post(client, "/inbox/twilio/inbound/", SMS, token="another-token").status_code == 403
    )
    assert twilio_post(client, "/inbox/twilio/inbound/", {"Body": "no sid"}).status_code == 400
    assert not InboundEvent.objects.exists()


def test_a_second_sms_joins_the_open_conversation_and_whatsapp_is_its_own_channel(
    client, accounts, twilio_stub, captured_jobs
):
    twilio_post(client, "/inbox/twilio/inbound/", SMS)
    twilio_post(client, "/inbox/twilio/inbound/", {**SMS, "MessageSid": "SM2222", "Body": "Hello?"})
    twilio_post(
        client,
        "/inbox/twilio/inbound/",
        {
            **SMS,
            "MessageSid": "SM3333",
            "From": "whatsapp:+31612345678",
            "To": "whatsapp:+3197010000001",
        },
    )
    captured_jobs.run_all()
    assert Customer.objects.count() == 1
    by_channel = {c.channel: c.messages.count() for c in Conversation.objects.all()}
    assert by_channel == {"sms": 2, "whatsapp": 1}


def test_stop_adds_the_number_to_the_suppression_list_and_start_removes_it(
    client, accounts, twilio_stub, captured_jobs
):
    twilio_post(client, "/inbox/twilio/inbound/", {**SMS, "Body": " STOP "})
    captured_jobs.run_all()
    assert Suppression.objects.filter(channel="sms", address="+31612345678", reason="stop").exists()
    twilio_post(client, "/inbox/twilio/inbound/", {**SMS, "MessageSid": "SM9", "Body": "start"})
    captured_jobs.run_all()
    assert not Suppression.objects.exists()


POSTMARK_INBOUND = {
    "FromName": "Ann <script>alert(1)</script>",
    "From": "ann@example.com",
    "FromFull": {"Email": "ann@example.com", "Name": "Ann Smit"},
    "To": "support@shop.example.com",
    "ToFull": [{"Email": "support@shop.example.com", "Name": ""}],
    "OriginalRecipient": "support@shop.example.com",
    "Subject": "=?UTF-8?B?V2hlcmUgaXMgbXkg8J+bi++4jyBzb2ZhPw==?=",
    "MessageID": "pm-inbound-1",
    "Date": "Mon, 23 Nov 2026 10:00:00 +0100",
    "TextBody": "Hi, where is my sofa?",
    "HtmlBody": '<p onclick="steal()">Hi</p><script>alert(1)</script><img src="https://tracker.example.com/p.gif"><form action="x"><input></form><a href="javascript:alert(1)">x</a>',
    "Headers": [{"Name": "Message-ID", "Value": "<CAF1@mail.example.com>"}],
    "Attachments": [],
}


def _postmark(client, payload, auth=None):
    return client.post(
        "/anymail/postmark/inbound/",
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth or basic_auth(),
    )


def test_inbound_email_is_stored_sanitized_and_threaded(
    client, accounts, postmark_stub, captured_jobs
):
    assert _postmark(client, POSTMARK_INBOUND).status_code == 200
    assert _postmark(client, POSTMARK_INBOUND).status_code == 200  # a retry by Postmark
    captured_jobs.run_all()
    message = Message.objects.get()
    assert message.subject == "Where is my 🛋️ sofa?"
    for bad in ("<script", "onclick", "javascript:", "<img", "<form", "tracker.example.com"):
        assert bad not in message.html
    assert message.message_id == "<CAF1@mail.example.com>"
    conversation = message.conversation
    assert (
        conversation.customer.email == "ann@example.com"
        and conversation.team == accounts["email"].team
    )

    reply = {
        **POSTMARK_INBOUND,
        "MessageID": "pm-inbound-2",
        "Subject": "Re: sofa",
        "Headers": [
            {"Name": "Message-ID", "Value": "<CAF2@mail.example.com>"},
            {"Name": "In-Reply-To", "Value": "<CAF1@mail.example.com>"},
        ],
    }
    conversation.status = "resolved"
    conversation.save()
    _postmark(client, reply)
    captured_jobs.run_all()
    conversation.refresh_from_db()
    assert conversation.messages.count() == 2 and conversation.status == "open"  # reopened


def test_the_reply_token_threads_whatever_the_headers(
    client, accounts, postmark_stub, captured_jobs
):
    _postmark(client, POSTMARK_INBOUND)
    captured_jobs.run_all()
    conversation = Conversation.objects.get()
    other = {
        **POSTMARK_INBOUND,
        "MessageID": "pm-3",
        "Headers": [],
        "OriginalRecipient": f"reply+{conversation.reply_token}@cxm.localhost",
        "To": f"reply+{conversation.reply_token}@cxm.localhost",
        "ToFull": [{"Email": f"reply+{conversation.reply_token}@cxm.localhost", "Name": ""}],
        "Subject": "totally new subject",
    }
    _postmark(client, other)
    captured_jobs.run_all()
    assert Conversation.objects.count() == 1 and conversation.messages.count() == 2


def test_auto_replies_never_reopen_a_conversation(client, accounts, postmark_stub, captured_jobs):
    _postmark(client, POSTMARK_INBOUND)
    captured_jobs.run_all()
    conversation = Conversation.objects.get()
    conversation.status = "resolved"
    conversation.save()
    auto = {
        **POSTMARK_INBOUND,
        "MessageID": "pm-auto",
        "Headers": [
            {"Name": "Auto-Submitted", "Value": "auto-replied"},
            {"Name": "In-Reply-To", "Value": "<CAF1@mail.example.com>"},
        ],
    }
    _postmark(client, auto)
    captured_jobs.run_all()
    conversation.refresh_from_db()
    assert conversation.status == "resolved"
    assert conversation.messages.filter(is_auto_reply=True).count() == 1


def test_email_webhooks_demand_the_secret(client, accounts, postmark_stub, settings):
    assert _postmark(client, POSTMARK_INBOUND, auth=basic_auth("hooks:wrong")).status_code == 400
    settings.ANYMAIL = {k: v for k, v in settings.ANYMAIL.items() if k != "WEBHOOK_SECRET"}
    assert _postmark(client, POSTMARK_INBOUND).status_code == 404
    assert not InboundEvent.objects.exists()


def test_broken_email_parts_are_kept_as_far_as_they_can_be_read(
    client, accounts, postmark_stub, captured_jobs
):
    odd = {
        **POSTMARK_INBOUND,
        "MessageID": "pm-odd",
        "Subject": "=?bogus-charset?Q?=FF=FE?= " + "x" * 2000,
        "TextBody": "café",
        "HtmlBody": "",
        "Attachments": [
            {
                "Name": "<script>.exe",
                "Content": "TVqQAAMAAAAEAAAA",
                "ContentType": "application/x-msdownload",
                "ContentLength": 12,
            },
            {
                "Name": "receipt.pdf",
                "Content": "JVBERi0xLjQK",
                "ContentType": "application/pdf",
                "ContentLength": 9,
            },
        ],
    }
    assert _postmark(client, odd).status_code == 200
    captured_jobs.run_all()
    message = Message.objects.get()
    assert [a.filename for a in message.attachments.all()] == ["receipt.pdf"]
    assert message.data["rejected_attachments"][0]["reason"] == "File type not accepted."


def test_whatsapp_media_is_downloaded_with_the_account_credentials(
    client, accounts, twilio_stub, captured_jobs
):
    png = b"\x89PNG\r\n\x1a\nfake"
    twilio_stub.respond = lambda r: (
        (200, png, "image/png") if "/Media/" in r.path else (404, {}, "application/json")
    )
    media_url = "https://api.twilio.com/2010-04-01/Accounts/ACtest/Messages/MM1/Media/ME1"
    params = {
        **SMS,
        "MessageSid": "MM1",
        "From": "whatsapp:+31612345678",
        "To": "whatsapp:+3197010000001",
        "NumMedia": "1",
        "MediaUrl0": media_url,
        "MediaContentType0": "image/png",
        "Body": "",
    }
    twilio_post(client, "/inbox/twilio/inbound/", params)
    captured_jobs.run_all()
    message = Message.objects.get()
    attachment = message.attachments.get()
    assert attachment.content_type == "image/png" and attachment.file.read() == png
    request = twilio_stub.requests[-1]
    assert request.path.endswith("/Media/ME1") and request.headers["Authorization"].startswith(
        "Basic "
    )
    from inbox import services

    assert services.media_fetch(message_id=message.pk) == 0  # already stored: nothing twice


def test_a_malformed_email_webhook_is_a_400_and_stores_nothing(client, accounts, postmark_stub):
    response = client.post(
        "/anymail/postmark/inbound/",
        "{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(),
    )
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


def test_a_poison_event_records_its_error_and_is_not_swept_forever(accounts, captured_jobs):
    import datetime as dt

    from django.utils import timezone

    from inbox import services

    event = InboundEvent.objects.create(
        provider="twilio", kind="message", provider_id="SMbad", payload={"not": "a message"}
    )
    for _ in range(services.MAX_PROCESS_ATTEMPTS):
        with pytest.raises(TypeError):
            services.inbound_event_process(event_id=event.pk)
    event.refresh_from_db()
    assert event.attempts == services.MAX_PROCESS_ATTEMPTS and event.error.startswith("TypeError")
    InboundEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert services.stuck_work_requeue()["events"] == 0

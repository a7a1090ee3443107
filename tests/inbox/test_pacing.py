from __future__ import annotations

import time

import pytest

from inbox import pacing, services
from inbox.models import ChannelAccount, Delivery

pytestmark = pytest.mark.django_db


def test_slots_are_reserved_at_the_rate_and_far_ones_handed_back():
    sender = f"sms:+31{time.time_ns()}"
    waits = [pacing.reserve(sender=sender, rate=5) for _ in range(12)]
    assert waits[0] == pytest.approx(0, abs=0.02)
    assert waits[1] == pytest.approx(0.2, abs=0.05) and waits[5] == pytest.approx(1.0, abs=0.05)
    assert waits[-1] < 0  # more than two seconds away: try later, nothing reserved


def test_sms_deliveries_keep_to_the_senders_rate(twilio_stub, settings):
    ChannelAccount.objects.create(
        kind="sms", name="Bulk", address="+3197010000099", provider="twilio", send_rate=20
    )
    drafts = [
        services.DeliveryDraft(channel="sms", to_address=f"+3161234{n:04d}", text="Hi")
        for n in range(10)
    ]
    rows = services.deliveries_queue(drafts=drafts)
    started = time.monotonic()
    services.deliveries_send(delivery_ids=[r.pk for r in rows])
    elapsed = time.monotonic() - started
    assert Delivery.objects.filter(status="sent").count() == 10
    assert elapsed >= 9 / 20 - 0.05  # ten messages at 20 a second: at least 0.45 s


def test_a_messaging_service_sends_and_is_paced_as_one_sender(twilio_stub):
    ChannelAccount.objects.create(
        kind="sms",
        name="Service",
        address="MG0123456789abcdef0123456789abcdef",
        provider="twilio",
        send_rate=50,
    )
    rows = services.deliveries_queue(
        drafts=[services.DeliveryDraft(channel="sms", to_address="+31612340000", text="Hi")]
    )
    services.deliveries_send(delivery_ids=[r.pk for r in rows])
    sent = [r.form() for r in twilio_stub.requests if "Messages" in r.path][-1]
    assert (
        sent["MessagingServiceSid"] == "MG0123456789abcdef0123456789abcdef" and "From" not in sent
    )

"""Every delivery is signed, and the receiver's check is the code printed in docs/webhooks.md."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.utils import timezone

from cxm.webhooks import payloads, services
from cxm.webhooks.models import WebhookDelivery
from tests.webhooks.conftest import documented_verifier, subscribe

pytestmark = pytest.mark.django_db


def _send_one(subscription, captured_jobs):
    services.event_publish("customer.updated", {"customer_id": 1, "changed": ["name"]})
    captured_jobs.run_all()
    return WebhookDelivery.objects.get(subscription=subscription)


def test_a_delivery_verifies_with_the_documented_code(receiver, private_targets, captured_jobs):
    verify = documented_verifier()
    subscription = subscribe(receiver.url)
    delivery = _send_one(subscription, captured_jobs)
    assert delivery.status == "succeeded"
    (request,) = receiver.requests
    header = request.headers["X-Cxm-Signature"]
    assert header.startswith("t=") and ",v1=" in header
    assert request.headers["X-Cxm-Event"] == "customer.updated"
    assert request.headers["X-Cxm-Delivery"] == str(delivery.pk)
    assert request.headers["Content-Type"] == "application/json"
    assert verify(subscription.secret, request.body, header)
    # The body is the envelope: id, event, created_at, data.
    body = json.loads(request.body)
    assert body["event"] == "customer.updated"
    assert body["id"].startswith("evt_") and len(body["id"]) == 36
    assert body["data"] == {"customer_id": 1, "changed": ["name"]}
    assert dt.datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    # Anything else fails: another secret, a changed body, a stale or future timestamp.
    assert not verify("whsec_other", request.body, header)
    assert not verify(subscription.secret, request.body + b" ", header)
    assert not verify(subscription.secret, request.body, header, now=time.time() + 301)
    assert not verify(subscription.secret, request.body, header, now=time.time() - 301)
    assert verify(subscription.secret, request.body, header, now=time.time() + 299)
    assert not verify(subscription.secret, request.body, "v1=" + header.split("v1=")[1])
    assert not verify(subscription.secret, request.body, "")


def test_secrets_are_long_random_and_rotation_signs_with_both_for_a_day(
    receiver, private_targets, captured_jobs, admin_user
):
    verify = documented_verifier()
    subscription = subscribe(receiver.url, by=admin_user)
    other = subscribe(receiver.url, by=admin_user, name="Other")
    assert subscription.secret.startswith("whsec_") and len(subscription.secret) >= 6 + 43
    assert subscription.secret != other.secret
    old = subscription.secret
    new = services.subscription_secret_rotate(subscription=subscription, by=admin_user)
    assert new != old
    services.subscription_delete(subscription=other, by=admin_user)
    _send_one(subscription, captured_jobs)
    header = receiver.requests[-1].headers["X-Cxm-Signature"]
    assert header.count("v1=") == 2
    body = receiver.requests[-1].body
    assert verify(new, body, header) and verify(old, body, header)
    # A day later only the new secret signs.
    subscription.refresh_from_db()
    subscription.previous_secret_expires_at = timezone.now() - dt.timedelta(seconds=1)
    subscription.save(update_fields=["previous_secret_expires_at"])
    services.event_publish("customer.updated", {"customer_id": 2, "changed": ["email"]})
    captured_jobs.run_all()
    header = receiver.requests[-1].headers["X-Cxm-Signature"]
    assert header.count("v1=") == 1
    assert verify(new, receiver.requests[-1].body, header)
    assert not verify(old, receiver.requests[-1].body, header)


def test_signature_header_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    header = payloads.signature_header(["whsec_k"], 1700000000, b'{"a":1}')
    expected = hmac.new(b"whsec_k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"

"""Each event is published from its real source action, cheaply, and never sent in a request."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse

from cxm.webhooks import services, transport
from cxm.webhooks.models import WebhookDelivery
from inbox.models import Conversation, Message
from journeys.services import customer_create
from surveys import services as survey_services
from surveys.models import Response
from tests.conftest import wait_for
from tests.inbox.conftest import twilio_post
from tests.webhooks.conftest import subscribe

pytestmark = pytest.mark.django_db

ALL_EVENTS = [
    "response.submitted",
    "followup.opened",
    "followup.closed",
    "conversation.created",
    "message.received",
    "customer.updated",
]


def _bodies(receiver, event):
    return [json.loads(r.body) for r in receiver.requests if r.headers["X-Cxm-Event"] == event]


def _answer(client, invitation, score: str, comment: str) -> Response:
    url = reverse("surveys:respond", args=[invitation.token])
    client.post(url, {"question": "recommend", "q-recommend": score, "action": "next"})
    follow_up = "improve" if int(score) <= 6 else "ten" if int(score) <= 8 else "liked"
    client.post(url, {"question": follow_up, f"q-{follow_up}": comment, "action": "next"})
    response = Response.objects.get(invitation=invitation)
    assert response.completed_at is not None
    return response


def test_submitting_a_response_publishes_response_submitted(
    client, receiver, private_targets, captured_jobs, nps_survey, customer
):
    subscribe(receiver.url, ["response.submitted"])
    invitation = survey_services.invitation_create(survey=nps_survey, customer=customer)
    response = _answer(client, invitation, "3", "Faster delivery")
    captured_jobs.run_all()
    (body,) = _bodies(receiver, "response.submitted")
    data = body["data"]
    assert data["response_id"] == response.pk
    assert data["survey"] == {"id": nps_survey.pk, "name": "Relationship NPS", "kind": "nps"}
    assert (data["score"], data["band"]) == (3, "negative")
    assert data["customer_id"] == customer.pk
    assert data["customer"]["email"] == "dirk@example.nl"
    assert data["url"].endswith(f"/surveys/responses/{response.pk}/")
    answers = {a["question"]: a for a in data["answers"]}
    assert answers["recommend"]["value"] == 3 and answers["recommend"]["type"] == "nps"
    assert answers["improve"]["value"] == "Faster delivery"
    assert data["completed_at"]


def test_a_response_with_nobody_subscribed_costs_no_payload_queries(
    client, captured_jobs, nps_survey, customer, django_assert_max_num_queries
):
    from surveys.receivers import _response_submitted_publish

    invitation = survey_services.invitation_create(survey=nps_survey, customer=customer)
    response = _answer(client, invitation, "9", "")
    services.event_subscribed("response.submitted")  # the cached list, warm
    with django_assert_max_num_queries(0):
        _response_submitted_publish(sender=None, response_id=response.pk)
    assert not WebhookDelivery.objects.exists()


def test_an_inbound_sms_publishes_conversation_created_then_message_received(
    client, accounts, twilio_stub, receiver, private_targets, captured_jobs
):
    subscribe(receiver.url, ["conversation.created", "message.received"])
    sms = {
        "MessageSid": "SMw1",
        "From": "+31612345678",
        "To": "+3197010000000",
        "Body": "Is my sofa coming today?",
        "NumMedia": "0",
    }
    assert twilio_post(client, "/inbox/twilio/inbound/", sms).status_code == 200
    assert not WebhookDelivery.objects.exists()  # the webhook only stored the event
    captured_jobs.run_all()
    conversation = Conversation.objects.get()
    message = Message.objects.get()
    (created,) = _bodies(receiver, "conversation.created")
    assert created["data"]["conversation_id"] == conversation.pk
    assert created["data"]["channel"] == "sms"
    assert created["data"]["customer"]["phone"] == "+31612345678"
    assert created["data"]["url"].endswith(f"/inbox/conversations/{conversation.pk}/")
    (received,) = _bodies(receiver, "message.received")
    assert received["data"]["message_id"] == message.pk
    assert received["data"]["text"] == "Is my sofa coming today?"
    assert received["data"]["from"] == "+31612345678"
    assert received["data"]["auto_reply"] is False
    # A second message in the same conversation: a message, no new conversation.
    twilio_post(client, "/inbox/twilio/inbound/", {**sms, "MessageSid": "SMw2", "Body": "Hello?"})
    captured_jobs.run_all()
    assert len(_bodies(receiver, "conversation.created")) == 1
    assert [b["data"]["text"] for b in _bodies(receiver, "message.received")] == [
        "Is my sofa coming today?",
        "Hello?",
    ]


def test_logging_a_call_publishes_conversation_created(
    receiver, private_targets, captured_jobs, agent
):
    from inbox.services import call_log

    subscribe(receiver.url, ["conversation.created", "message.received"])
    customer = customer_create(name="Ann Smit", email="ann@example.com")
    call_log(
        customer=customer,
        author=agent,
        direction="in",
        duration_seconds=120,
        outcome="answered",
        notes="Asked about the invoice",
    )
    captured_jobs.run_all()
    (created,) = _bodies(receiver, "conversation.created")
    assert created["data"]["channel"] == "phone"
    assert created["data"]["assignee_id"] == agent.pk
    assert _bodies(receiver, "message.received") == []  # a logged call is not a message


def test_updating_a_customer_publishes_customer_updated_with_what_changed(
    api_client, cx_lead, receiver, private_targets, captured_jobs
):
    subscribe(receiver.url, ["customer.updated"])
    customer = customer_create(name="Ann", email="ann@example.com")
    api_client.force_authenticate(cx_lead)
    reply = api_client.patch(
        f"/api/v1/customers/{customer.pk}/",
        {"name": "Ann Smit", "attributes": {"plan": "gold"}},
        format="json",
    )
    assert reply.status_code == 200
    # The same values again change nothing and publish nothing.
    api_client.patch(f"/api/v1/customers/{customer.pk}/", {"name": "Ann Smit"}, format="json")
    captured_jobs.run_all()
    (body,) = _bodies(receiver, "customer.updated")
    assert body["data"]["customer_id"] == customer.pk
    assert body["data"]["changed"] == ["attributes", "name"]
    assert body["data"]["customer"]["name"] == "Ann Smit"
    assert body["data"]["customer"]["attributes"] == {"plan": "gold"}


def test_the_customer_page_publishes_too(
    client, admin_user, receiver, private_targets, captured_jobs
):
    subscribe(receiver.url, ["customer.updated"])
    customer = customer_create(name="Ann", email="ann@example.com")
    client.force_login(admin_user)
    reply = client.post(
        reverse("journeys:customer-edit", args=[customer.pk]),
        {"name": "Ann de Wit", "email": "ann@example.com"},
    )
    assert reply.status_code == 302
    captured_jobs.run_all()
    (body,) = _bodies(receiver, "customer.updated")
    assert "name" in body["data"]["changed"]


def test_publishing_is_one_insert_and_no_query_when_nobody_listens(
    receiver, private_targets, captured_jobs, django_assert_num_queries
):
    services.event_publish("customer.updated", {"customer_id": 1})  # warms the cached list
    with django_assert_num_queries(0):
        services.event_publish("customer.updated", {"customer_id": 1})
    for n in range(5):
        subscribe(receiver.url, ALL_EVENTS, name=f"Tool {n}")
    services.event_subscribed("customer.updated")
    with django_assert_num_queries(1):  # one bulk INSERT for five subscribers
        services.event_publish("customer.updated", {"customer_id": 2, "changed": ["name"]})
    assert WebhookDelivery.objects.count() == 5
    assert len({d.payload["id"] for d in WebhookDelivery.objects.all()}) == 1
    assert captured_jobs.sent == []  # nothing before commit
    captured_jobs.commit()
    # One task for the event's five deliveries.
    ((name, kwargs),) = captured_jobs.sent
    assert name == "webhooks.deliver"
    assert sorted(kwargs["delivery_ids"]) == sorted(
        WebhookDelivery.objects.values_list("pk", flat=True)
    )


def test_publishing_never_calls_the_receiver_in_the_request(
    api_client, cx_lead, receiver, private_targets, captured_jobs, monkeypatch
):
    calls = []
    monkeypatch.setattr(transport, "post", lambda *a, **k: calls.append(a))
    subscribe(receiver.url, ["customer.updated"])
    customer = customer_create(name="Ann", email="ann@example.com")
    api_client.force_authenticate(cx_lead)
    api_client.patch(f"/api/v1/customers/{customer.pk}/", {"name": "Anna"}, format="json")
    captured_jobs.commit()
    assert calls == [] and receiver.requests == []
    assert WebhookDelivery.objects.get().status == "pending"


def test_a_deleted_or_switched_off_subscription_gets_nothing_new(
    receiver, private_targets, captured_jobs, admin_user
):
    on = subscribe(receiver.url, ["customer.updated"], name="On")
    off = subscribe(receiver.url, ["customer.updated"], name="Off")
    gone = subscribe(receiver.url, ["customer.updated"], name="Gone")
    services.subscription_update(
        subscription=off, name="Off", url=off.url, events=off.events, format="json",
        is_active=False, by=admin_user,
    )  # fmt: skip
    services.subscription_delete(subscription=gone, by=admin_user)
    services.event_publish("customer.updated", {"customer_id": 1})
    assert list(WebhookDelivery.objects.values_list("subscription_id", flat=True)) == [on.pk]


def test_slack_subscriptions_get_detractor_alerts_only(
    client, receiver, private_targets, captured_jobs, nps_survey, customer
):
    subscribe(
        receiver.url,
        ["response.submitted", "followup.opened", "followup.closed", "message.received"],
        format="slack",
        name="Slack #cx-alerts",
    )
    promoter = customer_create(name="Piet", email="piet@example.nl")
    happy = survey_services.invitation_create(survey=nps_survey, customer=promoter)
    _answer(client, happy, "10", "All good")
    unhappy = survey_services.invitation_create(survey=nps_survey, customer=customer)
    response = _answer(client, unhappy, "2", "Late <again> & broken")
    captured_jobs.run_all()
    services.event_publish("followup.closed", {"followup_id": 1})
    services.event_publish("message.received", {"message_id": 1})
    services.event_publish(
        "followup.opened",
        {
            "followup_id": 7,
            "url": "https://cx.example.com/followups/7/",
            "customer": {"id": customer.pk, "name": "Dirk de Vries"},
            "owner": {"id": 3, "name": "Lena Lead"},
            "due_at": "2026-11-25T10:00:00Z",
            "score": 2,
        },
    )
    captured_jobs.run_all()
    # Only the detractor's response and the opened follow-up were written and sent.
    assert list(WebhookDelivery.objects.order_by("id").values_list("event", flat=True)) == [
        "response.submitted",
        "followup.opened",
    ]
    alert, followup = (json.loads(r.body) for r in receiver.requests)
    assert set(alert) == {"text", "blocks"}
    assert "Detractor alert: 2 on “Relationship NPS” from Dirk de Vries" in alert["text"]
    section = alert["blocks"][0]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "> Late &lt;again&gt; &amp; broken" in section["text"]["text"]
    link = alert["blocks"][1]["elements"][0]["text"]
    assert link.startswith("<http") and f"/surveys/responses/{response.pk}/|" in link
    assert "Follow-up opened for Dirk de Vries" in followup["text"]
    assert "*Owner:* Lena Lead" in followup["blocks"][0]["text"]["text"]
    assert "<https://cx.example.com/followups/7/|" in followup["blocks"][1]["elements"][0]["text"]


def test_slack_subscriptions_need_an_alert_event(fake_dns):
    from cxm.errors import ApplicationError

    fake_dns["hooks.slack.com"] = ["93.184.216.34"]
    with pytest.raises(ApplicationError) as caught:
        subscribe("https://hooks.slack.com/services/T/B/x", ["customer.updated"], format="slack")
    assert caught.value.field == "events"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_slow_receiver_does_not_slow_the_request(
    api_client, cx_lead, receiver, private_targets, celery_worker
):
    """Through the real worker (allowed to reach 127.0.0.1 by tests/webhooks/conftest.py)."""
    receiver.delay = 3.0
    subscribe(receiver.url, ["customer.updated"])
    customer = customer_create(name="Ann", email="ann@example.com")
    api_client.force_authenticate(cx_lead)
    started = time.monotonic()
    reply = api_client.patch(f"/api/v1/customers/{customer.pk}/", {"name": "Anna"}, format="json")
    took = time.monotonic() - started
    assert reply.status_code == 200
    assert took < 1.0, f"the request took {took:.2f} s"
    wait_for(lambda: receiver.requests, timeout=15)
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(status="succeeded").first(), timeout=15
    )
    assert delivery.tries.get().duration_ms >= 2900

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cxm.accounts.models import Role
from journeys import services
from journeys.models import Customer, Interaction, TouchpointDailyVolume
from journeys.signals import interaction_recorded
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

URL = "/api/v1/interactions/"


@pytest.fixture
def touchpoint(db):
    journey = services.journey_save(name="Orders")
    stage = services.stage_save(journey=journey, name="Delivery")
    return services.touchpoint_save(
        stage=stage, name="Order delivered", key="order.delivered", channel="email"
    )


@pytest.fixture
def lead_api(api_client, cx_lead):
    api_client.force_authenticate(cx_lead)
    return api_client


def _fields(body):
    return {e["field"] for e in body["errors"]}


def test_one_event_creates_the_customer_and_uses_the_touchpoint(lead_api, touchpoint):
    response = lead_api.post(
        URL,
        {
            "kind": "order.delivered",
            "touchpoint": "order.delivered",
            "customer": {"email": "Ann@Example.com", "name": "Ann"},
            "summary": "Order 1001",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    interaction = Interaction.objects.get()
    assert interaction.customer.email == "ann@example.com" and interaction.customer.name == "Ann"
    assert interaction.touchpoint == touchpoint and interaction.channel == "email"
    assert response.json()["customer_id"] == interaction.customer_id


@pytest.mark.parametrize(
    ("identity", "existing"),
    [
        ({"external_id": "C-7"}, {"external_id": "C-7", "name": "Seven"}),
        ({"email": "SEVEN@example.com"}, {"email": "seven@example.com"}),
        ({"phone": "06 1234 5678"}, {"phone": "+31612345678"}),
    ],
)
def test_the_customer_is_matched_by_each_identity(lead_api, identity, existing):
    customer = services.customers_upsert([existing])[0].customer
    response = lead_api.post(URL, {"kind": "visit.store", "customer": identity}, format="json")
    assert response.status_code == 201
    assert Customer.objects.count() == 1
    assert Interaction.objects.get().customer_id == customer.pk


def test_idempotency_key_header_replays_the_original_answer(lead_api):
    body = {"kind": "order.placed", "customer": {"external_id": "C1"}}
    first = lead_api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="req-1")
    again = lead_api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="req-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Interaction.objects.count() == 1
    other = lead_api.post(
        URL, {**body, "kind": "order.cancelled"}, format="json", HTTP_IDEMPOTENCY_KEY="req-1"
    )
    assert other.status_code == 409 and _fields(other.json()) == {"Idempotency-Key"}


def test_per_event_key_makes_a_retry_a_duplicate(lead_api):
    body = {
        "kind": "order.placed",
        "customer": {"external_id": "C1"},
        "idempotency_key": "order-1001-placed",
    }
    first = lead_api.post(URL, body, format="json").json()
    second = lead_api.post(URL, body, format="json")
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate" and second.json()["id"] == first["id"]
    assert Interaction.objects.count() == 1


def test_a_batch_answers_per_event_and_keeps_the_good_ones(lead_api, touchpoint):
    future = (timezone.now() + dt.timedelta(hours=2)).isoformat()
    events = [
        {
            "kind": "order.delivered",
            "touchpoint": "order.delivered",
            "customer": {"email": "good@example.com"},
        },
        {
            "kind": "order.delivered",
            "touchpoint": "no.such.touchpoint",
            "customer": {"email": "bad1@example.com"},
        },
        {"kind": "order.delivered", "customer": {}},
        {
            "kind": "order.delivered",
            "customer": {"email": "bad3@example.com"},
            "occurred_at": future,
        },
        {
            "kind": "order.delivered",
            "customer": {"email": "bad4@example.com"},
            "occurred_at": "last tuesday",
        },
        {
            "kind": "order.delivered",
            "customer": {"email": "bad5@example.com"},
            "data": {"blob": "x" * 20_000},
        },
        {"kind": "order.delivered", "customer": {"email": "bad6@example.com"}, "colour": "red"},
        {
            "kind": "order.delivered",
            "customer": {"email": "dup@example.com"},
            "idempotency_key": "same",
        },
        {
            "kind": "order.delivered",
            "customer": {"email": "dup@example.com"},
            "idempotency_key": "same",
        },
        "not an object",
    ]
    response = lead_api.post(URL, {"events": events}, format="json")
    assert response.status_code == 200
    body = response.json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
        "duplicate",
        "rejected",
    ]
    assert (body["created"], body["duplicate"], body["rejected"]) == (2, 1, 7)
    fields = [_fields(r) for r in body["results"]]
    assert fields[1] == {"events[1].touchpoint"}
    assert fields[2] == {"events[2].customer"}
    assert fields[3] == {"events[3].occurred_at"} and fields[4] == {"events[4].occurred_at"}
    assert fields[5] == {"events[5].data"} and fields[6] == {"events[6].colour"}
    assert body["results"][8]["id"] == body["results"][7]["id"]
    # Rejected events leave nothing behind: no interaction, and no customer either.
    assert set(Customer.objects.values_list("email", flat=True)) == {
        "good@example.com",
        "dup@example.com",
    }
    assert Interaction.objects.count() == 2


def test_more_than_1000_events_are_refused_whole(lead_api):
    events = [{"kind": "x.y", "customer": {"external_id": str(i)}} for i in range(1001)]
    response = lead_api.post(URL, {"events": events}, format="json")
    assert response.status_code == 400 and _fields(response.json()) == {"events"}
    assert not Interaction.objects.exists() and not Customer.objects.exists()


def test_a_bad_single_event_is_a_400_naming_fields(lead_api):
    response = lead_api.post(
        URL, {"kind": "Not Valid", "customer": {"email": "nope"}}, format="json"
    )
    assert response.status_code == 400
    assert _fields(response.json()) == {"kind", "customer.email"}


def test_lifecycle_events_move_the_dates(lead_api):
    def send(kind, day):
        lead_api.post(
            URL,
            {"kind": kind, "customer": {"external_id": "L1"}, "occurred_at": f"{day}T10:00:00Z"},
            format="json",
        )
        return Customer.objects.get(external_id="L1")

    assert send("customer.became", "2025-01-10").became_customer_on == dt.date(2025, 1, 10)
    churned = send("customer.churned", "2025-06-01")
    assert churned.churned_on == dt.date(2025, 6, 1) and churned.lifecycle == "churned"
    back = send("customer.reactivated", "2025-09-01")
    assert back.became_customer_on == dt.date(2025, 9, 1) and back.lifecycle == "active"


def test_volumes_per_touchpoint_and_day_are_kept(lead_api, touchpoint):
    events = [
        {
            "kind": "order.delivered",
            "touchpoint": "order.delivered",
            "customer": {"external_id": f"V{i}"},
            "occurred_at": f"2026-03-0{1 + i % 2}T12:00:00Z",
        }
        for i in range(5)
    ]
    lead_api.post(URL, {"events": events}, format="json")
    lead_api.post(URL, {"events": events[:1]}, format="json")
    volumes = dict(TouchpointDailyVolume.objects.values_list("day", "count"))
    assert volumes == {dt.date(2026, 3, 1): 4, dt.date(2026, 3, 2): 2}


def test_interaction_recorded_is_sent_after_commit(lead_api, captured_jobs):
    received = []

    def receiver(**kwargs):
        received.append(kwargs["interaction_id"])

    interaction_recorded.connect(receiver)
    try:
        lead_api.post(URL, {"kind": "a.b", "customer": {"external_id": "S1"}}, format="json")
        assert received == []  # the test transaction has not committed yet
        captured_jobs.commit()
        assert received == [Interaction.objects.get().pk]
    finally:
        interaction_recorded.disconnect(receiver)


def test_agents_cannot_post_events(api_client):
    api_client.force_authenticate(make_user(Role.AGENT))
    assert (
        api_client.post(
            URL, {"kind": "a.b", "customer": {"external_id": "x"}}, format="json"
        ).status_code
        == 403
    )


def test_timeline_api_pages_by_keyset_and_filters(api_client, agent, django_assert_max_num_queries):
    customer = services.customers_upsert([{"external_id": "T1"}])[0].customer
    base = timezone.now() - dt.timedelta(days=3)
    for i in range(30):
        services.interaction_record(
            customer=customer,
            kind="page.viewed" if i % 3 else "order.placed",
            channel="web" if i % 2 else "email",
            occurred_at=base + dt.timedelta(minutes=i),
        )
    api_client.force_authenticate(agent)
    with django_assert_max_num_queries(6):
        first = api_client.get(
            f"/api/v1/customers/{customer.pk}/timeline/", {"page_size": 12}
        ).json()
    second = api_client.get(first["next"]).json()
    third = api_client.get(second["next"]).json()
    times = [e["occurred_at"] for e in first["results"] + second["results"] + third["results"]]
    assert len(times) == 30 and times == sorted(times, reverse=True) and third["next"] is None
    only_web = api_client.get(
        f"/api/v1/customers/{customer.pk}/timeline/", {"channel": "web", "kind": "page.viewed"}
    ).json()
    assert {(e["channel"], e["kind"]) for e in only_web["results"]} == {("web", "page.viewed")}
    assert (
        api_client.get(
            f"/api/v1/customers/{customer.pk}/timeline/", {"cursor": "garbage"}
        ).status_code
        == 400
    )
    assert (
        api_client.get(
            f"/api/v1/customers/{customer.pk}/timeline/", {"channel": "pigeon"}
        ).status_code
        == 400
    )
    assert api_client.get("/api/v1/customers/999999/timeline/").status_code == 404


def test_touchpoint_list_api(api_client, agent, touchpoint):
    api_client.force_authenticate(agent)
    body = api_client.get("/api/v1/touchpoints/").json()
    assert body == [
        {
            "id": touchpoint.pk,
            "key": "order.delivered",
            "name": "Order delivered",
            "channel": "email",
            "journey": "Orders",
            "stage": "Delivery",
            "owner_team": None,
            "description": "",
        }
    ]

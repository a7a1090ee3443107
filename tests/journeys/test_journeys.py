from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from cxm.core.models import AuditEntry
from cxm.errors import ApplicationError
from journeys import services
from journeys.models import Customer, Interaction, Stage, Touchpoint
from journeys.signals import customers_merging

pytestmark = pytest.mark.django_db


@pytest.fixture
def journey(db):
    journey = services.journey_save(name="Buying a sofa")
    for name in ("Discover", "Buy", "Delivery"):
        services.stage_save(journey=journey, name=name)
    return journey


def _stages(journey):
    return list(journey.stages.order_by("position").values_list("name", flat=True))


def _tps(stage):
    return list(stage.touchpoints.order_by("position").values_list("key", flat=True))


def test_lead_builds_a_journey_through_the_pages(client, cx_lead):
    client.force_login(cx_lead)
    response = client.post(reverse("journeys:journey-list"), {"name": "Support", "description": ""})
    journey = services.journey_save.__globals__["Journey"].objects.get(name="Support")
    assert response.status_code == 302
    client.post(reverse("journeys:stage-create", args=[journey.pk]), {"name": "Ask"})
    stage = journey.stages.get()
    response = client.post(
        reverse("journeys:touchpoint-create", args=[journey.pk]),
        {"name": "Ticket opened", "key": "Ticket.Opened", "channel": "email", "stage": stage.pk},
    )
    assert response.status_code == 302
    assert Touchpoint.objects.get().key == "ticket.opened"
    bad = client.post(
        reverse("journeys:touchpoint-create", args=[journey.pk]),
        {"name": "Dup", "key": "ticket.opened", "channel": "email", "stage": stage.pk},
    )
    assert "Another touchpoint already uses this key." in bad.content.decode()
    invalid = client.post(
        reverse("journeys:touchpoint-create", args=[journey.pk]),
        {"name": "Spaces", "key": "has spaces", "channel": "email", "stage": stage.pk},
    )
    assert "lower-case letters" in invalid.content.decode()


def test_stages_and_touchpoints_reorder_by_buttons_and_by_drag(client, cx_lead, journey):
    client.force_login(cx_lead)
    discover, buy, delivery = journey.stages.order_by("position")
    client.post(reverse("journeys:stage-move", args=[delivery.pk]), {"direction": "left"})
    assert _stages(journey) == ["Discover", "Delivery", "Buy"]
    response = client.post(
        reverse("journeys:journey-reorder", args=[journey.pk]),
        json.dumps({"stages": [buy.pk, discover.pk, delivery.pk]}),
        content_type="application/json",
    )
    assert response.status_code == 200 and _stages(journey) == ["Buy", "Discover", "Delivery"]

    a = services.touchpoint_save(stage=discover, name="Ad", key="ad.seen", channel="social")
    b = services.touchpoint_save(stage=discover, name="Visit", key="site.visit", channel="web")
    client.post(reverse("journeys:touchpoint-move", args=[b.pk]), {"direction": "up"})
    assert _tps(discover) == ["site.visit", "ad.seen"]
    client.post(
        reverse("journeys:touchpoint-move", args=[a.pk]), {"direction": "right"}
    )  # next stage
    assert _tps(Stage.objects.get(pk=delivery.pk)) == ["ad.seen"]
    client.post(
        reverse("journeys:journey-reorder", args=[journey.pk]),
        json.dumps({"stage": buy.pk, "touchpoints": [b.pk]}),
        content_type="application/json",
    )
    assert _tps(Stage.objects.get(pk=buy.pk)) == ["site.visit"]
    bad = client.post(
        reverse("journeys:journey-reorder", args=[journey.pk]),
        json.dumps({"stages": [buy.pk]}),
        content_type="application/json",
    )
    assert bad.status_code == 400


def test_a_touchpoint_with_data_is_archived_not_deleted_and_its_key_is_fixed(journey):
    stage = journey.stages.first()
    tp = services.touchpoint_save(
        stage=stage, name="Delivered", key="order.delivered", channel="email"
    )
    services.interactions_ingest(
        events=[
            {
                "kind": "order.delivered",
                "touchpoint": "order.delivered",
                "customer": {"external_id": "1"},
            }
        ]
    )
    with pytest.raises(ApplicationError, match="cannot change"):
        services.touchpoint_save(
            touchpoint=tp, stage=stage, name="Delivered", key="order.done", channel="email"
        )
    services.touchpoint_archive(touchpoint=tp)
    assert Touchpoint.objects.filter(pk=tp.pk).exists() and Interaction.objects.count() == 1
    rejected = services.interactions_ingest(
        events=[{"kind": "x.y", "touchpoint": "order.delivered", "customer": {"external_id": "1"}}]
    )
    assert rejected[0].errors == {"touchpoint": "No touchpoint has this key."}


def test_the_map_shows_volume_per_touchpoint_for_the_period(client, agent, journey):
    stage = journey.stages.first()
    services.touchpoint_save(stage=stage, name="Visit", key="site.visit", channel="web")
    now = timezone.now()
    services.interactions_ingest(
        events=[
            {
                "kind": "site.visit",
                "touchpoint": "site.visit",
                "customer": {"external_id": str(i)},
                "occurred_at": (now - dt.timedelta(days=i)).isoformat(),
            }
            for i in range(10)
        ]
        + [
            {
                "kind": "site.visit",
                "touchpoint": "site.visit",
                "customer": {"external_id": "old"},
                "occurred_at": (now - dt.timedelta(days=60)).isoformat(),
            }
        ]
    )
    client.force_login(agent)
    week = client.get(reverse("journeys:journey-map", args=[journey.pk]), {"days": "7"})
    card = week.context["map"].columns[0].cards[0]
    assert card.total == 7 and len(card.series) == 7
    quarter = (
        client.get(reverse("journeys:journey-map", args=[journey.pk]), {"days": "90"})
        .context["map"]
        .columns[0]
        .cards[0]
    )
    assert quarter.total == 11
    html = week.content.decode()
    assert "Buying a sofa" in html and "<polyline" in html
    assert "Move stage" not in html  # agents see the map but cannot edit it
    assert (
        client.post(reverse("journeys:stage-create", args=[journey.pk]), {"name": "x"}).status_code
        == 403
    )


def test_merge_moves_everything_to_the_survivor_and_keeps_an_audit_entry(cx_lead, captured_jobs):
    email_rec, sms_rec = (
        r.customer
        for r in services.customers_upsert(
            [
                {"email": "eva@example.com", "name": "Eva"},
                {"phone": "+31612340000", "name": "Eva B."},
            ]
        )
    )
    services.interaction_record(customer=email_rec, kind="message.received", channel="email")
    services.interaction_record(customer=sms_rec, kind="message.received", channel="sms")
    heard = []
    customers_merging.connect(
        lambda **kw: heard.append((kw["survivor_id"], kw["merged_id"])),
        weak=False,
        dispatch_uid="t",
    )
    try:
        merged = services.customer_merge(
            survivor=email_rec, merged=sms_rec, choices={"name": "merged"}, actor=cx_lead
        )
    finally:
        customers_merging.disconnect(dispatch_uid="t")
    assert (merged.email, merged.phone, merged.name) == (
        "eva@example.com",
        "+31612340000",
        "Eva B.",
    )
    assert not Customer.objects.filter(pk=sms_rec.pk).exists()
    assert set(Interaction.objects.values_list("customer_id", flat=True)) == {email_rec.pk}
    assert Interaction.objects.filter(kind="customer.merged").count() == 1
    audit = AuditEntry.objects.get(action="customer.merged")
    assert audit.data["merged"]["phone"] == "+31612340000" and audit.actor == cx_lead
    assert heard == [(email_rec.pk, sms_rec.pk)]


def test_merge_page_compares_and_merges(client, cx_lead):
    a, b = (
        r.customer
        for r in services.customers_upsert(
            [{"email": "x@example.com", "name": "Xavi"}, {"phone": "+31612340001", "name": "X."}]
        )
    )
    client.force_login(cx_lead)
    search = client.get(
        reverse("journeys:customer-merge", args=[a.pk]), {"q": "+3161234"}
    ).content.decode()
    assert f"?other={b.pk}" in search
    compare = client.get(
        reverse("journeys:customer-merge", args=[a.pk]), {"other": b.pk}
    ).content.decode()
    assert "Xavi" in compare and "X." in compare
    response = client.post(
        f"{reverse('journeys:customer-merge', args=[a.pk])}?other={b.pk}", {"keep_name": "survivor"}
    )
    assert response.status_code == 302
    assert Customer.objects.get().phone == "+31612340001"


def test_customer_page_shows_the_timeline_grouped_by_day(
    client, agent, django_assert_max_num_queries
):
    customer = services.customers_upsert([{"email": "t@example.com"}])[0].customer
    start = timezone.now() - dt.timedelta(days=2)
    for i in range(30):
        services.interaction_record(
            customer=customer,
            kind="page.viewed",
            channel="web",
            occurred_at=start + dt.timedelta(hours=i),
            source_url="https://shop.example.com/p/1",
        )
    client.force_login(agent)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("journeys:customer-detail", args=[customer.pk]))
    html = response.content.decode()
    assert html.count('class="timeline-entry"') == 25 and 'class="timeline-day"' in html
    assert "https://shop.example.com/p/1" in html and "Load more" in html
    cursor = response.context["timeline"].next_cursor
    more = client.get(
        reverse("journeys:customer-timeline", args=[customer.pk]),
        {"cursor": cursor},
        HTTP_HX_REQUEST="true",
    )
    assert more.content.decode().count('class="timeline-entry"') == 5


def test_admins_delete_a_customer_with_their_history(client, admin_user, agent):
    customer = services.customers_upsert([{"email": "forget@example.com"}])[0].customer
    services.interaction_record(customer=customer, kind="x.y", channel="web")
    client.force_login(agent)
    assert (
        client.post(
            reverse("journeys:customer-delete", args=[customer.pk]), {"confirm": customer.pk}
        ).status_code
        == 403
    )
    client.force_login(admin_user)
    assert (
        client.post(
            reverse("journeys:customer-delete", args=[customer.pk]), {"confirm": "wrong"}
        ).status_code
        == 200
    )
    client.post(reverse("journeys:customer-delete", args=[customer.pk]), {"confirm": customer.pk})
    assert not Customer.objects.exists() and not Interaction.objects.exists()
    assert AuditEntry.objects.get(action="customer.deleted").data == {"interactions": 1}


def test_a_bad_api_cursor_is_a_400_naming_it(api_client, agent):
    api_client.force_authenticate(agent)
    response = api_client.get("/api/v1/customers/", {"cursor": "garbage"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "cursor"

from __future__ import annotations

import pytest
from django.urls import reverse

from journeys.models import Customer
from journeys.services import customers_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_customers():
    customers_upsert(
        [
            {
                "external_id": f"P{i:03d}",
                "name": f"Person {i:03d}",
                "email": f"p{i}@example.com",
                "became_customer_on": "2025-01-01" if i % 3 else "",
            }
            for i in range(130)
        ]
    )


def test_list_pages_with_keyset_links(client, agent, many_customers, django_assert_max_num_queries):
    client.force_login(agent)
    with django_assert_max_num_queries(8):
        first = client.get(reverse("journeys:customer-list"))
    page = first.context["page"]
    assert len(page.customers) == 50 and page.prev_before is None
    second = client.get(reverse("journeys:customer-list"), {"after": page.next_after}).context[
        "page"
    ]
    third = client.get(reverse("journeys:customer-list"), {"after": second.next_after}).context[
        "page"
    ]
    assert len(third.customers) == 30 and third.next_after is None
    back = client.get(reverse("journeys:customer-list"), {"before": third.prev_before}).context[
        "page"
    ]
    assert [c.pk for c in back.customers] == [c.pk for c in second.customers]


def test_search_and_filters(client, agent, many_customers):
    client.force_login(agent)
    found = (
        client.get(reverse("journeys:customer-list"), {"q": "person 12"}).context["page"].customers
    )
    # every word must appear: "person" and "12" anywhere in name, email, phone or external id
    assert {c.name for c in found} == {f"Person {i}" for i in range(120, 130)} | {
        "Person 012",
        "Person 112",
    }
    prospects = (
        client.get(reverse("journeys:customer-list"), {"lifecycle": "prospect"})
        .context["page"]
        .customers
    )
    assert all(c.lifecycle == "prospect" for c in prospects) and prospects


def test_bad_filter_value_shows_a_message_not_an_error(client, agent, many_customers):
    client.force_login(agent)
    response = client.get(
        reverse("journeys:customer-list"), {"lifecycle": "zombie", "after": "abc"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_edit_page_shows_field_errors_and_keeps_data(client, agent, many_customers):
    customer = Customer.objects.get(external_id="P001")
    client.force_login(agent)
    response = client.post(
        reverse("journeys:customer-edit", args=[customer.pk]),
        {"name": "New", "email": "p2@example.com", "phone": "abc", "external_id": "P001"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Not a phone number." in html
    customer.refresh_from_db()
    assert customer.name == "Person 001"
    ok = client.post(
        reverse("journeys:customer-edit", args=[customer.pk]),
        {
            "name": "New Name",
            "email": "p1@example.com",
            "phone": "+31 6 12345678",
            "external_id": "P001",
            "timezone": "europe/amsterdam",
        },
    )
    assert ok.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.phone, customer.timezone) == (
        "New Name",
        "+31612345678",
        "Europe/Amsterdam",
    )


def test_detail_escapes_customer_data(client, agent):
    customers_upsert(
        [
            {
                "external_id": "XSS",
                "name": "<script>alert(1)</script>",
                "attributes": {"note": "<b>x</b>"},
            }
        ]
    )
    client.force_login(agent)
    html = client.get(
        reverse("journeys:customer-detail", args=[Customer.objects.get().pk])
    ).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>x</b>" not in html


def test_short_terms_match_the_start_of_name_or_email_and_local_phones_match(client, agent):
    customers_upsert(
        [
            {
                "external_id": "S1",
                "name": "Quinten Xu",
                "email": "qx@example.com",
                "phone": "+31612345678",
            },
            {"external_id": "S2", "name": "Anna Quist", "email": "anna@example.com"},
        ]
    )
    client.force_login(agent)
    found = client.get(reverse("journeys:customer-list"), {"q": "qu"}).context["page"].customers
    assert [c.external_id for c in found] == ["S1"]  # starts with "qu"; "Quist" is not the start
    by_phone = (
        client.get(reverse("journeys:customer-list"), {"q": "0612345678"}).context["page"].customers
    )
    assert [c.external_id for c in by_phone] == ["S1"]

from __future__ import annotations

import pytest

from cxm.accounts.models import Role
from journeys.models import Customer
from journeys.services import customers_upsert
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead_api(api_client, cx_lead):
    api_client.force_authenticate(cx_lead)
    return api_client


def _fields(response):
    return {e["field"] for e in response.json()["errors"]}


def test_create_normalizes_phone_and_email(lead_api):
    response = lead_api.post(
        "/api/v1/customers/",
        {
            "name": "Ann",
            "email": "Ann@Example.COM",
            "phone": "06 1234 5678",
            "language": "nl",
            "attributes": {"plan": "Plus"},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["phone"] == "+31612345678"
    assert body["email"] == "ann@example.com"
    assert body["lifecycle"] == "prospect"


def test_email_is_unique_whatever_its_case(lead_api):
    lead_api.post("/api/v1/customers/", {"email": "bob@example.com"}, format="json")
    response = lead_api.post("/api/v1/customers/", {"email": "BOB@example.com"}, format="json")
    assert response.status_code == 400
    assert Customer.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "x@example.com", "colour": "red"}, "colour"),
        ({"email": "x@example.com", "name": "n" * 201}, "name"),
        ({"email": "x@example.com", "name": 12}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "x@example.com", "phone": "12"}, "phone"),
        ({"email": "x@example.com", "timezone": "Mars/Olympus"}, "timezone"),
        ({"email": "x@example.com", "value": "lots"}, "value"),
        ({"email": "x@example.com", "became_customer_on": "yesterday"}, "became_customer_on"),
        ({"email": "x@example.com", "attributes": ["not", "a", "dict"]}, "attributes"),
        ({"name": "No identity"}, "external_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(lead_api, payload, field):
    response = lead_api.post("/api/v1/customers/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in _fields(response)
    assert not Customer.objects.exists()


def test_invalid_json_is_a_400_naming_the_body(lead_api):
    response = lead_api.post("/api/v1/customers/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert _fields(response) == {"body"}


def test_update_keeps_identities_unique(lead_api):
    a = lead_api.post("/api/v1/customers/", {"email": "a@example.com"}, format="json").json()
    lead_api.post("/api/v1/customers/", {"email": "b@example.com"}, format="json")
    response = lead_api.patch(
        f"/api/v1/customers/{a['id']}/", {"email": "B@example.com"}, format="json"
    )
    assert response.status_code == 400 and "email" in _fields(response)
    ok = lead_api.patch(
        f"/api/v1/customers/{a['id']}/", {"name": "Anna", "churned_on": "2026-01-02"}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["name"] == "Anna"
    assert lead_api.get(f"/api/v1/customers/{a['id']}/").json()["lifecycle"] == "churned"


def test_list_filters_and_cursor_pages(lead_api, django_assert_max_num_queries):
    customers_upsert(
        [
            {"external_id": f"E{i}", "name": f"Person {i}", "language": "ro" if i % 2 else "nl"}
            for i in range(120)
        ]
    )
    with django_assert_max_num_queries(6):
        first = lead_api.get("/api/v1/customers/", {"language": "ro", "page_size": 25}).json()
    assert len(first["results"]) == 25 and all(c["language"] == "ro" for c in first["results"])
    second = lead_api.get(first["next"]).json()
    ids = [c["id"] for c in first["results"] + second["results"]]
    assert len(set(ids)) == 50 and ids == sorted(ids, reverse=True)
    search = lead_api.get("/api/v1/customers/", {"q": "person 11"}).json()
    assert {c["name"] for c in search["results"]} >= {"Person 11", "Person 110"}


def test_unknown_filter_value_is_a_400(lead_api):
    response = lead_api.get("/api/v1/customers/", {"lifecycle": "zombie"})
    assert response.status_code == 400
    assert "lifecycle" in _fields(response)


def test_bulk_upsert_reports_each_row(lead_api):
    customers_upsert([{"external_id": "K1", "name": "Kept"}])
    rows = [
        {"external_id": "K1", "name": "Kept, renamed"},
        {"external_id": "K2", "email": "k2@example.com"},
        {"external_id": "K3", "email": "broken"},
        "not an object",
        {"email": "k2@example.com", "phone": "+31612345670"},
    ]
    response = lead_api.post("/api/v1/customers/bulk/", {"customers": rows}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "updated",
        "created",
        "rejected",
        "rejected",
        "updated",
    ]
    assert body["results"][2]["errors"][0]["field"] == "customers[2].email"
    assert Customer.objects.get(external_id="K2").phone == "+31612345670"
    assert Customer.objects.count() == 2


def test_bulk_upsert_refuses_more_than_1000(lead_api):
    response = lead_api.post(
        "/api/v1/customers/bulk/",
        {"customers": [{"external_id": str(i)} for i in range(1001)]},
        format="json",
    )
    assert response.status_code == 400
    assert _fields(response) == {"customers"}
    assert not Customer.objects.exists()


def test_agents_read_but_cannot_create(api_client):
    agent = make_user(Role.AGENT)
    api_client.force_authenticate(agent)
    assert api_client.get("/api/v1/customers/").status_code == 200
    assert (
        api_client.post("/api/v1/customers/", {"email": "z@example.com"}, format="json").status_code
        == 403
    )
    assert (
        api_client.post("/api/v1/customers/bulk/", {"customers": []}, format="json").status_code
        == 403
    )


def test_anonymous_gets_401(api_client, db):
    response = api_client.get("/api/v1/customers/")
    assert response.status_code in (401, 403)
    assert response.json()["errors"]


def test_a_user_without_role_sees_nothing(api_client):
    api_client.force_authenticate(make_user(None))
    assert api_client.get("/api/v1/customers/").status_code == 403


def test_a_body_over_the_upload_limit_is_a_413_naming_the_body(lead_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    rows = [{"external_id": f"X{i}", "name": "n" * 50} for i in range(50)]
    response = lead_api.post("/api/v1/customers/bulk/", {"customers": rows}, format="json")
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "body"

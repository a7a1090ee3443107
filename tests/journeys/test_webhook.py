from __future__ import annotations

import json
import time

import pytest

from journeys.models import Interaction
from journeys.services import ingestion
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(db):
    return ingestion.source_create(name="Webshop", user=None)


def _post(client, source, body: bytes, *, secret=None, timestamp=None, in_headers=False):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = ingestion.sign(secret or source.secret, timestamp, body)
    url = f"/hooks/interactions/{source.pk}/"
    if in_headers:
        return client.post(
            url,
            body,
            content_type="application/json",
            HTTP_X_CXM_TIMESTAMP=timestamp,
            HTTP_X_CXM_SIGNATURE=signature,
        )
    return client.post(
        f"{url}?timestamp={timestamp}&signature={signature}", body, content_type="application/json"
    )


BODY = json.dumps(
    {"events": [{"kind": "order.delivered", "customer": {"email": "hook@example.com"}}]}
).encode()


def test_a_signed_body_is_stored(client, source):
    response = _post(client, source, BODY)
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1
    assert Interaction.objects.get().customer.email == "hook@example.com"


def test_signature_in_headers_works_too(client, source):
    assert _post(client, source, BODY, in_headers=True).status_code == 200


def test_a_redelivered_body_is_absorbed(client, source):
    _post(client, source, BODY)
    again = _post(client, source, BODY)
    assert again.status_code == 200 and again.json()["duplicate"] == 1
    assert Interaction.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"secret": "whsec_wrong"}, "signature"),
        ({"timestamp": int(time.time()) - 3600}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp"),
    ],
)
def test_bad_signatures_are_rejected(client, source, kwargs, field):
    response = _post(client, source, BODY, **kwargs)
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] == field
    assert not Interaction.objects.exists()


def test_a_revoked_source_is_rejected(client, source):
    ingestion.source_revoke(source=source)
    assert _post(client, source, BODY).status_code == 401


def test_a_signed_body_that_is_not_json_is_a_400(client, source):
    response = _post(client, source, b"{nope")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "body"


def test_admins_create_sources_and_see_the_secret_once(client, admin_user):
    client.force_login(admin_user)
    page = client.post(
        "/settings/integrations/", {"name": "Booking tool"}, follow=True
    ).content.decode()
    assert 'id="new-secret"' in page and "whsec_" in page
    assert "whsec_" not in client.get("/settings/integrations/").content.decode()


def test_agents_do_not_see_integrations(client):
    from cxm.accounts.models import Role

    client.force_login(make_user(Role.AGENT))
    assert client.get("/settings/integrations/").status_code == 403

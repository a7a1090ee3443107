from __future__ import annotations

import pytest
from django.urls import reverse

from cxm.accounts import services
from cxm.accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def test_token_is_shown_once_and_stored_hashed(client, agent):
    client.force_login(agent)
    response = client.post(reverse("accounts:api-tokens"), {"name": "CRM sync"}, follow=True)
    body = response.content.decode()
    token = ApiToken.objects.get(user=agent)
    secret = body.split('id="new-token" type="text" readonly value="')[1].split('"')[0]
    assert secret.startswith("cxm_") and len(secret) > 40
    assert token.digest == ApiToken.digest_of(secret) and secret not in token.digest
    assert secret not in client.get(reverse("accounts:api-tokens")).content.decode()


def test_api_accepts_a_token_until_it_is_revoked(api_client, agent):
    issued = services.api_token_create(user=agent, name="ci")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert api_client.get("/api/v1/customers/").status_code == 200
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None
    services.api_token_revoke(token=issued.token)
    response = api_client.get("/api/v1/customers/")
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"]


def test_token_of_deactivated_user_stops_working(api_client, agent):
    issued = services.api_token_create(user=agent, name="ci")
    agent.is_active = False
    agent.save()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {issued.secret}")
    assert api_client.get("/api/v1/customers/").status_code == 401


def test_cannot_revoke_someone_elses_token(client, agent, cx_lead):
    issued = services.api_token_create(user=cx_lead, name="theirs")
    client.force_login(agent)
    assert (
        client.post(reverse("accounts:api-token-revoke", args=[issued.token.pk])).status_code == 404
    )
    issued.token.refresh_from_db()
    assert issued.token.is_active


def test_token_secrets_carry_at_least_128_random_bits(agent):
    secrets = {services.api_token_create(user=agent, name=str(i)).secret for i in range(20)}
    assert len(secrets) == 20
    assert all(len(s) - len("cxm_") >= 22 for s in secrets)  # 22 base64 chars ≈ 132 bits


def test_a_role_change_reaches_the_api_at_once_despite_the_permission_cache(
    api_client, agent, admin_user, captured_jobs
):
    issued = services.api_token_create(user=agent, name="ci")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    body = {"kind": "a.b", "customer": {"external_id": "P1"}}
    assert api_client.post("/api/v1/interactions/", body, format="json").status_code == 403
    services.user_update(
        user=agent, name=agent.name, roles=["agent", "cx_lead"], language="en", by=admin_user
    )
    captured_jobs.commit()
    assert api_client.post("/api/v1/interactions/", body, format="json").status_code == 201

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django.urls import reverse

from cxm.accounts.models import Role, User
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def _login(client: Client, email: str, password: str = PASSWORD, ip: str = "10.0.0.1"):
    return client.post(
        reverse("accounts:login"), {"username": email, "password": password}, REMOTE_ADDR=ip
    )


def test_roles_are_groups_created_by_migration_with_permissions():
    roles = {
        g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()
    }
    assert set(roles) == {"agent", "cx_lead", "admin"}
    assert "manage_users" in roles["admin"] and "manage_users" not in roles["cx_lead"]
    assert "import_customers" in roles["cx_lead"] and "import_customers" not in roles["agent"]
    assert "view_customer" in roles["agent"]


def test_sign_in_with_email_is_case_insensitive(client, agent):
    response = _login(client, "AGENT@example.com")
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302  # to the first section of the nav


def test_wrong_password_says_so_without_revealing_the_account(client, agent):
    response = _login(client, "agent@example.com", "wrong")
    assert response.status_code == 200
    assert "do not match an active account" in response.content.decode()


def test_deactivated_user_cannot_sign_in(client, agent):
    agent.is_active = False
    agent.save()
    assert _login(client, "agent@example.com").status_code == 200


def test_sign_in_is_rate_limited_per_account(client, agent, settings):
    settings.LOGIN_RATE_PER_ACCOUNT = "3/5m"
    for i in range(3):
        # Different addresses: only the account limit can stop this.
        assert _login(client, "agent@example.com", "nope", ip=f"10.0.1.{i}").status_code == 200
    blocked = _login(client, "agent@example.com", PASSWORD, ip="10.0.1.99")
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts for this account" in blocked.content.decode()
    # Another account from the same addresses is not affected.
    other = make_user(Role.AGENT, "other@example.com")
    assert _login(client, other.email, ip="10.0.1.0").status_code == 302


def test_sign_in_is_rate_limited_per_ip(client, db, settings):
    settings.LOGIN_RATE_PER_IP = "4/5m"
    for i in range(4):
        _login(client, f"nobody{i}@example.com", "nope", ip="10.9.9.9")
    blocked = _login(client, "nobody-else@example.com", "nope", ip="10.9.9.9")
    assert blocked.status_code == 429
    assert "from your network" in blocked.content.decode()
    assert _login(client, "nobody-else@example.com", "nope", ip="10.9.9.10").status_code == 200


def test_password_change_signs_out_other_sessions(agent):
    laptop, phone = Client(), Client()
    assert _login(laptop, agent.email).status_code == 302
    assert _login(phone, agent.email).status_code == 302
    response = laptop.post(
        reverse("accounts:password-change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase-7",
            "new_password2": "a-new-long-passphrase-7",
        },
    )
    assert response.status_code == 302
    assert laptop.get(reverse("accounts:profile")).status_code == 200  # this session stays
    assert phone.get(reverse("accounts:profile")).status_code == 302  # the other one is out


def test_password_reset_mails_a_link_that_sets_a_new_password(client, agent, captured_jobs):
    response = client.post(reverse("accounts:password-reset"), {"email": "Agent@Example.com"})
    assert response.status_code == 302
    captured_jobs.run_all()
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/password/reset/\S+/", mail.outbox[0].body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    form = client.get("/" + path, follow=True)
    assert form.status_code == 200
    response = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"},
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.check_password("brand-new-pass-42")


def test_password_reset_for_unknown_address_looks_the_same(client, db, captured_jobs):
    response = client.post(reverse("accounts:password-reset"), {"email": "ghost@example.com"})
    assert response.status_code == 302
    captured_jobs.commit()
    assert captured_jobs.sent == []


def test_user_language_comes_from_the_profile(client, agent):
    agent.language = "nl"
    agent.save()
    client.force_login(agent)
    response = client.get(reverse("accounts:profile"))
    assert response["Content-Language"] == "nl"
    assert '<html lang="nl"' in response.content.decode()


def test_pages_send_a_content_security_policy(client, agent):
    client.force_login(agent)
    response = client.get(reverse("accounts:profile"))
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp


def test_anonymous_users_are_sent_to_sign_in(client, db):
    response = client.get(reverse("journeys:customer-list"))
    assert response.status_code == 302 or response.status_code == 403


def test_user_model_is_ours(db):
    assert User._meta.label == "accounts.User"

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from cxm.accounts.models import Role, Team, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_admin_invites_a_user_who_sets_a_password_and_signs_in(client, admin_user, captured_jobs):
    client.force_login(admin_user)
    response = client.post(
        reverse("accounts:user-invite"),
        {"name": "Nina New", "email": "nina@example.com", "roles": ["agent"], "language": "ro"},
    )
    assert response.status_code == 302
    nina = User.objects.get(email="nina@example.com")
    assert not nina.has_usable_password()
    assert nina.roles == {"agent"}
    captured_jobs.run_all()
    assert mail.outbox[0].to == ["nina@example.com"]
    path = "/" + re.search(r"https?://[^/]+/(\S+/)", mail.outbox[0].body).group(1)
    anonymous = client.__class__()
    form = anonymous.get(path, follow=True)
    anonymous.post(
        form.redirect_chain[-1][0],
        {"new_password1": "ninas-secret-pw-1", "new_password2": "ninas-secret-pw-1"},
    )
    nina.refresh_from_db()
    assert nina.check_password("ninas-secret-pw-1")


def test_inviting_an_existing_address_is_a_form_error(client, admin_user, agent):
    client.force_login(admin_user)
    response = client.post(
        reverse("accounts:user-invite"),
        {"name": "Dup", "email": "AGENT@example.com", "roles": ["agent"], "language": "en"},
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_admin_sets_roles(client, admin_user, agent):
    client.force_login(admin_user)
    response = client.post(
        reverse("accounts:user-edit", args=[agent.pk]),
        {"name": agent.name, "roles": ["agent", "cx_lead"], "language": "en"},
    )
    assert response.status_code == 302
    agent = User.objects.get(pk=agent.pk)
    assert agent.roles == {"agent", "cx_lead"}
    assert agent.has_perm("journeys.import_customers")


def test_admin_cannot_remove_own_admin_role(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("accounts:user-edit", args=[admin_user.pk]),
        {"name": "x", "roles": ["agent"], "language": "en"},
    )
    assert response.status_code == 200
    assert "cannot remove your own admin role" in response.content.decode()


def test_deactivating_a_user_signs_them_out(client, admin_user, agent):
    agent_client = client.__class__()
    agent_client.force_login(agent)
    assert agent_client.get(reverse("accounts:profile")).status_code == 200
    client.force_login(admin_user)
    client.post(reverse("accounts:user-set-active", args=[agent.pk]), {"active": "0"})
    agent.refresh_from_db()
    assert not agent.is_active
    assert agent_client.get(reverse("accounts:profile")).status_code == 302


@pytest.mark.parametrize("role", [Role.AGENT, Role.CX_LEAD])
def test_only_admins_manage_users(client, role):
    from tests.conftest import make_user

    user = make_user(role)
    client.force_login(user)
    assert client.get(reverse("accounts:user-list")).status_code == 403
    assert client.post(reverse("accounts:user-invite"), {}).status_code == 403
    assert client.get(reverse("accounts:team-create")).status_code == 403


def test_admin_manages_teams(client, admin_user, agent):
    client.force_login(admin_user)
    response = client.post(
        reverse("accounts:team-create"), {"name": "Care", "description": "", "members": [agent.pk]}
    )
    assert response.status_code == 302
    team = Team.objects.get(name="Care")
    assert list(team.members.all()) == [agent]
    duplicate = client.post(reverse("accounts:team-create"), {"name": "care", "members": []})
    assert "already exists" in duplicate.content.decode()
    client.post(
        reverse("accounts:team-edit", args=[team.pk]), {"name": "Customer Care", "members": []}
    )
    team.refresh_from_db()
    assert team.name == "Customer Care" and team.members.count() == 0
    client.post(reverse("accounts:team-delete", args=[team.pk]))
    assert not Team.objects.exists()


def test_user_list_query_count_does_not_grow_with_users(
    client, admin_user, django_assert_max_num_queries
):
    from tests.conftest import make_user

    for _ in range(15):
        make_user(Role.AGENT)
    client.force_login(admin_user)
    with django_assert_max_num_queries(10):
        assert client.get(reverse("accounts:user-list")).status_code == 200


def test_profile_language_change(client, agent):
    client.force_login(agent)
    client.post(reverse("accounts:profile"), {"name": "Alex", "language": "fy"})
    agent.refresh_from_db()
    assert agent.language == "fy"
    assert agent.check_password(PASSWORD)

"""The follow-up pages: who sees which queue, the workflow buttons, the rules and root causes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from cxm.accounts.models import Team
from metrics.models import FollowUp, FollowUpRule, RootCause
from tests.conftest import make_user
from tests.followups.conftest import answer, detractor_rule, make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(cx_lead, care, nps, channel_accounts, captured_jobs) -> list[FollowUp]:
    detractor_rule(cx_lead, nps)
    for score in (1, 2, 3, 4):
        answer(nps, make_customer(phone=f"+3161000000{score}"), score, channel="sms")
    captured_jobs.run_all()
    followups = list(FollowUp.objects.order_by("id"))
    FollowUp.objects.filter(pk=followups[3].pk).update(
        due_at=timezone.now() - dt.timedelta(hours=3)
    )
    return followups


def _login(client, email):
    from tests.conftest import PASSWORD

    assert client.login(username=email, password=PASSWORD)


def test_the_nav_shows_follow_ups_to_people_who_work_them(client, agent):
    _login(client, agent.email)
    page = client.get(reverse("followups:queue")).content.decode()
    assert f'href="{reverse("followups:queue")}"' in page and ">Follow-ups<" in page
    make_user(None, "guest@example.com")
    client.logout()
    _login(client, "guest@example.com")
    assert client.get(reverse("followups:queue")).status_code == 403


def test_an_agent_sees_only_their_own_queue(client, queue, care, django_assert_max_num_queries):
    anna = care.members.order_by("id").first()
    _login(client, anna.email)
    with django_assert_max_num_queries(25):
        response = client.get(reverse("followups:queue") + "?scope=all")
    assert response.context["page"].scope == "mine"
    shown = [f.pk for f in response.context["page"].followups]
    assert shown == [f.pk for f in queue if f.owner_id == anna.pk]
    other = next(f for f in queue if f.owner_id != anna.pk)
    assert client.get(reverse("followups:followup-detail", args=[other.pk])).status_code == 404


def test_the_team_lead_and_cx_leads_see_more_soonest_deadline_first(client, queue, care):
    _login(client, care.lead.email)
    response = client.get(reverse("followups:queue"))
    page = response.context["page"]
    assert page.scope == "all"  # Lena is a CX lead too
    assert page.followups[0].pk == queue[3].pk  # overdue first
    html = response.content.decode()
    assert "sla-breached" in html and "SLA breach: 3" in html
    overdue = client.get(reverse("followups:queue") + "?overdue=1").context["page"]
    assert [f.pk for f in overdue.followups] == [queue[3].pk]
    assert "Closed-loop rate" in html and 'id="loop-root-causes-chart-data"' not in html


def test_a_team_lead_without_the_cx_lead_role_sees_the_team(client, queue, care):
    from cxm.accounts import services as account_services
    from cxm.accounts.models import Role

    boss = make_user(Role.AGENT, "boss@example.com", name="Bo Boss")
    account_services.team_save(
        team=care, name="Care", description="", members=list(care.members.all()), lead=boss
    )
    _login(client, boss.email)
    page = client.get(reverse("followups:queue")).context["page"]
    assert page.scope == "team" and len(page.followups) == 4
    assert client.get(reverse("followups:followup-detail", args=[queue[0].pk])).status_code == 200


def test_the_owner_works_a_followup_from_its_page(client, queue, causes):
    fu = queue[0]
    _login(client, fu.owner.email)
    url = reverse("followups:followup-detail", args=[fu.pk])
    page = client.get(url).content.decode()
    assert (
        "Reply on SMS" in page and reverse("inbox:conversation", args=[fu.conversation_id]) in page
    )
    assert "What could we do better?" in page and "How likely are you to recommend" in page
    action = reverse("followups:followup-action", args=[fu.pk])
    assert client.post(action, {"action": "contacted"}).status_code == 302
    refused = client.post(action, {"action": "resolve", "outcome": "Called"})
    assert refused.status_code == 400
    assert "Choose the root cause." in refused.content.decode()
    done = client.post(
        action,
        {
            "action": "resolve",
            "root_cause": causes["late"].pk,
            "outcome": "New date",
            "recovered": "on",
        },
    )
    assert done.status_code == 302
    fu.refresh_from_db()
    assert (fu.status, fu.root_cause, fu.recovered) == ("resolved", causes["late"], True)
    again = client.post(action, {"action": "contacted"}, follow=True)
    assert "This follow-up is already resolved. Reopen it to change it." in again.content.decode()
    client.post(action, {"action": "reopen", "outcome": "She wrote again"})
    fu.refresh_from_db()
    assert fu.status == "contacted"
    history = client.get(url).content.decode()
    assert "Reopened" in history and "She wrote again" in history


def test_only_leads_reassign(client, queue, care):
    fu = queue[0]
    _login(client, fu.owner.email)
    other = care.members.exclude(pk=fu.owner_id).first()
    action = reverse("followups:followup-action", args=[fu.pk])
    assert client.post(action, {"action": "assign", "owner": other.pk}).status_code == 403
    client.logout()
    _login(client, care.lead.email)
    assert client.post(action, {"action": "assign", "owner": other.pk}).status_code == 302
    fu.refresh_from_db()
    assert fu.owner == other


def test_cx_leads_write_rules_and_are_told_what_is_wrong(client, cx_lead, nps, care, agent):
    _login(client, agent.email)
    assert client.get(reverse("followups:rule-list")).status_code == 403
    client.logout()
    _login(client, cx_lead.email)
    create = reverse("followups:rule-create")
    bad = client.post(
        create,
        {
            "name": "Angry",
            "survey": nps.pk,
            "score_op": "between",
            "score": 7,
            "score_to": 2,
            "keywords": "refund,,late",
            "customer_attributes": "plan gold",
            "action": "followup",
            "owner_kind": "touchpoint",
            "priority": 3,
            "due_hours": 24,
        },
    )
    assert bad.status_code == 200
    text = bad.content.decode()
    assert "Line 1 has no “=”: write each attribute as key = value." in text
    good = client.post(
        create,
        {
            "name": "Angry gold customers",
            "is_active": "on",
            "survey": nps.pk,
            "score_op": "lte",
            "score": 6,
            "keywords": "refund, late",
            "customer_attributes": "plan = gold",
            "action": "followup",
            "owner_kind": "team",
            "owner_team": care.pk,
            "priority": 4,
            "due_hours": 4,
        },
    )
    assert good.status_code == 302
    saved = FollowUpRule.objects.get()
    assert (saved.score_min, saved.score_max, saved.keywords) == (None, 6, ["refund", "late"])
    assert saved.customer_attributes == {"plan": "gold"} and saved.owner_team == care
    wrong = client.post(
        reverse("followups:rule-edit", args=[saved.pk]),
        {"name": "x", "survey": nps.pk, "score_op": "between", "score": 7, "score_to": 2,
         "action": "followup", "owner_kind": "team", "owner_team": care.pk, "priority": 3,
         "due_hours": 24},
    )  # fmt: skip
    assert "The range is empty: 7 is above 2. Put the lower score first." in wrong.content.decode()
    listing = client.get(reverse("followups:rule-list")).content.decode()
    assert (
        "Angry gold customers" in listing and "score ≤ 6" in listing and "refund, late" in listing
    )
    client.post(reverse("followups:rule-toggle", args=[saved.pk]), {"active": "0"})
    saved.refresh_from_db()
    assert not saved.is_active
    client.post(reverse("followups:rule-delete", args=[saved.pk]))
    assert not FollowUpRule.objects.exists()


def test_root_causes_page(client, cx_lead, agent):
    _login(client, cx_lead.email)
    url = reverse("followups:rootcause-list")
    client.post(url, {"name": "Delivery", "is_active": "on"})
    delivery = RootCause.objects.get()
    client.post(url, {"name": "Late", "parent": delivery.pk, "is_active": "on"})
    duplicate = client.post(url, {"name": "late", "parent": delivery.pk})
    assert (
        duplicate.status_code == 200
        and "“late” is already in this list." in duplicate.content.decode()
    )
    page = client.get(url).content.decode()
    assert "Delivery" in page and "Late" in page
    late = RootCause.objects.get(name="Late")
    client.post(
        reverse("followups:rootcause-edit", args=[late.pk]), {"name": "Late", "parent": delivery.pk}
    )
    late.refresh_from_db()
    assert not late.is_active
    client.logout()
    _login(client, agent.email)
    assert client.get(url).status_code == 403


def test_admins_set_a_team_lead(client, admin_user, agent):
    _login(client, admin_user.email)
    client.post(
        reverse("accounts:team-create"),
        {"name": "Care", "description": "", "members": [agent.pk], "lead": admin_user.pk},
    )
    team = Team.objects.get()
    assert team.lead == admin_user
    assert "Ada Admin" in client.get(reverse("accounts:team-list")).content.decode()
    client.post(
        reverse("accounts:team-edit", args=[team.pk]), {"name": "Care", "members": [agent.pk]}
    )
    team.refresh_from_db()
    assert team.lead is None


def test_an_unknown_question_is_named(client, cx_lead, nps):
    _login(client, cx_lead.email)
    page = client.post(
        reverse("followups:rule-create"),
        {"name": "x", "survey": nps.pk, "question": 999_999, "score_op": "lte", "score": 3,
         "action": "followup", "owner_kind": "touchpoint", "priority": 3, "due_hours": 24},
    )  # fmt: skip
    assert "There is no such scored question (any more): choose one offered." in (
        page.content.decode()
    )

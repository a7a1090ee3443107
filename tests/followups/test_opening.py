"""Opening follow-ups: a detractor's answer reaches a person, on the customer's channel, once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cxm.core.models import Notification
from cxm.jobs import Job
from inbox.models import AgentSetting, Conversation, Delivery, Message, Suppression
from journeys.models import Interaction
from metrics import followup_services as services
from metrics.models import FollowUp, FollowUpEvent
from metrics.signals import followup_opened
from tests.conftest import make_user
from tests.followups.conftest import answer, detractor_rule, make_customer, make_survey, rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        "cxm.webhooks.services.event_publish", lambda event, data: sent.append((event, data))
    )
    return sent


def test_detractors_are_given_round_robin_to_the_touchpoint_team(
    cx_lead, care, nps, channel_accounts, captured_jobs, published
):
    detractor_rule(cx_lead, nps)
    anna, ben = care.members.order_by("id")
    first = answer(nps, make_customer(), 3, text="Three days late")
    second = answer(nps, make_customer(), 5)
    third = answer(nps, make_customer(), 6)
    answer(nps, make_customer(), 9)  # a promoter: no rule matches
    captured_jobs.run_all()

    followups = list(FollowUp.objects.order_by("id"))
    assert [f.response_id for f in followups] == [first.pk, second.pk, third.pk]
    assert [f.owner for f in followups] == [anna, ben, anna]
    assert {f.team_id for f in followups} == {care.pk}
    fu = followups[0]
    assert fu.status == "new" and fu.score == 3 and fu.band == "negative" and fu.priority == 3
    assert fu.due_at - fu.opened_at == dt.timedelta(hours=24)
    assert [e.kind for e in fu.events.order_by("id")] == ["opened", "assigned"]
    assert [event for event, _data in published] == ["followup.opened"] * 3
    data = published[0][1]
    assert data["id"] == fu.pk and data["response_id"] == first.pk and data["score"] == 3
    assert data["owner"]["email"] == "anna@example.com" and data["status"] == "new"
    assert data["due_at"] == fu.due_at.isoformat() and data["root_cause"] is None


def test_running_the_task_again_does_nothing(cx_lead, care, nps, channel_accounts, captured_jobs):
    detractor_rule(cx_lead, nps)
    response = answer(nps, make_customer(), 2)
    captured_jobs.run_all()
    counts = (
        FollowUp.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        Interaction.objects.count(),
        Notification.objects.count(),
        FollowUpEvent.objects.count(),
    )
    assert services.followup_open_for_response(response_id=response.pk) is None
    captured_jobs.run_all()
    assert counts == (
        FollowUp.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        Interaction.objects.count(),
        Notification.objects.count(),
        FollowUpEvent.objects.count(),
    )
    assert counts[0] == 1


def test_unavailable_members_are_skipped(cx_lead, care, nps, channel_accounts, captured_jobs):
    detractor_rule(cx_lead, nps)
    anna, ben = care.members.order_by("id")
    AgentSetting.objects.create(user=anna, available=False)
    for score in (1, 2, 3):
        answer(nps, make_customer(), score)
    captured_jobs.run_all()
    assert set(FollowUp.objects.values_list("owner_id", flat=True)) == {ben.pk}


def test_a_named_team_or_person_gets_them(cx_lead, care, nps, channel_accounts, captured_jobs):
    from cxm.accounts import services as account_services
    from cxm.accounts.models import Role

    vip = make_user(Role.AGENT, "vera@example.com", name="Vera VIP")
    vip_team = account_services.team_save(team=None, name="VIP", description="", members=[vip])
    rule(
        cx_lead,
        survey=nps,
        band="negative",
        customer_attributes={"plan": "gold"},
        owner_kind="team",
        owner_team=vip_team,
    )
    rule(cx_lead, survey=nps, band="negative", owner_kind="person", owner_user=cx_lead)
    answer(nps, make_customer(attributes={"plan": "Gold"}), 4)
    answer(nps, make_customer(attributes={"plan": "silver"}), 4)
    captured_jobs.run_all()
    gold, silver = FollowUp.objects.order_by("id")
    assert (gold.owner, gold.team) == (vip, vip_team)
    assert (silver.owner, silver.team) == (cx_lead, None)


def test_the_conversation_is_created_on_the_channel_the_survey_was_answered_on(
    cx_lead, care, nps, channel_accounts, captured_jobs
):
    detractor_rule(cx_lead, nps)
    customer = make_customer(phone="+31612345678", preferred_channel="email")
    response = answer(nps, customer, 2, text="Nobody called me back", channel="sms")
    captured_jobs.run_all()
    fu = FollowUp.objects.get()
    conversation = fu.conversation
    assert conversation.channel == "sms"
    assert conversation.channel_account == channel_accounts["sms"]
    assert conversation.assignee == fu.owner and conversation.team == care
    assert conversation.status == "open" and conversation.priority == 3
    note = conversation.messages.get()
    assert note.direction == "note" and note.author is None
    text = note.text
    assert f"Survey answers: {nps.name}" in text and "Score: 2 (detractor" in text
    assert "How likely are you to recommend us to a friend or colleague?\n  2" in text
    assert "What could we do better?\n  Nobody called me back" in text
    assert "What did you like most?\n  (not asked)" in text
    assert f"/surveys/responses/{response.pk}/" in text
    assert "The follow-up, due " in text and text.endswith(f"/followups/{fu.pk}/")


def test_an_open_conversation_with_the_customer_is_reused(
    cx_lead, care, nps, channel_accounts, captured_jobs
):
    detractor_rule(cx_lead, nps)
    customer = make_customer()
    existing = Conversation.objects.create(
        customer=customer,
        channel_account=channel_accounts["email"],
        channel="email",
        subject="Where is my sofa?",
        status="pending",
    )
    resolved_sms = Conversation.objects.create(
        customer=customer, channel_account=channel_accounts["sms"], channel="sms", status="resolved"
    )
    answer(nps, customer, 1)
    captured_jobs.run_all()
    fu = FollowUp.objects.get()
    assert fu.conversation == existing
    existing.refresh_from_db()
    assert existing.assignee == fu.owner and existing.status == "open"
    assert existing.team == care and existing.messages.filter(direction="note").count() == 1
    assert Conversation.objects.count() == 2 and not resolved_sms.messages.exists()


def test_suppressed_channels_are_passed_over(cx_lead, care, nps, channel_accounts, captured_jobs):
    detractor_rule(cx_lead, nps)
    customer = make_customer(email="stop@example.com", phone="+31611111111")
    Suppression.objects.create(channel="email", address="stop@example.com", reason="opt_out")
    answer(nps, customer, 3)
    lonely = make_customer(email="gone@example.com")
    Suppression.objects.create(channel="email", address="gone@example.com", reason="bounce")
    answer(nps, lonely, 3)
    captured_jobs.run_all()
    reachable, unreachable = FollowUp.objects.order_by("id")
    assert reachable.conversation.channel == "sms"
    assert unreachable.conversation is None and unreachable.owner is not None


def test_the_owner_is_notified_and_emailed_once_per_burst(
    cx_lead, care, nps, channel_accounts, captured_jobs, mailoutbox
):
    from django.core.cache import cache

    from cxm.accounts import services as account_services

    solo = care.members.order_by("id").first()
    account_services.team_save(team=care, name="Care", description="", members=[solo])
    detractor_rule(cx_lead, nps)
    for score in (1, 2):
        answer(nps, make_customer(), score)
    captured_jobs.commit()
    assert captured_jobs.names().count(Job.METRICS_FOLLOWUP_OPEN.value) == 1  # one drain task
    captured_jobs.run_all()
    notice = Notification.objects.get(user=solo)
    assert notice.text.startswith("2 new follow-ups are yours; the first is due")
    assert notice.url == "/followups/?scope=mine"
    assert [m.to for m in mailoutbox] == [[solo.email]]
    cache.delete(services.KICK)
    answer(nps, make_customer(name="Zoe Late"), 3)
    captured_jobs.run_all()
    latest = Notification.objects.filter(user=solo).latest("id")
    assert latest.text.startswith("Follow-up for Zoe Late (")
    assert "is yours, due" in latest.text
    assert latest.url == f"/followups/{FollowUp.objects.latest('id').pk}/"
    assert len(mailoutbox) == 1  # the second is held back: one email per ten minutes
    assert Notification.objects.filter(user=solo).count() == 2


def test_each_step_is_on_the_customer_timeline(cx_lead, care, nps, channel_accounts, captured_jobs):
    detractor_rule(cx_lead, nps)
    customer = make_customer()
    answer(nps, customer, 3)
    captured_jobs.run_all()
    fu = FollowUp.objects.get()
    entries = list(
        Interaction.objects.filter(customer=customer, kind__startswith="followup.").order_by("id")
    )
    assert [e.kind for e in entries] == ["followup.opened", "followup.assigned"]
    assert entries[0].source_type == "metrics.followup" and entries[0].source_id == str(fu.pk)
    assert entries[1].summary == f"Follow-up assigned to {fu.owner.name}"
    assert entries[0].channel == "email" and entries[0].touchpoint is None
    from journeys.presenters import source_link

    assert source_link(entries[0]) == f"/followups/{fu.pk}/"


def test_a_followup_without_an_owner_tells_the_cx_leads(
    cx_lead, nps, channel_accounts, captured_jobs
):
    other = make_survey("nps", cx_lead)  # no touchpoint: no owner team
    rule(cx_lead, survey=other, band="negative")
    answer(other, make_customer(), 0)
    captured_jobs.run_all()
    fu = FollowUp.objects.get()
    assert fu.owner is None and fu.team is None and fu.events.get().kind == "opened"
    notice = Notification.objects.get(user=cx_lead)
    assert notice.text.endswith("has no owner: assign it")


def test_promoters_are_asked_for_a_review_once(cx_lead, care, nps, channel_accounts, captured_jobs):
    rule(
        cx_lead,
        survey=nps,
        band="positive",
        action="review",
        review_link="https://reviews.example.com/shop",
        review_message="Thanks {first_name}! Tell others: {link}",
    )
    detractor_rule(cx_lead, nps)
    customer = make_customer(name="Ann Smit", phone="+31622222222")
    response = answer(nps, customer, 10, channel="sms")
    captured_jobs.run_all()
    assert not FollowUp.objects.exists()
    delivery = Delivery.objects.filter(to_address="+31622222222").get()
    assert delivery.channel == "sms" and delivery.message is None
    assert delivery.text == "Thanks Ann! Tell others: https://reviews.example.com/shop"
    entry = Interaction.objects.get(customer=customer, kind="followup.review_asked")
    assert entry.source_type == "surveys.response" and entry.source_id == str(response.pk)
    services.followup_open_for_response(response_id=response.pk)
    captured_jobs.run_all()
    assert Delivery.objects.filter(to_address="+31622222222").count() == 1


def test_only_answers_a_rule_can_match_cost_a_task(
    cx_lead, care, nps, channel_accounts, captured_jobs
):
    from surveys import services as surveys

    other = make_survey("csat", cx_lead)
    answer(other, make_customer(), 1)
    captured_jobs.commit()
    assert Job.METRICS_FOLLOWUP_OPEN.value not in captured_jobs.names()  # no rule at all
    detractor_rule(cx_lead, nps)
    answer(other, make_customer(), 1)
    captured_jobs.commit()
    assert Job.METRICS_FOLLOWUP_OPEN.value not in captured_jobs.names()  # no rule for this survey
    anonymous = surveys.response_start(survey=nps, language="en")
    questions = list(nps.questions.all())
    from surveys.answers import AnswerValue

    surveys.response_submit(
        response=anonymous, questions=questions, values={questions[0]: AnswerValue(number=0)}
    )
    captured_jobs.commit()
    assert Job.METRICS_FOLLOWUP_OPEN.value not in captured_jobs.names()  # nobody to call back
    response = answer(nps, make_customer(), 7)
    captured_jobs.commit()
    assert (Job.METRICS_FOLLOWUP_OPEN.value, {"response_id": response.pk}) in captured_jobs.sent


def test_followup_opened_is_sent_after_commit(cx_lead, care, nps, channel_accounts, captured_jobs):
    received: list[int] = []

    def listener(sender, followup_id, **kwargs):
        received.append(followup_id)

    followup_opened.connect(listener)
    try:
        detractor_rule(cx_lead, nps)
        answer(nps, make_customer(), 3)
        captured_jobs.run_all()
    finally:
        followup_opened.disconnect(listener)
    assert received == [FollowUp.objects.get().pk]


def test_keywords_and_customer_value_pick_the_rule(
    cx_lead, care, nps, channel_accounts, captured_jobs
):
    from decimal import Decimal

    urgent = rule(
        cx_lead, survey=nps, keywords=["refund"], priority=4, due_hours=2, owner_kind="touchpoint"
    )
    valuable = rule(cx_lead, min_customer_value=Decimal("5000"), band="negative", due_hours=8)
    detractor_rule(cx_lead, nps)
    answer(nps, make_customer(), 8, text="I want a REFUND")  # a passive with a keyword
    answer(nps, make_customer(value=Decimal("9000")), 5)
    answer(nps, make_customer(value=Decimal("10")), 5)
    captured_jobs.run_all()
    keyword, rich, plain = FollowUp.objects.order_by("id")
    assert (keyword.rule, keyword.priority) == (urgent, 4)
    assert keyword.due_at - keyword.opened_at == dt.timedelta(hours=2)
    assert rich.rule == valuable and plain.rule.due_hours == 24


def test_answers_wait_in_the_database_and_a_dead_drain_lets_go(
    cx_lead, care, nps, channel_accounts, captured_jobs
):
    from metrics.models import FollowUpPending

    detractor_rule(cx_lead, nps)
    responses = [answer(nps, make_customer(), score) for score in (1, 2, 3)]
    captured_jobs.commit()
    assert set(FollowUpPending.objects.values_list("response_id", flat=True)) == {
        r.pk for r in responses
    }
    assert captured_jobs.names().count(Job.METRICS_FOLLOWUP_OPEN.value) == 1
    taken = services._claim(2)  # a drain that claims two and dies
    assert services.followups_drain() == 1
    assert FollowUpPending.objects.count() == 2
    FollowUpPending.objects.update(claimed_until=timezone.now() - dt.timedelta(seconds=1))
    assert services.followups_drain() == 2
    assert not FollowUpPending.objects.exists()
    assert (
        set(FollowUp.objects.values_list("response_id", flat=True)) == {r.pk for r in responses}
        and len(taken) == 2
    )


def test_a_followup_opened_meanwhile_does_not_stop_the_batch(
    cx_lead, care, nps, channel_accounts, captured_jobs, monkeypatch
):
    detractor_rule(cx_lead, nps)
    first, second = (answer(nps, make_customer(), score) for score in (1, 2))
    captured_jobs.sent.clear()
    real = services.rules_active

    def racing():
        # Another worker opens the first one between the batch's check and its insert.
        monkeypatch.setattr(services, "rules_active", real)
        services.followup_open_for_response(response_id=first.pk)
        return real()

    monkeypatch.setattr(services, "rules_active", racing)
    created = services._open_batch([first.pk, second.pk])
    assert [f.response_id for f in created] == [second.pk]
    assert FollowUp.objects.count() == 2


def test_the_sweep_takes_what_the_signal_missed(
    cx_lead, care, nps, channel_accounts, captured_jobs
):
    from surveys.models import Response

    detractor_rule(cx_lead, nps)
    response = answer(nps, make_customer(), 2)
    from django.db import connection

    from metrics.models import FollowUpPending

    # The web process died between the commit and the signal: nothing waits for the rules.
    connection.run_on_commit.clear()
    captured_jobs.sent.clear()
    assert not FollowUpPending.objects.exists()
    Response.objects.filter(pk=response.pk).update(
        completed_at=timezone.now() - dt.timedelta(minutes=10, seconds=30)
    )
    assert services.followups_sweep() == 1
    assert FollowUp.objects.get().response_id == response.pk
    assert services.followups_sweep() == 0

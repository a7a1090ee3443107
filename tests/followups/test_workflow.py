"""The follow-up workflow: new → contacted → resolved | unreachable, reopening, reassigning,
first contact from a reply, and escalation past the deadline."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cxm.core.models import Notification
from cxm.errors import ApplicationError
from cxm.jobs import Job
from inbox import services as inbox
from journeys.models import Interaction
from metrics import followup_services as services
from metrics.models import FollowUp
from metrics.signals import followup_closed
from tests.conftest import make_user
from tests.followups.conftest import answer, detractor_rule, make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def followup(cx_lead, care, nps, channel_accounts, captured_jobs) -> FollowUp:
    detractor_rule(cx_lead, nps)
    answer(nps, make_customer(phone="+31633333333"), 2, text="Too late", channel="sms")
    captured_jobs.run_all()
    captured_jobs.sent.clear()
    return FollowUp.objects.select_related("owner", "conversation").get()


def _kinds(fu: FollowUp) -> list[str]:
    return list(fu.events.order_by("id").values_list("kind", flat=True))


def _timeline(fu: FollowUp) -> list[str]:
    return list(
        Interaction.objects.filter(customer_id=fu.customer_id, kind__startswith="followup.")
        .order_by("id")
        .values_list("kind", flat=True)
    )


def test_marking_contacted_twice_or_when_closed_is_refused(followup, causes):
    owner = followup.owner
    done = services.followup_mark_contacted(followup=followup, by=owner)
    assert done.status == "contacted" and done.first_contacted_at is not None
    with pytest.raises(ApplicationError, match="already marked contacted"):
        services.followup_mark_contacted(followup=followup, by=owner)
    services.followup_resolve(followup=followup, by=owner, root_cause=causes["late"])
    with pytest.raises(ApplicationError, match=r"This follow-up is already resolved\. Reopen it"):
        services.followup_mark_contacted(followup=followup, by=owner)
    assert _kinds(followup) == ["opened", "assigned", "contacted", "resolved"]


def test_resolving_needs_an_active_root_cause(followup, causes, monkeypatch):
    owner = followup.owner
    with pytest.raises(ApplicationError) as caught:
        services.followup_resolve(followup=followup, by=owner, root_cause=None)
    assert (caught.value.field, caught.value.message) == ("root_cause", "Choose the root cause.")
    services.root_cause_save(
        cause=causes["delivery"], name="Delivery", parent=None, is_active=False
    )
    causes["late"].refresh_from_db()
    with pytest.raises(ApplicationError, match="“Delivery › Late” is no longer in use"):
        services.followup_resolve(followup=followup, by=owner, root_cause=causes["late"])

    published: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        "cxm.webhooks.services.event_publish", lambda event, data: published.append((event, data))
    )
    received: list[int] = []
    listener = lambda sender, followup_id, **kw: received.append(followup_id)  # noqa: E731
    followup_closed.connect(listener)
    try:
        resolved = services.followup_resolve(
            followup=followup,
            by=owner,
            root_cause=causes["price"],
            outcome="Refunded the delivery fee.",
            recovered=True,
        )
        from django.db import connection

        for _sp, func, _robust in list(connection.run_on_commit):
            func()
        connection.run_on_commit.clear()
    finally:
        followup_closed.disconnect(listener)
    assert resolved.status == "resolved" and resolved.closed_at is not None
    assert resolved.recovered and resolved.outcome == "Refunded the delivery fee."
    assert received == [followup.pk]
    event, data = published[0]
    assert event == "followup.closed"
    assert data["status"] == "resolved" and data["root_cause"] == "Price" and data["recovered"]
    assert _timeline(followup)[-1] == "followup.resolved"
    entry = Interaction.objects.filter(kind="followup.resolved").get()
    assert (
        entry.summary
        == "Follow-up resolved: Price · customer recovered · “Refunded the delivery fee.”"
    )
    with pytest.raises(ApplicationError, match="already resolved"):
        services.followup_resolve(followup=followup, by=owner, root_cause=causes["price"])


def test_unreachable_and_reopen(followup):
    owner = followup.owner
    closed = services.followup_mark_unreachable(followup=followup, by=owner, outcome="Three calls")
    assert closed.status == "unreachable" and closed.root_cause is None
    with pytest.raises(ApplicationError, match="already unreachable"):
        services.followup_mark_unreachable(followup=followup, by=owner)
    reopened = services.followup_reopen(followup=followup, by=owner, reason="She called back")
    assert reopened.status == "new" and reopened.closed_at is None and reopened.reopened == 1
    with pytest.raises(ApplicationError, match="still open"):
        services.followup_reopen(followup=followup, by=owner)
    services.followup_mark_contacted(followup=followup, by=owner)
    services.followup_mark_unreachable(followup=followup, by=owner)
    assert services.followup_reopen(followup=followup, by=owner).status == "contacted"
    assert _kinds(followup) == [
        "opened", "assigned", "unreachable", "reopened", "contacted", "unreachable", "reopened",
    ]  # fmt: skip
    assert _timeline(followup) == [
        "followup.opened", "followup.assigned", "followup.unreachable", "followup.reopened",
        "followup.contacted", "followup.unreachable", "followup.reopened",
    ]  # fmt: skip
    event = followup.events.filter(kind="reopened").first()
    assert event.actor == owner and event.data == {
        "previous": "unreachable",
        "reason": "She called back",
    }


def test_a_reply_in_the_conversation_is_the_first_contact(followup, captured_jobs, twilio_stub):
    owner = followup.owner
    message = inbox.reply_send(
        conversation=followup.conversation, author=owner, text="Sorry! We will fix it."
    )
    captured_jobs.commit()
    assert (Job.METRICS_FOLLOWUP_CONTACTED.value, {"message_id": message.pk}) in captured_jobs.sent
    captured_jobs.run_all()
    followup.refresh_from_db()
    assert followup.status == "contacted" and followup.first_contacted_at == message.created_at
    event = followup.events.get(kind="contacted")
    assert event.actor == owner and event.data["via"] == "reply"
    assert twilio_stub.requests[-1].form()["Body"] == "Sorry! We will fix it."
    # A second reply is no longer a first contact: no task at all.
    inbox.reply_send(conversation=followup.conversation, author=owner, text="Done.")
    captured_jobs.commit()
    assert Job.METRICS_FOLLOWUP_CONTACTED.value not in captured_jobs.names()
    assert services.followup_contact_from_message(message_id=message.pk) == 0


def test_a_call_that_reached_nobody_is_not_a_contact(followup, captured_jobs):
    owner = followup.owner
    inbox.call_log(
        customer=followup.customer,
        author=owner,
        direction="out",
        duration_seconds=0,
        outcome="no_answer",
        notes="",
        conversation=followup.conversation,
    )
    captured_jobs.run_all()
    followup.refresh_from_db()
    assert followup.status == "new" and followup.first_contacted_at is None
    inbox.call_log(
        customer=followup.customer,
        author=owner,
        direction="out",
        duration_seconds=300,
        outcome="resolved",
        notes="Talked it through",
        conversation=followup.conversation,
    )
    captured_jobs.run_all()
    followup.refresh_from_db()
    assert (
        followup.status == "contacted"
        and followup.events.get(kind="contacted").data["via"] == "call"
    )


def test_a_lead_gives_it_to_someone_else(followup, care, captured_jobs):
    anna, ben = care.members.order_by("id")
    other = ben if followup.owner == anna else anna
    lead = care.lead
    moved = services.followup_assign(followup=followup, owner=other, by=lead)
    assert moved.owner == other
    followup.conversation.refresh_from_db()
    assert followup.conversation.assignee == other
    assert Notification.objects.filter(user=other, text__contains="is yours").exists()
    assert _timeline(followup)[-1] == "followup.assigned"
    nobody = make_user(None, "guest@example.com", name="Guest")
    with pytest.raises(ApplicationError, match="Guest cannot work follow-ups"):
        services.followup_assign(followup=followup, owner=nobody, by=lead)


def test_overdue_followups_are_escalated_once_to_the_lead(followup, care, captured_jobs):
    lead = care.lead
    FollowUp.objects.filter(pk=followup.pk).update(due_at=timezone.now() - dt.timedelta(minutes=5))
    assert services.followups_escalate() == 1
    followup.refresh_from_db()
    assert followup.escalated_at is not None and _kinds(followup)[-1] == "escalated"
    notice = Notification.objects.get(user=lead)
    assert (
        notice.text.startswith("Overdue follow-up: Customer")
        and notice.url == f"/followups/{followup.pk}/"
    )
    captured_jobs.commit()
    assert captured_jobs.names().count(Job.CORE_NOTIFICATION_EMAIL.value) == 1
    assert services.followups_escalate() == 0
    assert Notification.objects.filter(user=lead).count() == 1


def test_without_a_lead_the_cx_leads_hear_of_it_in_one_notice(
    cx_lead, care, nps, channel_accounts, captured_jobs
):
    from cxm.accounts import services as account_services

    account_services.team_save(
        team=care, name="Care", description="", members=list(care.members.all()), lead=None
    )
    detractor_rule(cx_lead, nps)
    for score in (1, 2, 3):
        answer(nps, make_customer(), score)
    captured_jobs.run_all()
    closed = FollowUp.objects.order_by("id").last()
    services.followup_mark_unreachable(followup=closed, by=closed.owner)
    FollowUp.objects.update(due_at=timezone.now() - dt.timedelta(hours=1))
    assert services.followups_escalate() == 2  # the closed one is not escalated
    notices = Notification.objects.filter(text__contains="past their deadline")
    lena = care.members.model.objects.get(email="lena@example.com")
    assert {n.user for n in notices} == {cx_lead, lena}  # both hold the CX lead role
    assert notices.first().text == "2 follow-ups are past their deadline"
    assert notices.first().url == "/followups/?scope=team&overdue=1"


def test_followups_not_yet_due_are_left_alone(followup):
    assert services.followups_escalate() == 0
    followup.refresh_from_db()
    assert followup.escalated_at is None

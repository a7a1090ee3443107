from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from cxm.accounts.models import Role
from cxm.core.models import Notification
from inbox import services
from inbox.models import CannedResponse, Conversation
from journeys.services import customers_upsert
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(accounts, care_team):
    cora = make_user(Role.AGENT, "cora@example.com", name="Cora Care")
    otto = make_user(Role.AGENT, "otto.other@example.com", name="Otto Other")
    care_team.members.add(cora, otto)
    customer = customers_upsert([{"email": "ann@example.com", "name": "Ann Smit"}])[0].customer
    conversation = Conversation.objects.create(
        customer=customer,
        channel_account=accounts["email"],
        channel="email",
        subject="Scratch",
        team=care_team,
        last_message_at=timezone.now(),
    )
    return cora, otto, conversation


def test_a_note_with_a_mention_notifies_in_the_app_and_by_email(client, setup, captured_jobs):
    cora, otto, conversation = setup
    client.force_login(cora)
    client.post(
        reverse("inbox:conversation-note", args=[conversation.pk]),
        {"note": "@otto can you check the stock? cc @nobody"},
    )
    captured_jobs.run_all()
    notice = Notification.objects.get()
    assert (
        notice.user == otto
        and "Cora Care mentioned you" in notice.text
        and notice.url.startswith(f"/inbox/conversations/{conversation.pk}/")
    )
    assert mail.outbox[0].to == ["otto.other@example.com"]
    client.force_login(otto)
    page = client.get(reverse("notifications")).content.decode()
    assert "mentioned you" in page
    Notification.objects.get(read_at__isnull=False)
    thread = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert "internal note" in thread


def test_priority_labels_and_snooze(client, setup):
    cora, _otto, conversation = setup
    client.force_login(cora)
    client.post(
        reverse("inbox:conversation-update", args=[conversation.pk]),
        {"action": "details", "priority": "4", "labels": "Damage, delivery ,damage"},
    )
    conversation.refresh_from_db()
    assert conversation.priority == 4 and sorted(
        conversation.labels.values_list("name", flat=True)
    ) == ["damage", "delivery"]
    past = client.post(
        reverse("inbox:conversation-update", args=[conversation.pk]),
        {"action": "snooze", "until": "2020-01-01T10:00"},
        follow=True,
    )
    assert "future" in past.content.decode()
    later = (timezone.localtime() + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    client.post(
        reverse("inbox:conversation-update", args=[conversation.pk]),
        {"action": "snooze", "until": later},
    )
    conversation.refresh_from_db()
    assert conversation.status == "snoozed"
    Conversation.objects.filter(pk=conversation.pk).update(
        snoozed_until=timezone.now() - dt.timedelta(minutes=1)
    )
    assert services.snoozed_wake() == 1
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_a_canned_response_fills_the_composer_with_merge_fields(client, setup):
    cora, _otto, conversation = setup
    canned = CannedResponse.objects.create(
        title="Delivery slot", text="Hi {first_name}, {agent_name} here: your slot is Friday."
    )
    client.force_login(cora)
    page = client.get(
        reverse("inbox:conversation", args=[conversation.pk]), {"canned": canned.pk}
    ).content.decode()
    assert "Hi Ann, Cora Care here: your slot is Friday." in page


def test_reassign_to_another_agent_and_team_notifies_them(client, setup, admin_user):
    from cxm.accounts import services as account_services

    cora, otto, conversation = setup
    other_team = account_services.team_save(
        team=None, name="Delivery", description="", members=[otto]
    )
    client.force_login(cora)
    client.post(
        reverse("inbox:conversation-update", args=[conversation.pk]),
        {
            "action": "details",
            "priority": "2",
            "labels": "",
            "team": str(conversation.team_id),
            "assignee": str(otto.pk),
        },
    )
    conversation.refresh_from_db()
    assert conversation.assignee == otto
    assert Notification.objects.get(user=otto).text.startswith("Cora Care assigned")
    client.post(
        reverse("inbox:conversation-update", args=[conversation.pk]),
        {
            "action": "details",
            "priority": "2",
            "labels": "",
            "team": str(other_team.pk),
            "assignee": str(otto.pk),
        },
    )
    conversation.refresh_from_db()
    assert conversation.team == other_team and conversation.assignee == otto


def test_lists_filter_by_status_priority_team_assignee_and_label(client, setup):
    cora, otto, conversation = setup
    services.conversation_set_priority(conversation=conversation, priority=4)
    services.conversation_set_labels(conversation=conversation, names=["damage"])
    client.force_login(cora)
    url = reverse("inbox:list", args=["teams"])

    def ids(**params):
        return [c.pk for c in client.get(url, params).context["page"].conversations]

    assert ids(priority="4") == [conversation.pk] and ids(priority="1") == []
    assert ids(label="damage") == [conversation.pk] and ids(label="other") == []
    assert ids(status="open") == [conversation.pk] and ids(status="pending") == []
    assert ids(team=str(conversation.team_id)) == [conversation.pk]
    assert ids(assignee=str(otto.pk)) == []


def test_only_people_who_work_the_inbox_can_be_assigned(setup):
    from cxm.errors import ApplicationError

    cora, _otto, conversation = setup
    outsider = make_user(None, "norole@example.com")
    with pytest.raises(ApplicationError, match="cannot work the inbox"):
        services.conversation_assign(conversation=conversation, assignee=outsider, by=cora)
    conversation.refresh_from_db()
    assert conversation.assignee is None

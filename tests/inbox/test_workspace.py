"""The agent workspace pages and who may see what."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from cxm.accounts.models import Role
from inbox import services
from inbox.models import Conversation, Message, OutboxMessage
from journeys.services import customers_upsert
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def care_agent(care_team):
    user = make_user(Role.AGENT, "care@example.com", name="Cora Care")
    care_team.members.add(user)
    return user


@pytest.fixture
def conversation(accounts):
    customer = customers_upsert([{"email": "ann@example.com", "name": "Ann"}])[0].customer
    conversation = Conversation.objects.create(
        customer=customer,
        channel_account=accounts["email"],
        channel="email",
        subject="Sofa <b>late</b>",
        team=accounts["email"].team,
        last_message_at=timezone.now(),
        first_customer_message_at=timezone.now(),
    )
    Message.objects.create(
        conversation=conversation,
        direction="in",
        channel="email",
        text="Where <script>x</script>",
        created_at=timezone.now(),
    )
    return conversation


def test_team_members_see_their_teams_conversations_and_others_do_not(
    client, care_agent, conversation, django_assert_max_num_queries
):
    client.force_login(care_agent)
    with django_assert_max_num_queries(14):
        page = client.get(reverse("inbox:list", args=["unassigned"]))
    assert [c.pk for c in page.context["page"].conversations] == [conversation.pk]
    detail = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert "<script>x</script>" not in detail and "&lt;script&gt;" in detail
    outsider = make_user(Role.AGENT, "outsider@example.com")
    client.force_login(outsider)
    assert (
        client.get(reverse("inbox:list", args=["unassigned"])).context["page"].conversations == []
    )
    assert client.get(reverse("inbox:conversation", args=[conversation.pk])).status_code == 404
    assert (
        client.post(
            reverse("inbox:conversation-reply", args=[conversation.pk]),
            {"text": "x", "channel": "email"},
        ).status_code
        == 404
    )
    assert client.get(reverse("inbox:list", args=["all"])).status_code == 403


def test_admins_see_everything(client, admin_user, conversation):
    client.force_login(admin_user)
    assert [
        c.pk for c in client.get(reverse("inbox:list", args=["all"])).context["page"].conversations
    ] == [conversation.pk]


def test_take_reply_and_resolve_from_the_page(client, care_agent, conversation, captured_jobs):
    client.force_login(care_agent)
    client.post(reverse("inbox:conversation-update", args=[conversation.pk]), {"action": "take"})
    assert [
        c.pk for c in client.get(reverse("inbox:list", args=["mine"])).context["page"].conversations
    ] == [conversation.pk]
    response = client.post(
        reverse("inbox:conversation-reply", args=[conversation.pk]),
        {"text": "On Friday.", "channel": "email"},
    )
    assert response.status_code == 302
    captured_jobs.run_all()
    sent = OutboxMessage.objects.get()  # the embedded default's dev outbox
    assert sent.to_address == "ann@example.com" and sent.headers["Reply-To"].startswith("reply+")
    empty = client.post(
        reverse("inbox:conversation-reply", args=[conversation.pk]),
        {"text": "  ", "channel": "email"},
    )
    assert empty.status_code == 400
    client.post(
        reverse("inbox:conversation-update", args=[conversation.pk]), {"action": "resolved"}
    )
    conversation.refresh_from_db()
    assert conversation.status == "resolved" and conversation.assignee == care_agent
    assert [
        c.pk
        for c in client.get(reverse("inbox:list", args=["resolved"])).context["page"].conversations
    ] == [conversation.pk]


def test_a_reply_on_a_channel_the_customer_lacks_is_refused(client, care_agent, conversation):
    client.force_login(care_agent)
    response = client.post(
        reverse("inbox:conversation-reply", args=[conversation.pk]),
        {"text": "Hi", "channel": "sms"},
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_the_outbox_simulates_inbound_messages(client, care_agent, accounts, captured_jobs):
    client.force_login(care_agent)
    response = client.post(
        reverse("inbox:outbox"),
        {
            "channel": "sms",
            "account": accounts["sms"].pk,
            "from_address": "06 1234 5678",
            "subject": "",
            "text": "Is my order late?",
        },
    )
    assert response.status_code == 302
    captured_jobs.run_all()
    conversation = Conversation.objects.get()
    assert (
        conversation.customer.phone == "+31612345678" and conversation.team == accounts["sms"].team
    )
    bad = client.post(
        reverse("inbox:outbox"),
        {"channel": "sms", "account": accounts["sms"].pk, "from_address": "12", "text": "x"},
    )
    assert "phone number" in bad.content.decode()


def test_the_outbox_is_gone_when_real_providers_are_configured(client, care_agent, settings):
    settings.INBOX_EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.TWILIO_ACCOUNT_SID = "ACreal"
    client.force_login(care_agent)
    assert client.get(reverse("inbox:outbox")).status_code == 404


def test_users_without_a_role_see_no_inbox(client):
    client.force_login(make_user(None))
    assert client.get(reverse("inbox:list", args=["unassigned"])).status_code == 403


def test_the_timeline_links_messages_to_their_conversation(client, care_agent, conversation):
    services.conversation_set_status(conversation=conversation, status="resolved", by=care_agent)
    client.force_login(care_agent)
    html = client.get(
        reverse("journeys:customer-detail", args=[conversation.customer_id])
    ).content.decode()
    assert reverse("inbox:conversation", args=[conversation.pk]) in html


def test_a_second_agent_sees_who_else_is_viewing_and_typing(
    client, care_agent, care_team, conversation
):
    other = make_user(Role.AGENT, "otto@example.com", name="Otto Other")
    care_team.members.add(other)
    client.force_login(care_agent)
    client.get(reverse("inbox:conversation-live", args=[conversation.pk]), {"typing": "1"})
    client.force_login(other)
    live = client.get(reverse("inbox:conversation-live", args=[conversation.pk])).content.decode()
    assert "Cora Care is typing a reply." in live
    client.force_login(care_agent)
    live = client.get(reverse("inbox:conversation-live", args=[conversation.pk])).content.decode()
    assert (
        "Otto Other is also viewing this conversation." in live
        and "Cora Care" not in live.split("presence")[1].split("</div>")[0]
    )


def test_the_list_rows_refresh(client, care_agent, conversation):
    client.force_login(care_agent)
    rows = client.get(reverse("inbox:list-rows", args=["unassigned"])).content.decode()
    assert f'data-conversation-id="{conversation.pk}"' in rows and 'hx-trigger="every 5s"' in rows


def test_search_finds_words_in_messages_and_customers_the_user_may_see(
    client, care_agent, conversation, accounts
):
    from inbox.models import Conversation as Conv

    other_customer = customers_upsert([{"email": "zed@example.com", "name": "Zed Zonder"}])[
        0
    ].customer
    hidden = Conv.objects.create(
        customer=other_customer,
        channel_account=accounts["sms"],
        channel="sms",
        subject="Hidden",
        team=None,
        last_message_at=timezone.now(),
    )
    Message.objects.create(
        conversation=hidden,
        direction="in",
        channel="sms",
        text="Where is my wardrobe?",
        created_at=timezone.now(),
    )
    Message.objects.create(
        conversation=conversation,
        direction="in",
        channel="email",
        text="The wardrobe door squeaks",
        created_at=timezone.now(),
    )
    client.force_login(care_agent)
    found = (
        client.get(reverse("inbox:list", args=["unassigned"]), {"q": "wardrobe"})
        .context["page"]
        .conversations
    )
    assert [c.pk for c in found] == [conversation.pk]  # the other team's conversation stays hidden
    by_customer = (
        client.get(reverse("inbox:list", args=["unassigned"]), {"q": "ann@example.com"})
        .context["page"]
        .conversations
    )
    assert [c.pk for c in by_customer] == [conversation.pk]
    assert (
        client.get(reverse("inbox:list", args=["unassigned"]), {"q": "zzzz"})
        .context["page"]
        .conversations
        == []
    )


def test_quoted_history_is_collapsed_and_attachments_download_for_permitted_users(
    client, care_agent, conversation
):
    from django.core.files.base import ContentFile

    from inbox.models import Attachment

    message = Message.objects.create(
        conversation=conversation,
        direction="in",
        channel="email",
        created_at=timezone.now(),
        text="Thanks, that works.\n\nOn Mon, 23 Nov 2026 at 10:00, Support <support@shop.example.com> wrote:\n> Try turning it off and on.",
    )
    attachment = Attachment(
        message=message, filename="photo <1>.png", content_type="image/png", size=4
    )
    attachment.file.save("x", ContentFile(b"\x89PNG"), save=False)
    attachment.save()
    client.force_login(care_agent)
    html = client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert "Show quoted text" in html and "Thanks, that works." in html
    download = client.get(reverse("inbox:attachment", args=[attachment.pk]))
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment;")
    assert download["Content-Type"] == "application/octet-stream"
    client.force_login(make_user(Role.AGENT, "outsider2@example.com"))
    assert client.get(reverse("inbox:attachment", args=[attachment.pk])).status_code == 404


def test_bulk_actions_touch_only_visible_conversations(client, care_agent, conversation, accounts):
    from inbox.models import Conversation as Conv

    other = Conv.objects.create(
        customer=conversation.customer,
        channel_account=accounts["sms"],
        channel="sms",
        subject="Other team",
        team=None,
        last_message_at=timezone.now(),
    )
    client.force_login(care_agent)
    client.post(
        reverse("inbox:bulk"),
        {"ids": [conversation.pk, other.pk], "action": "label", "label": "Urgent"},
    )
    client.post(reverse("inbox:bulk"), {"ids": [conversation.pk, other.pk], "action": "resolve"})
    conversation.refresh_from_db()
    other.refresh_from_db()
    assert conversation.status == "resolved" and list(
        conversation.labels.values_list("name", flat=True)
    ) == ["urgent"]
    assert other.status == "open" and not other.labels.exists()


def test_erasing_a_customer_removes_attachment_files_and_old_payloads_are_emptied(
    conversation, admin_user
):
    import datetime as dt

    from django.core.files.base import ContentFile

    from inbox import services
    from inbox.models import Attachment, InboundEvent
    from journeys.services import customer_delete

    message = Message.objects.create(
        conversation=conversation,
        direction="in",
        channel="email",
        text="x",
        created_at=timezone.now(),
    )
    attachment = Attachment(
        message=message, filename="a.pdf", content_type="application/pdf", size=3
    )
    attachment.file.save("x", ContentFile(b"pdf"), save=False)
    attachment.save()
    storage, name = attachment.file.storage, attachment.file.name
    assert storage.exists(name)
    customer_delete(customer=conversation.customer, actor=admin_user)
    assert not storage.exists(name)

    event = InboundEvent.objects.create(
        provider="t",
        kind="message",
        provider_id="old",
        payload={"text": "secret"},
        processed_at=timezone.now() - dt.timedelta(days=40),
    )
    assert services.inbound_payloads_purge() == 1
    event.refresh_from_db()
    assert event.payload == {} and event.provider_id == "old"

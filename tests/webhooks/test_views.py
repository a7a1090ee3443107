"""Settings → Webhooks: admins only; clear form errors; secrets shown once; log, filter, replay."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cxm.accounts.models import Role
from cxm.core.models import AuditEntry
from cxm.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.conftest import make_user
from tests.webhooks.conftest import subscribe

pytestmark = pytest.mark.django_db

LIST = reverse("webhooks:subscription-list")
NEW = reverse("webhooks:subscription-create")


def _form(url: str, **extra):
    return {
        "name": "CRM sync",
        "url": url,
        "events": ["customer.updated", "response.submitted"],
        "format": "json",
        "is_active": "on",
        **extra,
    }


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_only_admins_see_and_open_the_webhook_settings(client, agent, cx_lead, admin_user):
    for user in (agent, cx_lead):
        client.force_login(user)
        assert client.get(LIST).status_code == 403
        assert client.post(NEW, _form("https://hooks.example.com/")).status_code == 403
        assert "Webhooks" not in client.get(reverse("accounts:profile")).content.decode()
    client.force_login(admin_user)
    assert admin_user.has_perm("webhooks.manage_webhooks")
    profile = client.get(reverse("accounts:profile")).content.decode()
    assert f'href="{LIST}"' in profile
    page = client.get(LIST)
    assert page.status_code == 200 and 'aria-current="page">Webhooks' in page.content.decode()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "Only https:// URLs can receive webhooks"),
        ("javascript:alert(1)", "Only https:// URLs can receive webhooks"),
        ("https://user:pw@hooks.example.com/", "Leave user names and passwords out of the URL"),
        ("https://", "The URL has no host name."),
        ("https://127.0.0.1/hook", "127.0.0.1 is a private or loopback address"),
        ("https://metadata.example.com/", "resolves to 169.254.169.254, a cloud metadata address"),
    ],
)
def test_bad_urls_are_form_errors_on_the_url_field(admin_client, fake_dns, url, message):
    fake_dns["metadata.example.com"] = ["169.254.169.254"]
    reply = admin_client.post(NEW, _form(url))
    assert reply.status_code == 200
    html = reply.content.decode()
    assert 'class="field-error" id="id_url_error"' in html
    assert message in html.replace("&#x27;", "'").replace("&quot;", '"')
    assert not WebhookSubscription.objects.exists()


def test_missing_events_and_name_are_form_errors(admin_client, fake_dns):
    fake_dns["hooks.example.com"] = ["93.184.216.34"]
    reply = admin_client.post(
        NEW, {"name": "", "url": "https://hooks.example.com/", "format": "json"}
    )
    html = reply.content.decode()
    assert 'id="id_name_error"' in html and "id_events_errors" in html


def test_create_shows_the_secret_once_and_edit_saves(admin_client, fake_dns, admin_user):
    fake_dns["hooks.example.com"] = ["93.184.216.34"]
    reply = admin_client.post(NEW, _form("https://hooks.example.com/in"))
    subscription = WebhookSubscription.objects.get()
    detail = reverse("webhooks:subscription-detail", args=[subscription.pk])
    assert reply.status_code == 302 and reply["Location"] == detail
    first = admin_client.get(detail).content.decode()
    assert subscription.secret in first and "Signing secret" in first
    assert subscription.secret not in admin_client.get(detail).content.decode()
    assert AuditEntry.objects.filter(action="webhook.created", actor=admin_user).exists()
    edit = reverse("webhooks:subscription-edit", args=[subscription.pk])
    assert 'value="https://hooks.example.com/in"' in admin_client.get(edit).content.decode()
    reply = admin_client.post(edit, _form("https://hooks.example.com/v2", name="CRM", is_active=""))
    assert reply.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.name, subscription.url, subscription.is_active) == (
        "CRM",
        "https://hooks.example.com/v2",
        False,
    )


def test_rotate_reveal_and_delete(admin_client, fake_dns, admin_user):
    fake_dns["hooks.example.com"] = ["93.184.216.34"]
    subscription = subscribe("https://hooks.example.com/in", by=admin_user)
    detail = reverse("webhooks:subscription-detail", args=[subscription.pk])
    old = subscription.secret
    reply = admin_client.post(reverse("webhooks:subscription-rotate", args=[subscription.pk]))
    assert reply.status_code == 302
    subscription.refresh_from_db()
    assert subscription.secret != old and subscription.previous_secret == old
    page = admin_client.get(detail).content.decode()
    assert subscription.secret in page and "previous secret also signs until" in page
    admin_client.post(reverse("webhooks:subscription-reveal", args=[subscription.pk]))
    assert subscription.secret in admin_client.get(detail).content.decode()
    assert AuditEntry.objects.filter(action="webhook.secret_revealed").count() == 1
    assert (
        admin_client.get(
            reverse("webhooks:subscription-reveal", args=[subscription.pk])
        ).status_code
        == 405
    )
    reply = admin_client.post(reverse("webhooks:subscription-delete", args=[subscription.pk]))
    assert reply.status_code == 302
    assert admin_client.get(detail).status_code == 404
    assert "hooks.example.com" not in admin_client.get(LIST).content.decode()


def test_test_event_log_filter_and_replay(
    admin_client, receiver, private_targets, captured_jobs, django_assert_max_num_queries
):
    subscription = subscribe(receiver.url)
    detail = reverse("webhooks:subscription-detail", args=[subscription.pk])
    admin_client.post(reverse("webhooks:subscription-test", args=[subscription.pk]))
    receiver.answer = (500, b"nope")
    captured_jobs.run_all()
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "webhook.test" and delivery.attempts == 1
    page = admin_client.get(detail).content.decode()
    assert "webhook.test" in page and "Pending" in page and "500" in page
    assert 'hx-trigger="every 2s"' in page  # polls while something is pending
    assert (
        "No deliveries with this status"
        in admin_client.get(detail + "?status=succeeded").content.decode()
    )
    assert f"#{delivery.pk}" in admin_client.get(detail + "?status=pending").content.decode()
    one = reverse("webhooks:delivery-detail", args=[delivery.pk])
    shown = admin_client.get(one).content.decode()
    assert "nope" in shown and "The receiver answered 500." in shown and "Replay" in shown
    receiver.answer = (200, b"ok")
    reply = admin_client.post(reverse("webhooks:delivery-replay", args=[delivery.pk]))
    assert reply.status_code == 302
    captured_jobs.run_all()
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.cycle == 2
    shown = admin_client.get(one).content.decode()
    assert "2.1" in shown and "1.1" in shown
    for _ in range(60):
        WebhookDelivery.objects.create(
            subscription=subscription, event="customer.updated", payload={}, format="json"
        )
    with django_assert_max_num_queries(8):
        page = admin_client.get(detail)
    assert "Older deliveries" in page.content.decode()
    for n in range(5):
        subscribe(receiver.url, name=f"Other {n}")
    with django_assert_max_num_queries(7):
        assert admin_client.get(LIST).status_code == 200


def test_the_log_of_another_page_by_keyset(admin_client, receiver, private_targets):
    subscription = subscribe(receiver.url)
    rows = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=subscription, event="customer.updated", payload={}, format="json"
        )
        for _ in range(55)
    )
    detail = reverse("webhooks:subscription-detail", args=[subscription.pk])
    first = admin_client.get(detail).content.decode()
    assert f"#{rows[-1].pk}<" in first and f"#{rows[0].pk}<" not in first
    older = admin_client.get(f"{detail}?before={rows[5].pk}").content.decode()
    assert f"#{rows[0].pk}<" in older


def test_another_admins_deleted_subscription_is_gone(admin_client, fake_dns):
    other_admin = make_user(Role.ADMIN, "other-admin@example.com")
    fake_dns["hooks.example.com"] = ["93.184.216.34"]
    subscription = subscribe("https://hooks.example.com/in", by=other_admin)
    from cxm.webhooks import services

    services.subscription_delete(subscription=subscription, by=other_admin)
    assert (
        admin_client.post(reverse("webhooks:subscription-test", args=[subscription.pk])).status_code
        == 404
    )

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.urls import reverse

from cxm.celery import app
from cxm.jobs import Job
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_healthz_names_the_broker_when_it_is_down(client, monkeypatch):
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:9/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("failed")


def test_every_job_has_a_registered_task():
    app.loader.import_default_modules()
    assert {job.value for job in Job} <= set(app.tasks)


def test_task_routes_send_each_app_to_its_queue():
    router = app.amqp.router
    assert router.route({}, "inbox.inbound.process")["queue"].name == "inbound"
    assert router.route({}, "metrics.rollup")["queue"].name == "metrics"
    assert router.route({}, Job.CUSTOMER_IMPORT_RUN.value)["queue"].name == "default"


def test_beat_schedule_names_registered_tasks():
    app.loader.import_default_modules()
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks


def test_production_settings_pass_check_deploy():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "CXM_ENV": "production",
        "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-0123456789",
        "ALLOWED_HOSTS": "cxm.example.com",
        "PUBLIC_BASE_URL": "https://cxm.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["CXM_ENV"] = "production"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_openapi_schema_and_docs_page(client, agent):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/customers/" in text and "/api/v1/customers/bulk/" in text
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 200
    assert "cdn" not in docs.content.decode().lower()


def test_navigation_depends_on_role(client, agent, admin_user):
    client.force_login(agent)
    page = client.get(reverse("accounts:profile")).content.decode()
    assert ">Inbox<" in page and ">Customers<" in page and ">Journeys<" in page
    assert "/accounts/users/" not in page
    assert ">Surveys<" in page  # agents read surveys and their answers
    assert ">Dashboards<" in page  # their own figures
    client.force_login(admin_user)
    assert "/accounts/users/" in client.get(reverse("accounts:profile")).content.decode()


def test_demo_data_loads_and_is_idempotent():
    from django.core.management import call_command

    from cxm.accounts.models import User
    from journeys.models import Customer, Interaction, Journey

    call_command("demo_data", customers=30, stdout=open(os.devnull, "w"))  # noqa: SIM115
    counts = (User.objects.count(), Customer.objects.count(), Interaction.objects.count())
    call_command("demo_data", customers=30, stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert counts == (User.objects.count(), Customer.objects.count(), Interaction.objects.count())
    assert counts[0] == 4 and counts[1] == 30 and counts[2] > 30
    assert Journey.objects.get().stages.count() == 4
    from inbox.models import ChannelAccount, Conversation, InboundEvent

    assert ChannelAccount.objects.count() == 5
    # The inbox demo's seven open conversations, and the metrics demo's history.
    assert (
        InboundEvent.objects.filter(provider="demo", provider_id__regex=r"^demo-[0-9]+$").count()
        == 7
    )
    assert Conversation.objects.count() > 7
    from surveys.models import Response, Survey

    assert Survey.objects.filter(status="active").count() == 4
    assert Response.objects.filter(completed_at__isnull=False).exists()
    admin = User.objects.get(email="admin@demo.cxm.test")
    assert admin.check_password("demo-admin-2026") and admin.has_perm("accounts.manage_users")


def test_log_lines_carry_the_ids_given_in_extra():
    import logging

    from cxm.logformat import KeyValueFormatter

    record = logging.LogRecord(
        "inbox", logging.INFO, __file__, 1, "inbox.message.received", None, None
    )
    record.message_id = 7
    record.conversation_id = 3
    line = KeyValueFormatter("%(name)s %(message)s").format(record)
    assert line == "inbox inbox.message.received conversation_id=3 message_id=7"


def test_any_anymail_setting_comes_from_the_environment():
    env = {**os.environ, "ANYMAIL_SENDGRID_API_KEY": "sg-key", "ANYMAIL_WEBHOOK_SECRET": "a:b"}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.ANYMAIL['SENDGRID_API_KEY'], settings.ANYMAIL['WEBHOOK_SECRET'])",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip().endswith("sg-key a:b"), result.stderr

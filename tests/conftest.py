"""Shared fixtures. The suite runs under tests/harness.py, which provides PostgreSQL and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from cxm import jobs
from cxm.accounts import services as account_services
from cxm.accounts.models import Role, User

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "var" / "screenshots"


# ------------------------------------------------------------------------------------------------
# Jobs: captured in unit tests, sent to the real worker in tests marked `worker`.
# ------------------------------------------------------------------------------------------------
@dataclass
class CapturedJobs:
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _kwargs in self.sent]

    def commit(self) -> None:
        """Run the on-commit callbacks the test's transaction is holding back, as a commit would."""
        # After a real commit no transaction is open, so work a callback asks for "on commit"
        # happens at once; here it lands in the list again, so run until the list is empty.
        while connection.run_on_commit:
            callbacks = list(connection.run_on_commit)
            connection.run_on_commit.clear()
            for _savepoints, func, _robust in callbacks:
                func()

    def run_all(self) -> None:
        """Commit, then run every captured job in this process as the worker would (a job may
        queue more)."""
        from cxm.celery import app

        app.loader.import_default_modules()
        self.commit()
        while self.sent:
            name, kwargs = self.sent.pop(0)
            app.tasks[name].run(**kwargs)
            self.commit()


@pytest.fixture(autouse=True)
def captured_jobs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> CapturedJobs:
    captured = CapturedJobs()
    if request.node.get_closest_marker("worker") is None:
        monkeypatch.setattr(
            jobs.app,
            "send_task",
            lambda name, kwargs=None, **_options: captured.sent.append((name, kwargs or {})),
        )
    return captured


# ------------------------------------------------------------------------------------------------
# A real Celery worker on the test database (for tests marked `worker`).
# ------------------------------------------------------------------------------------------------
def subprocess_database_url() -> str:
    """The URL of the test database, for subprocesses (worker, management commands)."""
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


PROVIDER_TOKENS = {"twilio": "twilio-test-token", "webhook": "hooks:s3cret-value"}


@pytest.fixture(scope="session")
def provider_stubs() -> Iterator[dict[str, Any]]:
    """Stub Postmark and Twilio servers for the whole session: the real worker sends to them."""
    from tests import stubs

    started = {
        "postmark": stubs.StubServer(stubs.postmark_ok).start(),
        "twilio": stubs.StubServer(stubs.twilio_ok).start(),
    }
    yield started
    for stub in started.values():
        stub.stop()


def provider_env(stubs: dict[str, Any]) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": "ACtest",
        "TWILIO_AUTH_TOKEN": PROVIDER_TOKENS["twilio"],
        "TWILIO_API_BASE_URL": stubs["twilio"].url,
        "INBOX_EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
        "POSTMARK_SERVER_TOKEN": "pm-token",
        "POSTMARK_API_URL": stubs["postmark"].url + "/",
        "ANYMAIL_WEBHOOK_SECRET": PROVIDER_TOKENS["webhook"],
        # Outgoing webhooks may reach the test receivers on 127.0.0.1 (tests/webhooks).
        "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
    }


@pytest.fixture
def live_providers(
    settings: Any, provider_stubs: dict[str, Any], live_server: Any
) -> dict[str, Any]:
    """The web process set up like the worker: real anymail and twilio clients to the stubs."""
    from inbox.channels import twilio as twilio_channel

    env = provider_env(provider_stubs)
    settings.TWILIO_ACCOUNT_SID = env["TWILIO_ACCOUNT_SID"]
    settings.TWILIO_AUTH_TOKEN = env["TWILIO_AUTH_TOKEN"]
    settings.TWILIO_API_BASE_URL = env["TWILIO_API_BASE_URL"]
    settings.INBOX_EMAIL_BACKEND = env["INBOX_EMAIL_BACKEND"]
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "pm-token",
        "POSTMARK_API_URL": env["POSTMARK_API_URL"],
        "WEBHOOK_SECRET": env["ANYMAIL_WEBHOOK_SECRET"],
    }
    settings.PUBLIC_BASE_URL = live_server.url
    twilio_channel._client.cache_clear()
    for stub in provider_stubs.values():
        stub.requests.clear()
    return provider_stubs


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: Any, django_db_blocker: Any, provider_stubs: dict[str, Any]
) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": subprocess_database_url(), **provider_env(provider_stubs)}
    log = open(Path(settings.VAR_DIR) / "celery-worker.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cxm",
            "worker",
            "-Q",
            "inbound,outbound,metrics,default",
            "--pool=prefork",
            "--concurrency=1",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "INFO",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    from cxm.celery import app

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=0.5)
        if replies:
            break
        if proc.poll() is not None:
            raise RuntimeError("celery worker exited; see var/celery-worker.log")
    else:
        proc.kill()
        raise RuntimeError("celery worker did not answer a ping in 30 s")
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


# ------------------------------------------------------------------------------------------------
# People
# ------------------------------------------------------------------------------------------------
PASSWORD = "correct-horse-battery-9"


def make_user(role: Role | None, email: str | None = None, **extra: Any) -> User:
    email = email or f"{role.value if role else 'norole'}-{User.objects.count() + 1}@example.com"
    return account_services.user_create(
        email=email,
        name=extra.pop("name", email.split("@")[0].title()),
        roles=[role.value] if role else [],
        password=PASSWORD,
        **extra,
    )


@pytest.fixture
def agent(db: Any) -> User:
    return make_user(Role.AGENT, "agent@example.com", name="Alex Agent")


@pytest.fixture
def cx_lead(db: Any) -> User:
    return make_user(Role.CX_LEAD, "lead@example.com", name="Lena Lead")


@pytest.fixture
def admin_user(db: Any) -> User:
    return make_user(Role.ADMIN, "admin@example.com", name="Ada Admin")


@pytest.fixture
def api_client() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


# ------------------------------------------------------------------------------------------------
# Browser (Playwright with Debian's Chromium)
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}, "locale": "en-GB"}


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, live_server: Any, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


@pytest.fixture
def no_csp_violations(page: Any) -> Iterator[list[str]]:
    """Collects console errors (CSP violations show up there) and fails the test on any."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}") if r.status >= 400 and r.status != 401 else None
        ),
    )
    yield errors
    assert not errors, errors


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Browser tests last: the fast feedback comes first.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(autouse=True)
def _ratelimit_cache_clear() -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield


def db_vendor() -> str:
    return connection.vendor


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def assert_accessible(page: Any, *, context: str = "document") -> None:
    """Run axe-core (from npm) in the page; fail on serious or critical WCAG violations."""
    # Evaluated through the DevTools protocol: our CSP (rightly) refuses an injected <script>.
    page.evaluate(AXE.read_text() + "\n;0")
    result = page.evaluate(
        "async (ctx) => await axe.run(ctx === 'document' ? document : ctx, "
        "{runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}})",
        context,
    )
    assert result["passes"], "axe ran no checks"
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, "\n".join(bad)

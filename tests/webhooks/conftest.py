"""Receivers on 127.0.0.1 for the outgoing webhooks, and a subscription factory."""

from __future__ import annotations

import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cxm.webhooks import services, transport
from cxm.webhooks.models import WebhookSubscription

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verifier() -> Callable[..., bool]:
    """``verify_cxm_signature`` exactly as docs/webhooks.md prints it."""
    text = DOC.read_text()
    block = re.search(
        r"<!-- verify-example[^>]*-->\s*```python\n(.*?)```\s*<!-- /verify-example -->",
        text,
        re.DOTALL,
    )
    assert block, "docs/webhooks.md lost its verification example"
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), str(DOC), "exec"), namespace)  # noqa: S102 - our own doc
    return namespace["verify_cxm_signature"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A threaded HTTP server that records every request and answers with ``answer``:
    ``(status, body)`` or ``(status, body, headers)``; ``delay`` seconds before answering."""

    answer: Any = (200, b"ok")
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.requests.append(
                    Received(self.path, dict(self.headers), self.rfile.read(length))
                )
                if receiver.delay:
                    time.sleep(receiver.delay)
                answer = receiver.answer(self) if callable(receiver.answer) else receiver.answer
                status, body, *rest = answer
                headers = rest[0] if rest else {}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/cxm"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


class RawServer(socketserver.ThreadingTCPServer):
    """Answers every connection with fixed bytes, whatever was asked (not HTTP at all)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, reply: bytes) -> None:
        self.reply = reply

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(2)
                try:
                    self.request.recv(65536)
                    self.request.sendall(reply)
                finally:
                    self.request.close()

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


@pytest.fixture
def private_targets(settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host name → addresses, in place of the resolver; change it to play DNS rebinding."""
    table: dict[str, list[str]] = {}

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(table[host])

    monkeypatch.setattr(transport, "resolve", resolve)
    return table


def subscribe(
    url: str,
    events: list[str] | None = None,
    *,
    by: Any = None,
    format: str = "json",
    name: str = "CRM sync",
) -> WebhookSubscription:
    return services.subscription_create(
        name=name,
        url=url,
        events=events or ["customer.updated"],
        format=format,
        by=by,
    )


# The inbox's and the surveys' own fixtures, for publishing from their real actions.
from tests.inbox.conftest import accounts, care_team, twilio_stub  # noqa: E402, F401
from tests.surveys.conftest import customer, nps_survey  # noqa: E402, F401

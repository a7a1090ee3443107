"""Stub provider servers on 127.0.0.1: the real anymail and twilio clients talk to these."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class StubServer:
    """Answers every request with ``respond(recorded) -> (status, body)``; keeps what it got."""

    respond: Any
    requests: list[Recorded] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> StubServer:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(
                    self.command, self.path, dict(self.headers), self.rfile.read(length)
                )
                stub.requests.append(recorded)
                answer = stub.respond(recorded)
                status, body = answer[0], answer[1]
                content_type = answer[2] if len(answer) > 2 else "application/json"
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_GET = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def postmark_ok(recorded: Recorded) -> tuple[int, Any]:
    to = recorded.json().get("To", "")
    return 200, {
        "To": to,
        "SubmittedAt": "2026-11-24T10:00:00Z",
        "MessageID": str(uuid.uuid4()),
        "ErrorCode": 0,
        "Message": "OK",
    }


def mailgun_ok(recorded: Recorded) -> tuple[int, Any]:
    return 200, {"id": f"<{uuid.uuid4().hex}@mg.example.com>", "message": "Queued. Thank you."}


def twilio_ok(recorded: Recorded) -> tuple[int, Any]:
    form = recorded.form()
    sid = "SM" + uuid.uuid4().hex
    return 201, {
        "sid": sid,
        "status": "queued",
        "to": form.get("To"),
        "from": form.get("From"),
        "body": form.get("Body"),
        "account_sid": "ACtest",
        "num_media": "0",
        "num_segments": "1",
    }

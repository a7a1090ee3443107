"""Where webhooks may go: checked when a subscription is saved and again before every send."""

from __future__ import annotations

import pytest

from cxm.errors import ApplicationError
from cxm.webhooks import services, transport
from cxm.webhooks.models import WebhookAttempt, WebhookDelivery
from tests.webhooks.conftest import subscribe

pytestmark = pytest.mark.django_db

PUBLIC_IP = "93.184.216.34"


def _refusal(url: str) -> str:
    with pytest.raises(ApplicationError) as caught:
        subscribe(url)
    assert caught.value.field == "url"
    return caught.value.message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://hooks.example.com/in", "Only https://"),
        ("javascript:alert(1)", "Only https://"),
        ("file:///etc/passwd", "Only https://"),
        ("hooks.example.com/in", "Only https://"),
        ("https:///path-only", "no host name"),
        ("https://user:secret@hooks.example.com/in", "Leave user names and passwords out"),
        ("https://hooks.example.com:99999/in", "port"),
        ("https://hooks.example.com:0/in", "port"),
        ("https://hooks.example.com/a b", "spaces or control characters"),
        ("http://hooks.example.com/in", "Use an https:// URL"),
        ("", "Enter the URL"),
        ("https://" + "a" * 2000 + ".example.com/", "too long"),
    ],
)
def test_bad_urls_are_refused_with_a_clear_message(fake_dns, url, says):
    fake_dns["hooks.example.com"] = [PUBLIC_IP]
    assert says in _refusal(url)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "169.254.10.10",
        "0.0.0.0",  # noqa: S104 - refused, not bound
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    ],
)
def test_names_resolving_to_internal_addresses_are_refused_at_save(fake_dns, address):
    fake_dns["hooks.example.com"] = [address]
    message = _refusal("https://hooks.example.com/in")
    assert f"resolves to {address}" in message


def test_every_resolved_address_is_checked(fake_dns):
    fake_dns["hooks.example.com"] = [PUBLIC_IP, "10.1.2.3"]
    assert "10.1.2.3" in _refusal("https://hooks.example.com/in")


def test_ip_literals_and_unknown_names(fake_dns):
    assert "127.0.0.1 is a private or loopback address" in _refusal("https://127.0.0.1/in")
    assert "cloud metadata" in _refusal("https://[fd00:ec2::254]/latest/")
    assert "does not resolve" in _refusal("https://nowhere.invalid/in")


def test_public_https_urls_are_accepted(fake_dns):
    fake_dns["hooks.example.com"] = [PUBLIC_IP, "2606:2800:220:1:248:1893:25c8:1946"]
    subscription = subscribe("https://hooks.example.com/in?token=abc")
    assert subscription.url == "https://hooks.example.com/in?token=abc"
    assert subscribe(f"https://{PUBLIC_IP}:8443/in").pk


def test_private_targets_setting_allows_loopback_and_private_but_never_metadata(fake_dns, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    fake_dns["crm.internal"] = ["10.20.30.40"]
    assert subscribe("http://crm.internal:8080/hooks").pk
    assert subscribe("https://127.0.0.1:9000/hooks").pk
    assert subscribe("http://[::1]:9000/hooks").pk
    for refused in ("169.254.169.254", "fd00:ec2::254", "169.254.1.1", "0.0.0.0", "224.0.0.1"):  # noqa: S104
        fake_dns["bad.internal"] = [refused]
        assert "may not go there" in _refusal("https://bad.internal/")
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    assert "Use an https:// URL" in _refusal("http://crm.internal:8080/hooks")


def test_the_http_dev_flag_allows_http_but_not_private_addresses(fake_dns, settings):
    settings.WEBHOOKS_ALLOW_HTTP = True
    fake_dns["bin.example.com"] = [PUBLIC_IP]
    assert subscribe("http://bin.example.com/r/abc").pk
    assert "private or loopback" in _refusal("http://127.0.0.1:8000/")


def test_dns_rebinding_is_refused_at_send_time(fake_dns, receiver, captured_jobs):
    """Public when saved, 127.0.0.1 when sent: refused, recorded, and no connection made."""
    fake_dns["hooks.example.com"] = [PUBLIC_IP]
    url = f"http://hooks.example.com:{receiver.port}/hooks/cxm"
    # http:// needs a flag; the name itself is public at save time.
    from django.conf import settings

    settings.WEBHOOKS_ALLOW_HTTP = True
    try:
        subscribe(url)
        fake_dns["hooks.example.com"] = ["127.0.0.1"]
        services.event_publish("customer.updated", {"customer_id": 1, "changed": ["name"]})
        captured_jobs.run_all()
    finally:
        settings.WEBHOOKS_ALLOW_HTTP = False
    attempt = WebhookAttempt.objects.get()
    assert "resolves to 127.0.0.1" in attempt.error and attempt.status_code is None
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"  # refused destinations are not retried
    assert receiver.requests == []  # the receiver on 127.0.0.1 was never reached


def test_the_send_connects_to_the_checked_address_not_a_second_lookup(
    fake_dns, receiver, captured_jobs, settings, monkeypatch
):
    """The name is resolved once per attempt and the connection goes to that checked address,
    with the name in the Host header: "crm.internal" exists only in the fake resolver, so a
    second, real lookup (http.client connecting by name) would fail."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    fake_dns["crm.internal"] = ["127.0.0.1"]
    subscribe(f"http://crm.internal:{receiver.port}/hooks/cxm")
    lookups = []
    real = transport.resolve

    def counting(host, port):
        lookups.append(host)
        return real(host, port)

    monkeypatch.setattr(transport, "resolve", counting)
    services.event_publish("customer.updated", {"customer_id": 1, "changed": ["name"]})
    captured_jobs.run_all()
    assert lookups == ["crm.internal"]
    (request,) = receiver.requests
    assert request.headers["Host"] == f"crm.internal:{receiver.port}"
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_address_rules():
    assert transport.address_refusal(PUBLIC_IP) is None
    assert transport.address_refusal("2606:2800:220:1:248:1893:25c8:1946") is None
    assert transport.address_refusal("::ffff:93.184.216.34") is None
    assert transport.address_refusal("fe80::1%eth0")
    assert transport.address_refusal("not-an-ip")


def test_https_to_the_checked_address_keeps_the_name_for_sni_and_the_certificate(
    tmp_path, fake_dns, settings, monkeypatch, captured_jobs
):
    import ssl
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=hooks.test",
         "-addext", "subjectAltName=DNS:hooks.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    seen = {"sni": [], "host": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen["host"].append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server_tls.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    client_tls = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(transport, "_tls", lambda: client_tls)
    fake_dns["hooks.test"] = ["127.0.0.1"]
    fake_dns["wrong.test"] = ["127.0.0.1"]
    try:
        good = subscribe(f"https://hooks.test:{port}/in", name="Good")
        services.event_publish("customer.updated", {"customer_id": 1, "changed": ["name"]})
        captured_jobs.run_all()
        assert WebhookDelivery.objects.get(subscription=good).status == "succeeded"
        assert seen["sni"] == ["hooks.test"] and seen["host"] == [f"hooks.test:{port}"]
        services.subscription_delete(subscription=good, by=None)
        wrong = subscribe(f"https://wrong.test:{port}/in", name="Wrong")
        services.event_publish("customer.updated", {"customer_id": 2, "changed": ["name"]})
        captured_jobs.run_all()
    finally:
        server.shutdown()
        server.server_close()
    attempt = WebhookAttempt.objects.get(delivery__subscription=wrong)
    assert attempt.error.startswith("TLS:") and "wrong.test" in attempt.error

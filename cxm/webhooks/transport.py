"""Where a webhook may go, and the one HTTP request that takes it there.

A destination is checked twice: when a subscription is saved (``destination_check``) and again
right before every send (``post``). The send resolves the host name once, checks *every* address
it got, and then connects to one of those checked addresses itself (the ``Host`` header and TLS
SNI/certificate check still use the name), so a DNS answer that changes between the check and
the connection (DNS rebinding) cannot lead it anywhere else. Redirects are never followed.

Refused always: unspecified, multicast, link-local, reserved and cloud-metadata addresses.
Refused unless ``WEBHOOKS_ALLOW_PRIVATE_TARGETS``: loopback, private (RFC 1918, ULA), shared
(CGNAT) and any other address that is not globally routable. ``http://`` needs that setting or
``WEBHOOKS_ALLOW_HTTP``.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

CONNECT_TIMEOUT = 5.0  # seconds to resolve, connect and finish the TLS handshake
TOTAL_TIMEOUT = 10.0  # seconds for the whole request, answer included
MAX_READ = 64 * 1024  # bytes of an answer read at most; the rest is dropped with the connection
EXCERPT_CHARS = 1000  # characters of the answer kept on the attempt
MAX_URL_LENGTH = 2000

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services: AWS/GCP/Azure/OpenStack (169.254.169.254), AWS ECS task metadata,
# AWS IMDS over IPv6, Alibaba Cloud. Refused even with private targets allowed.
METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("169.254.170.2"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(Exception):
    """The URL may not be called; ``str()`` says why, for the person who entered it."""


class DestinationUnresolved(Exception):
    """The host name did not resolve (maybe for now): a temporary failure at send time."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    path: str  # path and query, as sent in the request line


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to. ``permanent`` errors are not retried."""

    status_code: int | None = None
    excerpt: str = ""
    error: str = ""
    duration_ms: int = 0
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300 and not self.error


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (tests replace this to play DNS rebinding)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _private_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_TARGETS", False))


def target_parse(url: str) -> Target:
    """Parse and judge the URL itself (not yet where its host name points)."""
    url = url.strip()
    if not url:
        raise DestinationRefused(_("Enter the URL to send the events to."))
    if len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(_("The URL is too long (at most 2,000 characters)."))
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise DestinationRefused(_("The URL contains spaces or control characters."))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise DestinationRefused(
            _("Only https:// URLs can receive webhooks (this one starts with “%(scheme)s:”).")
            % {"scheme": scheme or url.split(":", 1)[0][:20]}
        )
    if scheme == "http" and not (_private_allowed() or settings.WEBHOOKS_ALLOW_HTTP):
        raise DestinationRefused(
            _("Use an https:// URL: webhooks carry customer data and a signature.")
        )
    if "@" in parts.netloc:
        raise DestinationRefused(
            _(
                "Leave user names and passwords out of the URL: receivers check the "
                "X-Cxm-Signature header instead."
            )
        )
    host = parts.hostname or ""
    if not host:
        raise DestinationRefused(_("The URL has no host name."))
    try:
        port = parts.port if parts.port is not None else (443 if scheme == "https" else 80)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise DestinationRefused(_("The port must be a number from 1 to 65535."))
    if not _ip_literal(host):
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise DestinationRefused(_("The host name is not valid.")) from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, path=path)


def _ip_literal(host: str) -> IP | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def address_refusal(address: str) -> str | None:
    """Why this address may not be called, or None when it may."""
    ip = _ip_literal(address)
    if ip is None:
        return _("not an IP address")
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address wrapped in IPv6 is judged as the IPv4 address it reaches.
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in METADATA:
        return _("a cloud metadata address")
    if ip.is_unspecified or ip.is_multicast or ip.is_link_local:
        return _("a reserved, multicast or link-local address")
    private = ip.is_loopback  # before is_reserved: ::1 lies in IPv6's reserved ::/8
    if not private and ip.is_reserved:
        return _("a reserved, multicast or link-local address")
    if private or ip.is_private or not ip.is_global:
        if _private_allowed():
            return None
        return _("a private or loopback address")
    return None


def addresses_check(target: Target) -> list[str]:
    """Resolve the host and check every address; the addresses that may be connected to."""
    literal = _ip_literal(target.host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise DestinationUnresolved(
                _("The host name %(host)s does not resolve.") % {"host": target.host}
            ) from exc
        if not addresses:
            raise DestinationUnresolved(
                _("The host name %(host)s does not resolve.") % {"host": target.host}
            )
    for address in addresses:
        reason = address_refusal(address)
        if reason:
            raise DestinationRefused(
                _("%(host)s resolves to %(address)s, %(reason)s; webhooks may not go there.")
                % {"host": target.host, "address": address, "reason": reason}
                if literal is None
                else _("%(address)s is %(reason)s; webhooks may not go there.")
                % {"address": address, "reason": reason}
            )
    return addresses


def destination_check(url: str) -> Target:
    """The check when a subscription is saved: the URL and where it points now. Raises
    ``DestinationRefused`` with a message for the form (an unresolvable name is refused too)."""
    target = target_parse(url)
    try:
        addresses_check(target)
    except DestinationUnresolved as exc:
        raise DestinationRefused(str(exc)) from exc
    return target


def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST ``body`` to ``url`` once. Never raises: every failure is an ``Outcome`` with an
    error (refused destinations are ``permanent``)."""
    started = time.monotonic()
    deadline = started + TOTAL_TIMEOUT

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = target_parse(url)
        addresses = addresses_check(target)
    except DestinationRefused as exc:
        return Outcome(error=str(exc)[:500], duration_ms=took(), permanent=True)
    except DestinationUnresolved as exc:
        return Outcome(error=str(exc)[:500], duration_ms=took())
    try:
        return _exchange(target, addresses, body, headers, deadline, took)
    except Exception as exc:  # a receiver must never crash the task; the attempt says what failed
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:500], duration_ms=took())


def _connect(target: Target, addresses: list[str], deadline: float) -> socket.socket:
    """A connection to the first checked address that answers (TLS wrapped for https)."""
    last: OSError | None = None
    for address in addresses:
        timeout = min(CONNECT_TIMEOUT, deadline - time.monotonic())
        if timeout <= 0:
            break
        try:
            sock = socket.create_connection((address, target.port), timeout=timeout)
        except OSError as exc:
            last = exc
            continue
        if target.scheme == "https":
            try:
                sock = _tls().wrap_socket(sock, server_hostname=target.host)
            except BaseException:
                sock.close()
                raise
        return sock
    if last is not None:
        raise last
    raise TimeoutError(_("No connection within %(s)d s.") % {"s": CONNECT_TIMEOUT})


def _exchange(
    target: Target,
    addresses: list[str],
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    took: Callable[[], int],
) -> Outcome:
    try:
        sock = _connect(target, addresses, deadline)
    except TimeoutError:
        return Outcome(
            error=_("No connection within %(s)d s.") % {"s": CONNECT_TIMEOUT}, duration_ms=took()
        )
    except ssl.SSLError as exc:
        return Outcome(error=f"TLS: {exc}"[:500], duration_ms=took())
    except OSError as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:500], duration_ms=took())
    # http.client connects only when it has no socket: it gets ours, to the checked address,
    # and still writes the Host header from the name.
    conn = (
        http.client.HTTPSConnection(target.host, target.port, context=_tls())
        if target.scheme == "https"
        else http.client.HTTPConnection(target.host, target.port)
    )
    conn.sock = sock
    expired = threading.Event()

    def cut() -> None:
        # The whole exchange has a deadline, not each read: a receiver that trickles bytes is
        # cut off when it passes.
        expired.set()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        status = response.status
        location = response.getheader("Location") or ""
        # The status line decides; a body that breaks off or runs past the deadline only
        # shortens the excerpt (the receiver has answered).
        chunks: list[bytes] = []
        with contextlib.suppress(OSError, http.client.HTTPException):
            while (got := sum(map(len, chunks))) < MAX_READ:
                chunk = response.read1(MAX_READ - got)
                if not chunk:
                    break
                chunks.append(chunk)
        raw = b"".join(chunks)
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError):
            return Outcome(error=_timeout_message(), duration_ms=took())
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:500], duration_ms=took())
    finally:
        watchdog.cancel()
        conn.close()
    excerpt = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")[:EXCERPT_CHARS]
    error = ""
    if 300 <= status < 400:
        error = _("Redirect to %(location)s not followed: give the final URL.") % {
            "location": location[:300] or "?"
        }
    elif not 200 <= status < 300:
        error = _("The receiver answered %(status)d.") % {"status": status}
    return Outcome(status_code=status, excerpt=excerpt, error=error[:500], duration_ms=took())


@cache
def _tls() -> ssl.SSLContext:
    # Loading the system's CA certificates takes milliseconds: once per process.
    return ssl.create_default_context()


def _timeout_message() -> str:
    return _("No complete answer within %(s)d s.") % {"s": TOTAL_TIMEOUT}

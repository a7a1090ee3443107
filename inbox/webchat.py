"""Web chat: the public API the embeddable widget (static/webchat/widget.js) talks to.

A site is a ``ChannelAccount`` of kind ``webchat``; its ``public_key`` is in the embed snippet and
its ``address`` is the website's origin (``https://shop.example.com``), the only origin allowed to
call (CORS). A visitor gets a random token on the first call and sends it with every request; no
cookies, so no CSRF. Rate-limited per address and per token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django_ratelimit.core import is_ratelimited

from cxm.errors import ApplicationError
from inbox import services
from inbox.models import ChannelAccount, ChannelKind, Message, WebchatVisitor

MAX_TEXT = 4000


def _error(field: str, message: str, status: int = 400) -> JsonResponse:
    return JsonResponse(
        {"detail": message, "errors": [{"field": field, "code": "invalid", "message": message}]},
        status=status,
    )


def public_endpoint(
    kind: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Look up the site (a channel account of ``kind``), answer CORS for its origin only,
    rate-limit, parse the JSON body."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        return _public(view, kind)

    return decorate


def _public(view: Callable[..., HttpResponse], kind: str) -> Callable[..., HttpResponse]:
    @csrf_exempt
    @wraps(view)
    def wrapped(request: HttpRequest, site_key: str) -> HttpResponse:
        account = ChannelAccount.objects.filter(
            public_key=site_key, kind=kind, is_active=True
        ).first()
        if account is None:
            return _error("site", _("Unknown site."), status=404)  # no CORS: nobody may read it
        origin = request.headers.get("Origin", "")
        allowed = origin and origin.rstrip("/").lower() == account.address.rstrip("/").lower()
        if request.method == "OPTIONS":
            response: HttpResponse = HttpResponse(status=204 if allowed else 403)
        elif is_ratelimited(
            request,
            group=f"webchat-ip-{request.method}",
            key="ip",
            # The widget polls every 3 s; many visitors can share an office's address.
            rate="1200/m" if request.method == "GET" else "120/m",
            increment=True,
        ):
            response = _error("", _("Too many requests. Wait a minute."), status=429)
        else:
            body: dict[str, Any] = {}
            if request.method == "POST":
                try:
                    body = json.loads(request.body or b"{}")
                except (ValueError, UnicodeDecodeError):
                    return _cors(
                        _error("body", _("The body is not valid JSON.")), origin if allowed else ""
                    )
                if not isinstance(body, dict):
                    return _cors(
                        _error("body", _("Expected a JSON object.")), origin if allowed else ""
                    )
            # The widget sends the language of the page it sits on; answer in it.
            lang = body.get("lang") if isinstance(body.get("lang"), str) else ""
            with translation.override(
                lang if lang in dict(settings.LANGUAGES) else translation.get_language()
            ):
                response = view(request, account, body)
        return _cors(response, origin if allowed else "")

    return wrapped


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "600"
        response["Vary"] = "Origin"
    return response


def _visitor(account: ChannelAccount, token: Any) -> WebchatVisitor | None:
    if not isinstance(token, str) or not token:
        return None
    visitor = (
        WebchatVisitor.objects.filter(account=account, token=token)
        .select_related("conversation")
        .first()
    )
    if visitor is not None:
        WebchatVisitor.objects.filter(pk=visitor.pk).update(last_seen_at=timezone.now())
    return visitor


def _messages_json(visitor: WebchatVisitor, after: int) -> list[dict[str, Any]]:
    if visitor.conversation_id is None:
        return []
    rows = (
        Message.objects.filter(conversation_id=visitor.conversation_id, id__gt=after)
        .exclude(direction=Message.Direction.NOTE)
        .select_related("author")
        .order_by("id")[:200]
    )
    return [
        {
            "id": m.pk,
            "from": "visitor" if m.direction == Message.Direction.INBOUND else "agent",
            "author": (m.author.get_short_name() if m.author else "")
            if m.direction == Message.Direction.OUTBOUND
            else "",
            "text": m.text,
            "at": m.created_at.isoformat(),
        }
        for m in rows
    ]


@public_endpoint(ChannelKind.WEBCHAT)
def session(request: HttpRequest, account: ChannelAccount, body: dict[str, Any]) -> HttpResponse:
    """POST: start (or resume, with a known token) a visitor session."""
    if request.method != "POST":
        return _error("", _("Use POST."), status=405)
    visitor = _visitor(account, body.get("token")) or WebchatVisitor.objects.create(account=account)
    return JsonResponse({"token": visitor.token, "greeting": _("Hi! How can we help?")})


@public_endpoint(ChannelKind.WEBCHAT)
def messages(request: HttpRequest, account: ChannelAccount, body: dict[str, Any]) -> HttpResponse:
    """GET ?token=…&after=<id>: new messages. POST {token, text}: the visitor writes."""
    token = request.GET.get("token") if request.method == "GET" else body.get("token")
    visitor = _visitor(account, token)
    if visitor is None:
        return _error("token", _("Unknown visitor; start a session first."), status=403)
    if is_ratelimited(
        request,
        group="webchat-token",
        key=lambda _g, _r: visitor.token,
        rate="30/m",
        increment=request.method == "POST",
    ):
        return _error("", _("Too many messages. Wait a minute."), status=429)
    if request.method == "GET":
        after = request.GET.get("after", "0")
        return JsonResponse(
            {"messages": _messages_json(visitor, int(after) if after.isdigit() else 0)}
        )
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return _error("text", _("Write a message first."))
    if len(text) > MAX_TEXT:
        return _error("text", _("Keep it under %(limit)d characters.") % {"limit": MAX_TEXT})
    message = services.webchat_message_receive(
        visitor=visitor, text=text.strip(), page=str(body.get("page", ""))[:500]
    )
    return JsonResponse({"id": message.pk}, status=201)


@public_endpoint(ChannelKind.WEBCHAT)
def contact(request: HttpRequest, account: ChannelAccount, body: dict[str, Any]) -> HttpResponse:
    """POST {token, email, name}: the visitor leaves an address for the reply."""
    visitor = _visitor(account, body.get("token"))
    if visitor is None:
        return _error("token", _("Unknown visitor; start a session first."), status=403)
    try:
        services.webchat_visitor_identify(
            visitor=visitor, email=str(body.get("email", "")), name=str(body.get("name", ""))[:200]
        )
    except ApplicationError as exc:
        return _error(exc.field or "email", exc.message)
    return JsonResponse(
        {"ok": True, "message": _("Thanks! If you leave, we will answer by email.")}
    )


def demo(request: HttpRequest, site_key: str) -> HttpResponse:
    """A page with the widget on it, to try the chat before embedding it."""
    account = ChannelAccount.objects.filter(
        public_key=site_key, kind=ChannelKind.WEBCHAT, is_active=True
    ).first()
    if account is None or not request.user.is_authenticated:
        return HttpResponse(status=404)
    return render(request, "inbox/webchat_demo.html", {"account": account})

"""Web form: a contact page on cxm (``/contact/<site key>/``) and the same form embeddable on
a website (``static/webchat/form.js``, posting JSON to ``/contact/<site key>/submit/`` from the
site's origin). Submissions go through the same once-only intake as provider webhooks."""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_ratelimit.core import is_ratelimited

from inbox import services
from inbox.channels.base import InboundMessage
from inbox.models import ChannelAccount, ChannelKind
from inbox.webchat import public_endpoint


class ContactForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Your name"), max_length=200)
    email = forms.EmailField(label=gettext_lazy("Your email address"))
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200, required=False)
    message = forms.CharField(
        label=gettext_lazy("Your message"),
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=10_000,
    )


def _receive(account: ChannelAccount, data: dict[str, Any]) -> None:
    inbound = InboundMessage(
        provider="webform",
        provider_id=secrets.token_hex(16),
        channel=ChannelKind.WEBFORM,
        from_address=data["email"].lower(),
        from_name=data["name"],
        to_address=account.address,
        subject=data.get("subject") or _("Contact form"),
        text=data["message"],
        received_at=timezone.now(),
    )
    services.inbound_event_record(
        provider="webform",
        kind="message",
        provider_id=inbound.provider_id,
        payload=inbound.as_json(),
    )


def contact_page(request: HttpRequest, site_key: str) -> HttpResponse:
    account = get_object_or_404(
        ChannelAccount, public_key=site_key, kind=ChannelKind.WEBFORM, is_active=True
    )
    form = ContactForm(request.POST or None)
    if request.method == "POST":
        if is_ratelimited(request, group="webform", key="ip", rate="10/h", increment=True):
            form.is_valid()
            form.add_error(None, _("Too many messages from your network. Try again later."))
        elif form.is_valid():
            _receive(account, form.cleaned_data)
            return render(request, "inbox/contact_thanks.html", {"account": account})
    return render(request, "inbox/contact.html", {"form": form, "account": account})


@public_endpoint(ChannelKind.WEBFORM)
def contact_submit(
    request: HttpRequest, account: ChannelAccount, body: dict[str, Any]
) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"detail": _("Use POST.")}, status=405)
    if is_ratelimited(request, group="webform", key="ip", rate="10/h", increment=True):
        message = _("Too many messages from your network. Try again later.")
        return JsonResponse(
            {
                "detail": message,
                "errors": [{"field": None, "code": "rate_limited", "message": message}],
            },
            status=429,
        )
    form = ContactForm({k: v for k, v in body.items() if isinstance(v, str)})
    if not form.is_valid():
        errors = [
            {"field": f, "code": "invalid", "message": str(m)}
            for f, ms in form.errors.items()
            for m in ms
        ]
        return JsonResponse({"detail": errors[0]["message"], "errors": errors}, status=400)
    _receive(account, form.cleaned_data)
    return JsonResponse(
        {"ok": True, "message": _("Thank you! We will answer by email.")}, status=201
    )

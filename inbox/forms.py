from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.models import ChannelAccount, ChannelKind

SIMULATED_CHANNELS = [(k, v) for k, v in ChannelKind.choices if k in ("email", "sms", "whatsapp")]


class ReplyForm(forms.Form):
    text = forms.CharField(
        label=_("Reply"), widget=forms.Textarea(attrs={"rows": 4}), max_length=10_000
    )
    channel = forms.ChoiceField(label=_("Send by"), choices=ChannelKind.choices)


class SimulateInboundForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=SIMULATED_CHANNELS)
    account = forms.ModelChoiceField(
        label=_("To"),
        queryset=ChannelAccount.objects.filter(
            is_active=True, kind__in=["email", "sms", "whatsapp"]
        ),
        empty_label=None,
    )
    from_address = forms.CharField(label=_("From (email address or phone number)"), max_length=254)
    subject = forms.CharField(label=_("Subject"), max_length=255, required=False)
    text = forms.CharField(
        label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}), max_length=10_000
    )

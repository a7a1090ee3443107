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


class ChannelAccountForm(forms.ModelForm):
    send_rate = forms.FloatField(
        label=_("Messages per second"),
        required=False,
        min_value=0.01,
        max_value=1000,
        help_text=_(
            "SMS and WhatsApp: the provider's limit for this sender (Twilio: 1 for a long code). "
            "Empty: 1."
        ),
    )

    def clean_send_rate(self) -> float:
        return self.cleaned_data.get("send_rate") or 1.0

    class Meta:
        model = ChannelAccount
        fields = (
            "kind",
            "name",
            "address",
            "provider",
            "team",
            "sla_policy",
            "send_rate",
            "is_active",
        )


class CallLogForm(forms.Form):
    direction = forms.ChoiceField(
        label=_("Call"), choices=[("in", _("Inbound")), ("out", _("Outbound"))]
    )
    duration_minutes = forms.DecimalField(
        label=_("Duration (minutes)"), min_value=0, max_value=1440, decimal_places=1
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[
            ("resolved", _("Resolved on the call")),
            ("follow_up", _("Needs follow-up")),
            ("no_answer", _("No answer")),
            ("voicemail", _("Left a voicemail")),
        ],
    )
    notes = forms.CharField(
        label=_("Notes"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=10_000,
    )

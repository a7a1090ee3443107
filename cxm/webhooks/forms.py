"""The subscription form. The rules (URL, events, format) live in ``services._clean``; the view
puts the service's errors on the form's fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from cxm.webhooks.models import Event, WebhookSubscription


class SubscriptionForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    url = forms.CharField(
        label=_("URL"),
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://tools.example.com/hooks/cxm"}),
    )
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=Event.choices, widget=forms.CheckboxSelectMultiple
    )
    format = forms.ChoiceField(
        label=_("Format"),
        choices=WebhookSubscription.Format.choices,
        initial=WebhookSubscription.Format.JSON,
        widget=forms.RadioSelect,
        help_text=_(
            "Slack: paste a Slack incoming-webhook URL. Only detractor alerts are sent to it "
            "(responses with a negative score, and follow-ups opened); other events are skipped."
        ),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["url"].help_text = (
            _(
                "Private and loopback addresses are allowed on this installation "
                "(WEBHOOKS_ALLOW_PRIVATE_TARGETS)."
            )
            if settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS
            else _("An https:// address that resolves to a public IP address.")
        )

    @classmethod
    def for_subscription(
        cls, subscription: WebhookSubscription, data: Any = None
    ) -> SubscriptionForm:
        return cls(
            data,
            initial={
                "name": subscription.name,
                "url": subscription.url,
                "events": list(subscription.events),
                "format": subscription.format,
                "is_active": subscription.is_active,
            },
        )

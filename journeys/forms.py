from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from cxm.accounts.models import Team
from journeys.models import CUSTOMER_LANGUAGES, Channel, Customer, Journey, Stage, TouchpointChannel


class CustomerForm(forms.Form):
    """Raw fields only; ``journeys.services`` judges the values (same rules as API and CSV)."""

    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    external_id = forms.CharField(label=_("External id"), max_length=100, required=False)
    email = forms.CharField(
        label=_("Email"), max_length=254, required=False, widget=forms.EmailInput
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel"}),
    )
    language = forms.ChoiceField(
        label=_("Language"), choices=[("", "—"), *CUSTOMER_LANGUAGES], required=False
    )
    preferred_channel = forms.ChoiceField(
        label=_("Preferred channel"), choices=[("", "—"), *Channel.choices], required=False
    )
    timezone = forms.CharField(
        label=_("Timezone"),
        max_length=64,
        required=False,
        help_text=_("For example Europe/Amsterdam"),
    )
    became_customer_on = forms.DateField(
        label=_("Became a customer on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    churned_on = forms.DateField(
        label=_("Churned on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    value = forms.DecimalField(
        label=_("Customer value"), max_digits=14, decimal_places=2, required=False
    )

    @classmethod
    def for_customer(cls, customer: Customer, data: Any = None) -> CustomerForm:
        initial = {name: getattr(customer, name) for name in cls.base_fields}
        initial["external_id"] = customer.external_id or ""
        return cls(data, initial=initial)

    def service_values(self) -> dict[str, Any]:
        values = dict(self.cleaned_data)
        values["external_id"] = values["external_id"] or None
        return values


class CustomerImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8, comma-separated, with a header row. Columns: external_id, name, email, phone, language, preferred_channel, timezone, became_customer_on, churned_on, value, and attributes.<name> for your own fields."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class JourneyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class StageForm(forms.Form):
    name = forms.CharField(label=_("Stage name"), max_length=120)


class TouchpointForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    key = forms.CharField(
        label=_("Key"),
        max_length=80,
        help_text=_(
            "Stable identifier other systems send with events, e.g. order.delivered. It cannot change once used."
        ),
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=TouchpointChannel.choices)
    stage = forms.ModelChoiceField(
        label=_("Stage"), queryset=Stage.objects.none(), empty_label=None
    )
    owner_team = forms.ModelChoiceField(
        label=_("Owner team"), queryset=Team.objects.all(), required=False
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, journey: Journey, **kwargs: Any):
        super().__init__(*args, **kwargs)
        stage_field = self.fields["stage"]
        assert isinstance(stage_field, forms.ModelChoiceField)
        stage_field.queryset = journey.stages.filter(archived_at__isnull=True).order_by(
            "position", "id"
        )


class IngestionSourceForm(forms.Form):
    name = forms.CharField(
        label=_("Name of the sending system"),
        max_length=100,
        help_text=_("For example “Webshop” or “Booking system”."),
    )

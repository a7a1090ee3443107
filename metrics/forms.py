"""Forms of the metrics pages. The rules live in the services (metrics/reports.py)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from metrics.models import ReportSubscription


class ReportSubscribeForm(forms.Form):
    dashboard = forms.ChoiceField(
        label=_("Dashboard"), choices=ReportSubscription.Dashboard.choices
    )
    frequency = forms.ChoiceField(
        label=_("How often"), choices=ReportSubscription.Frequency.choices
    )
    # The dashboard's filters, as its URL has them; checked by the service.
    query = forms.CharField(required=False, strip=True, widget=forms.HiddenInput)

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from cxm.accounts.models import Role, Team, User


class SignInForm(AuthenticationForm):
    username = forms.EmailField(
        label=_("Email address"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        "invalid_login": _("That email address and password do not match an active account."),
        "inactive": _("This account has been deactivated."),
    }


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"), widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("name", "language")
        labels = {"name": _("Name"), "language": _("Language")}


class UserInviteForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=150)
    email = forms.EmailField(label=_("Email address"))
    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=Role.choices, widget=forms.CheckboxSelectMultiple, required=True
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES, initial="en")


class UserEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=150)
    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=Role.choices, widget=forms.CheckboxSelectMultiple, required=True
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    members = forms.ModelMultipleChoiceField(
        label=_("Members"),
        queryset=User.objects.filter(is_active=True).order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    lead = forms.ModelChoiceField(
        label=_("Team lead"),
        queryset=User.objects.filter(is_active=True).order_by("name"),
        required=False,
        empty_label=_("Nobody"),
        help_text=_(
            "Sees the team's follow-ups and is told when one runs past its deadline. "
            "Without a lead, the CX leads are told."
        ),
    )

    def __init__(self, *args: Any, team: Team | None = None, **kwargs: Any):
        if team is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": team.name,
                "description": team.description,
                "members": list(team.members.all()),
                "lead": team.lead_id,
            }
        super().__init__(*args, **kwargs)


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"),
        max_length=100,
        help_text=_("What the token is for, e.g. “CRM sync”."),
    )

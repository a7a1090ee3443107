"""Forms of the follow-up pages: they parse input; every rule of the domain is checked in
``metrics.followup_services`` (which reports all problems of a rule at once)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from cxm.accounts.models import Team, User
from journeys.models import Touchpoint
from metrics.followup_rules import attributes_text, keywords_split
from metrics.models import FollowUpRule, Priority, RootCause
from surveys.models import Question, Survey

SCORE_OPS = [
    ("", _("—")),
    ("lte", _("at most (≤)")),
    ("gte", _("at least (≥)")),
    ("between", _("between")),
]


class _QuestionChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Question) -> str:
        text = obj.text("text", obj.survey.default_language, obj.survey.default_language)
        return f"{obj.survey.name} · {text or obj.key} ({obj.scale_min}–{obj.scale_max})"


def _unknown(thing: Any) -> dict[str, Any]:
    return {"invalid_choice": thing}


class FollowUpRuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    is_active = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    survey = forms.ModelChoiceField(
        label=_("Survey"),
        queryset=Survey.objects.exclude(status=Survey.Status.DRAFT).order_by("name"),
        required=False,
        empty_label=_("Any survey"),
        error_messages=_unknown(_("There is no such survey (any more): choose one offered.")),
    )
    question = _QuestionChoice(
        label=_("Question"),
        queryset=Question.objects.filter(type__in=Question.SCORED)
        .exclude(survey__status=Survey.Status.DRAFT)
        .select_related("survey")
        .order_by("survey__name", "position"),
        required=False,
        empty_label=_("The survey's main score"),
        help_text=_("The scored question the score applies to."),
        error_messages=_unknown(
            _("There is no such scored question (any more): choose one offered.")
        ),
    )
    score_op = forms.ChoiceField(label=_("Score"), choices=SCORE_OPS, required=False)
    score = forms.IntegerField(label=_("Score value"), required=False)
    score_to = forms.IntegerField(
        label=_("… and"), required=False, help_text=_("The upper end, for “between”.")
    )
    band = forms.ChoiceField(
        label=_("Answer"),
        choices=FollowUpRule.Band.choices,
        required=False,
        help_text=_("A shortcut that works on every survey, whatever its scale."),
    )
    touchpoint = forms.ModelChoiceField(
        label=_("Touchpoint"),
        queryset=Touchpoint.objects.filter(archived_at__isnull=True).order_by("name"),
        required=False,
        empty_label=_("Any touchpoint"),
        error_messages=_unknown(_("There is no such touchpoint (any more): choose one offered.")),
    )
    min_customer_value = forms.DecimalField(
        label=_("Customer value at least"), required=False, max_digits=14, decimal_places=2
    )
    customer_attributes = forms.CharField(
        label=_("Customer attributes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line: key = value (e.g. plan = gold). All must hold."),
    )
    keywords = forms.CharField(
        label=_("Keywords in text answers"),
        required=False,
        max_length=2000,
        help_text=_("Separated by commas; any of them, ignoring case (e.g. refund, cancel)."),
    )
    action = forms.ChoiceField(
        label=_("What to do"),
        choices=FollowUpRule.Action.choices,
        widget=forms.RadioSelect,
        initial=FollowUpRule.Action.FOLLOW_UP,
    )
    owner_kind = forms.ChoiceField(
        label=_("Owner"),
        choices=FollowUpRule.Owner.choices,
        initial=FollowUpRule.Owner.TOUCHPOINT_TEAM,
        required=False,
    )
    owner_team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label=_("Choose a team…"),
        help_text=_("When the owner is a team."),
    )
    owner_user = forms.ModelChoiceField(
        label=_("Person"),
        queryset=User.objects.filter(is_active=True).order_by("name"),
        required=False,
        empty_label=_("Choose a person…"),
        help_text=_("When the owner is a person."),
        error_messages=_unknown(_("There is no such active person: choose one offered.")),
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"), choices=Priority.choices, coerce=int, initial=Priority.HIGH
    )
    due_hours = forms.IntegerField(label=_("Deadline (hours)"), initial=24)
    review_link = forms.CharField(label=_("Review link"), required=False, max_length=500)
    review_message = forms.CharField(
        label=_("Review message"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Sent on the customer's channel. Use {link} for the link and {first_name}; empty: "
            "the standard message in the customer's language."
        ),
    )

    def __init__(self, *args: Any, rule: FollowUpRule | None = None, **kwargs: Any):
        if rule is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_for(rule)
        super().__init__(*args, **kwargs)

    def clean_customer_attributes(self) -> dict[str, str]:
        text = self.cleaned_data.get("customer_attributes") or ""
        pairs: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ValidationError(
                    _("Line %(n)d has no “=”: write each attribute as key = value.") % {"n": number}
                )
            if not key.strip() or not value.strip():
                raise ValidationError(
                    _("Line %(n)d needs both a key and a value (key = value).") % {"n": number}
                )
            pairs[key.strip()] = value.strip()
        return pairs

    def clean_keywords(self) -> list[str]:
        return keywords_split(self.cleaned_data.get("keywords") or "")

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["owner_kind"] = data.get("owner_kind") or FollowUpRule.Owner.TOUCHPOINT_TEAM
        data["due_hours"] = data.get("due_hours") or 0
        data["band"] = data.get("band") or ""
        data["score_op"] = data.get("score_op") or ""
        return data


def initial_for(rule: FollowUpRule) -> dict[str, Any]:
    op, score, score_to = "", None, None
    if rule.score_min is not None and rule.score_max is not None:
        op, score, score_to = "between", rule.score_min, rule.score_max
    elif rule.score_max is not None:
        op, score = "lte", rule.score_max
    elif rule.score_min is not None:
        op, score = "gte", rule.score_min
    return {
        "name": rule.name,
        "is_active": rule.is_active,
        "survey": rule.survey_id,
        "question": rule.question_id,
        "score_op": op,
        "score": score,
        "score_to": score_to,
        "band": rule.band,
        "touchpoint": rule.touchpoint_id,
        "min_customer_value": rule.min_customer_value,
        "customer_attributes": attributes_text(rule.customer_attributes or {}),
        "keywords": ", ".join(rule.keywords or []),
        "action": rule.action,
        "owner_kind": rule.owner_kind,
        "owner_team": rule.owner_team_id,
        "owner_user": rule.owner_user_id,
        "priority": rule.priority,
        "due_hours": rule.due_hours,
        "review_link": rule.review_link,
        "review_message": rule.review_message,
    }


class RootCauseForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    parent = forms.ModelChoiceField(
        label=_("Category"),
        queryset=RootCause.objects.filter(parent__isnull=True).order_by("name"),
        required=False,
        empty_label=_("None: this is a category"),
    )
    is_active = forms.BooleanField(label=_("In use"), required=False, initial=True)

    def __init__(self, *args: Any, cause: RootCause | None = None, **kwargs: Any):
        if cause is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": cause.name,
                "parent": cause.parent_id,
                "is_active": cause.is_active,
            }
        super().__init__(*args, **kwargs)
        if cause is not None:  # a cause cannot be its own category
            parent = self.fields["parent"]
            parent.queryset = parent.queryset.exclude(pk=cause.pk)  # type: ignore[attr-defined]


class ResolveForm(forms.Form):
    root_cause = forms.TypedChoiceField(
        label=_("Root cause"),
        coerce=int,
        choices=[],
        error_messages={
            "required": _("Choose the root cause."),
            "invalid_choice": _("Choose one of the root causes offered."),
        },
    )
    outcome = forms.CharField(
        label=_("Outcome"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What you did and what the customer said."),
    )
    recovered = forms.BooleanField(label=_("The customer is happy again"), required=False)

    def __init__(self, *args: Any, choices: list[Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["root_cause"].choices = [("", _("Choose…")), *choices]  # type: ignore[attr-defined]


class CloseNoteForm(forms.Form):
    outcome = forms.CharField(
        label=_("Note"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )


class AssignForm(forms.Form):
    owner = forms.ModelChoiceField(
        label=_("Give to"),
        queryset=User.objects.none(),
        error_messages={"required": _("Choose who gets the follow-up.")},
    )

    def __init__(self, *args: Any, people: list[User], **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["owner"]
        field.queryset = User.objects.filter(pk__in=[p.pk for p in people])  # type: ignore[attr-defined]
        field.choices = [(p.pk, p.name) for p in people]  # type: ignore[attr-defined]

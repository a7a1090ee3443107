"""Builder forms: raw fields only; ``surveys.services`` judges the values."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from journeys.models import CUSTOMER_LANGUAGES, Channel, Customer, Stage, Touchpoint
from surveys.models import SURVEY_LANGUAGES, Distribution, Question, Survey
from surveys.services.builder import SCALES

TEMPLATE_HELP: dict[str, Any] = {
    Survey.Kind.NPS: _("0–10 likelihood to recommend, with a “why?” for each group"),
    Survey.Kind.CSAT: _("1–5 satisfaction with a reason"),
    Survey.Kind.CES: _("1–7 agreement that it was easy, with what to make easier"),
    Survey.Kind.VISIT_INTENT: _("the main reason for the visit, and whether they got it"),
    Survey.Kind.BLANK: _("start with no questions"),
}


class SurveyCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(
        label=_("Template"),
        choices=[(k, f"{label} — {TEMPLATE_HELP[k]}") for k, label in Survey.Kind.choices],
        widget=forms.RadioSelect,
        initial=Survey.Kind.NPS,
    )
    default_language = forms.ChoiceField(
        label=_("Default language"), choices=SURVEY_LANGUAGES, initial="en"
    )
    languages = forms.MultipleChoiceField(
        label=_("Also offered in"),
        choices=SURVEY_LANGUAGES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class SurveySettingsForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    touchpoint = forms.ModelChoiceField(
        label=_("Touchpoint measured"),
        queryset=Touchpoint.objects.filter(archived_at__isnull=True).select_related(
            "stage__journey"
        ),
        required=False,
        help_text=_("What this survey measures, for the journey map and dashboards."),
    )
    default_language = forms.ChoiceField(label=_("Default language"), choices=SURVEY_LANGUAGES)
    languages = forms.MultipleChoiceField(
        label=_("Languages"),
        choices=SURVEY_LANGUAGES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    display = forms.ChoiceField(
        label=_("Display"), choices=Survey.Display.choices, widget=forms.RadioSelect
    )
    public_enabled = forms.BooleanField(
        label=_("Anonymous public link (anyone with the link can answer)"), required=False
    )
    one_response_per_browser = forms.BooleanField(
        label=_("One response per browser on the public link"), required=False
    )
    expires_at = forms.DateTimeField(
        label=_("Closes at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )
    accent_color = forms.CharField(
        label=_("Accent colour"),
        max_length=7,
        widget=forms.TextInput(attrs={"type": "color"}),
        help_text=_("Buttons and highlights; white text must stay readable on it."),
    )
    logo = forms.FileField(
        label=_("Logo"),
        required=False,
        help_text=_("PNG, JPEG or WebP, at most 512 KB."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    remove_logo = forms.BooleanField(label=_("Remove the logo"), required=False)
    link_positive = forms.URLField(
        label=_("Thank-you link for promoters / satisfied"),
        required=False,
        help_text=_("For example your page on a public review site."),
        assume_scheme="https",
    )
    link_neutral = forms.URLField(
        label=_("Thank-you link for passives / neutral"), required=False, assume_scheme="https"
    )
    link_negative = forms.URLField(
        label=_("Thank-you link for detractors / dissatisfied"),
        required=False,
        assume_scheme="https",
    )

    @classmethod
    def for_survey(cls, survey: Survey, data: Any = None, files: Any = None) -> SurveySettingsForm:
        initial = {
            "name": survey.name,
            "touchpoint": survey.touchpoint,
            "default_language": survey.default_language,
            "languages": survey.languages,
            "display": survey.display,
            "public_enabled": survey.public_enabled,
            "one_response_per_browser": survey.one_response_per_browser,
            "expires_at": survey.expires_at,
            "accent_color": survey.accent_color,
            **{f"link_{band}": url for band, url in survey.thank_you_links.items()},
        }
        return cls(data, files, initial=initial)

    def service_values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["thank_you_links"] = {
            band: data.pop(f"link_{band}") or "" for band in ("positive", "neutral", "negative")
        }
        return data


class SurveyTextsForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120, required=False)
    intro = forms.CharField(
        label=_("Introduction"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    thank_you = forms.CharField(
        label=_("Thank-you message"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    review_label = forms.CharField(label=_("Thank-you link text"), max_length=120, required=False)


SCALE_CHOICES = sorted(
    {(f"{lo}-{hi}", f"{lo}–{hi}") for scales in SCALES.values() for lo, hi in scales},
    key=lambda pair: (int(pair[0].split("-")[0]), int(pair[0].split("-")[1])),
)


class QuestionForm(forms.Form):
    """Structure and the texts of one language. ``condition_question`` offers earlier questions."""

    STRUCTURE = ("type", "key", "scale", "good_end", "metric")

    text = forms.CharField(label=_("Question"), max_length=500, required=False)
    help = forms.CharField(label=_("Help text"), max_length=500, required=False)
    type = forms.ChoiceField(label=_("Type"), choices=Question.Type.choices)
    key = forms.CharField(
        label=_("Key"),
        max_length=40,
        help_text=_("A short name for exports and conditions, like “reason”."),
    )
    required = forms.BooleanField(label=_("Required"), required=False)
    scale = forms.ChoiceField(
        label=_("Scale"),
        choices=SCALE_CHOICES,
        required=False,
        help_text=_("Rating: 1–5, 1–7 or 1–10. Effort: 1–5 or 1–7. NPS is always 0–10."),
    )
    low_label = forms.CharField(label=_("Label of the low end"), max_length=120, required=False)
    high_label = forms.CharField(label=_("Label of the high end"), max_length=120, required=False)
    good_end = forms.ChoiceField(
        label=_("Which end is good (effort questions)"),
        choices=Question.GoodEnd.choices,
        required=False,
    )
    metric = forms.ChoiceField(label=_("Measures"), choices=Question.Metric.choices, required=False)
    choices = forms.CharField(
        label=_("Choices, one per line"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    other_label = forms.CharField(label=_("Label of “other”"), max_length=120, required=False)
    condition_question = forms.ChoiceField(
        label=_("Show only when the answer to"), choices=[], required=False
    )
    condition_min = forms.IntegerField(label=_("is at least"), required=False)
    condition_max = forms.IntegerField(label=_("and at most"), required=False)
    condition_values = forms.CharField(
        label=_("or is one of (keys, comma-separated)"),
        max_length=500,
        required=False,
        help_text=_("For choice questions: the choice keys; for yes/no: yes or no."),
    )

    def __init__(self, *args: Any, earlier: list[Question], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["condition_question"]
        field.choices = [("", _("(always show)"))] + [
            (q.key, q.key) for q in earlier if q.is_scored or q.is_choice or q.type == "yes_no"
        ]

    @classmethod
    def for_question(
        cls, question: Question, language: str, earlier: list[Question], data: Any = None
    ) -> QuestionForm:
        texts = question.texts.get(language) or {}
        condition = question.condition or {}
        labels = [(c.get("labels") or {}).get(language, "") for c in question.choices]
        initial = {
            **texts,
            "type": question.type,
            "key": question.key,
            "required": question.required,
            "scale": f"{question.scale_min}-{question.scale_max}" if question.is_scored else "",
            "good_end": question.good_end,
            "metric": question.metric,
            "choices": "\n".join(labels) if any(labels) else "",
            "condition_question": condition.get("question", ""),
            "condition_min": condition.get("min"),
            "condition_max": condition.get("max"),
            "condition_values": ", ".join(condition.get("values", [])),
        }
        return cls(data, initial=initial, earlier=earlier)

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        scale = None
        if data.get("scale"):
            low, high = data["scale"].split("-")
            scale = (int(low), int(high))
        condition: dict[str, Any] = {}
        if data.get("condition_question"):
            condition = {"question": data["condition_question"]}
            values = [v.strip() for v in (data.get("condition_values") or "").split(",")]
            if any(values):
                condition["values"] = [v for v in values if v]
            else:
                condition["min"] = data.get("condition_min")
                condition["max"] = data.get("condition_max")
        return {
            "key": data["key"],
            "type": data["type"],
            "required": data["required"],
            "metric": data.get("metric") or "",
            "scale": scale,
            "good_end": data.get("good_end") or Question.GoodEnd.HIGH,
            "texts": {
                k: data.get(k) or ""
                for k in ("text", "help", "low_label", "high_label", "other_label")
            },
            "choice_labels": (data.get("choices") or "").splitlines(),
            "condition": condition,
        }


class InvitationForm(forms.Form):
    customer = forms.CharField(
        label=_("Customer"),
        max_length=254,
        help_text=_("Email address, phone number or external id."),
    )


class DistributionForm(forms.Form):
    """A distribution's settings; texts are in the survey's default language, with merge fields
    {first_name}, {touchpoint}, {agent_name} and {link}."""

    name = forms.CharField(label=_("Name"), max_length=200)
    audience = forms.ChoiceField(
        label=_("Send to"),
        choices=[(k, v) for k, v in Distribution.Audience.choices if k != "api"],
        widget=forms.RadioSelect,
        initial=Distribution.Audience.SEGMENT,
    )
    segment_language = forms.ChoiceField(
        label=_("Segment: language"), choices=[("", "—"), *CUSTOMER_LANGUAGES], required=False
    )
    segment_lifecycle = forms.ChoiceField(
        label=_("Segment: lifecycle"),
        choices=[("", "—"), *Customer.Lifecycle.choices],
        required=False,
    )
    segment_preferred_channel = forms.ChoiceField(
        label=_("Segment: preferred channel"), choices=[("", "—"), *Channel.choices], required=False
    )
    segment_stage = forms.ModelChoiceField(
        label=_("Segment: reached journey stage"),
        queryset=Stage.objects.select_related("journey").order_by("journey__name", "position"),
        required=False,
    )
    segment_active_days = forms.IntegerField(
        label=_("Segment: an interaction in the last (days)"),
        min_value=1,
        max_value=3650,
        required=False,
    )
    segment_unsurveyed_days = forms.IntegerField(
        label=_("Segment: no survey answered in the last (days)"),
        min_value=1,
        max_value=3650,
        required=False,
    )
    segment_attribute = forms.CharField(
        label=_("Segment: attribute"),
        max_length=200,
        required=False,
        help_text=_("name=value, for example plan=gold"),
    )
    customer_file = forms.FileField(
        label=_("List of customers (CSV)"),
        required=False,
        help_text=_("One column: email, external_id or id."),
    )
    channels = forms.MultipleChoiceField(
        label=_("Channels, in this order of preference"),
        choices=[("email", _("Email")), ("sms", _("SMS")), ("whatsapp", _("WhatsApp"))],
        widget=forms.CheckboxSelectMultiple,
        initial=["email"],
    )
    prefer_customer_channel = forms.BooleanField(
        label=_("The customer's preferred channel first"), required=False, initial=True
    )
    repeat_months = forms.TypedChoiceField(
        label=_("Repeat"),
        choices=[
            ("", _("Once")),
            ("1", _("Every month")),
            ("3", _("Every quarter")),
            ("6", _("Every six months")),
            ("12", _("Every year")),
        ],
        coerce=int,
        empty_value=None,
        required=False,
    )
    reply_mode = forms.BooleanField(
        label=_(
            "SMS and WhatsApp: ask the first question in the message; customers reply with a number"
        ),
        required=False,
    )
    send_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        help_text=_("Empty: now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    window_start = forms.TimeField(
        label=_("Not before (customer's time)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    window_end = forms.TimeField(
        label=_("Not after (customer's time)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    expires_days = forms.IntegerField(
        label=_("Link expires after (days)"), min_value=1, max_value=365, required=False
    )
    reminder_days = forms.IntegerField(
        label=_("Remind after (days)"), min_value=1, max_value=60, required=False
    )
    contact_days = forms.IntegerField(
        label=_("At most one invitation per customer in (days)"),
        min_value=0,
        max_value=365,
        required=False,
        help_text=_("Empty: the global setting."),
    )
    subject = forms.CharField(label=_("Email subject"), max_length=200, required=False)
    intro = forms.CharField(
        label=_("Email text"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    sms = forms.CharField(label=_("SMS / WhatsApp text"), max_length=320, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("window_start")) != bool(data.get("window_end")):
            self.add_error("window_end", _("Give both ends of the send window, or neither."))
        return data

    def segment(self) -> dict[str, Any]:
        data = self.cleaned_data
        segment: dict[str, Any] = {
            key: data[f"segment_{key}"]
            for key in ("language", "lifecycle", "preferred_channel")
            if data.get(f"segment_{key}")
        }
        if data.get("segment_stage"):
            segment["stage"] = data["segment_stage"].pk
        for key in ("active_days", "unsurveyed_days"):
            if data.get(f"segment_{key}"):
                segment[key] = data[f"segment_{key}"]
        attribute = (data.get("segment_attribute") or "").strip()
        if attribute:
            name, _sep, value = attribute.partition("=")
            segment["attributes"] = {name.strip(): value.strip()}
        return segment


class TriggerRuleForm(forms.Form):
    touchpoint = forms.ModelChoiceField(
        label=_("When an interaction of touchpoint"),
        queryset=Touchpoint.objects.filter(archived_at__isnull=True).select_related(
            "stage__journey"
        ),
        required=False,
    )
    kind = forms.CharField(
        label=_("or of kind"),
        max_length=100,
        required=False,
        help_text=_("For example order.delivered"),
    )
    delay_minutes = forms.IntegerField(
        label=_("invite after (minutes)"), min_value=0, max_value=60 * 24 * 60, initial=60
    )
    sample_percent = forms.IntegerField(
        label=_("for (% of them)"), min_value=1, max_value=100, initial=100
    )
    channels = forms.MultipleChoiceField(
        label=_("by"),
        choices=[("email", _("Email")), ("sms", _("SMS")), ("whatsapp", _("WhatsApp"))],
        widget=forms.CheckboxSelectMultiple,
        initial=["email"],
    )

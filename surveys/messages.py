"""The invitation a customer receives, rendered in their language: email (HTML and text, with the
first question's score buttons and one-click unsubscribe) or a short SMS/WhatsApp text."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from inbox.services import DeliveryDraft
from surveys.models import Invitation, Question
from surveys.services.distribution import merge


def _absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL + path


def merge_values(invitation: Invitation) -> dict[str, str]:
    customer = invitation.customer
    first_name = (customer.name or "").split(" ")[0] or _("there")
    return {
        "first_name": first_name,
        "touchpoint": invitation.touchpoint.name if invitation.touchpoint else "",
        "agent_name": str((invitation.merge or {}).get("agent_name", "")),
        "link": _absolute(reverse("surveys:respond", args=[invitation.token])),
    }


def _texts(invitation: Invitation) -> dict[str, str]:
    distribution = invitation.distribution
    own = (distribution.texts.get(invitation.language) if distribution else None) or {}
    return {
        "subject": own.get("subject") or _("How did we do, {first_name}?"),
        "intro": own.get("intro")
        or _("Hi {first_name}, we would love to hear about your experience. It takes a minute."),
        "sms": own.get("sms")
        or _("Hi {first_name}, how did we do? Tell us in a minute: {link} (reply STOP to opt out)"),
    }


def _score_buttons(
    invitation: Invitation, link: str
) -> tuple[Question | None, list[dict[str, Any]]]:
    """The first question's score buttons, when the survey opens with a score."""
    first = invitation.survey.questions.first()
    if first is None or not first.is_scored:
        return None, []
    low, high = first.scale_min or 0, first.scale_max or 10
    return first, [{"value": n, "url": f"{link}?score={n}"} for n in range(low, high + 1)]


def invitation_draft(invitation: Invitation, *, reminder: bool = False) -> DeliveryDraft:
    survey = invitation.survey
    with translation.override(invitation.language or survey.default_language):
        values = merge_values(invitation)
        texts = {key: merge(text, values) for key, text in _texts(invitation).items()}
        if invitation.channel != "email":
            text = texts["sms"]
            distribution = invitation.distribution
            first = survey.questions.first()
            if distribution is not None and distribution.reply_mode and first and first.is_scored:
                text = _(
                    "Hi %(name)s, %(question)s Reply with a number from %(low)d to %(high)d."
                ) % {
                    "name": values["first_name"],
                    "question": first.text("text", invitation.language, survey.default_language),
                    "low": first.scale_min,
                    "high": first.scale_max,
                }
            if reminder:
                text = _("Reminder: %(text)s") % {"text": text}
            return DeliveryDraft(
                channel=invitation.channel, to_address=invitation.address, text=text
            )
        unsubscribe = _absolute(reverse("surveys:unsubscribe", args=[invitation.token]))
        question, buttons = _score_buttons(invitation, values["link"])
        language = invitation.language or survey.default_language
        context = {
            "survey": survey,
            "title": survey.text("title", language),
            "intro": texts["intro"],
            "question": question.text("text", language, survey.default_language)
            if question
            else "",
            "low_label": question.text("low_label", language, survey.default_language)
            if question
            else "",
            "high_label": question.text("high_label", language, survey.default_language)
            if question
            else "",
            "buttons": buttons,
            "link": values["link"],
            "unsubscribe": unsubscribe,
            "accent": survey.accent_color,
            "logo": _absolute(reverse("surveys:respond-logo", args=[invitation.token]))
            if survey.logo
            else "",
            "reminder": reminder,
            "language": language,
        }
        subject = texts["subject"]
        if reminder:
            subject = _("Reminder: %(text)s") % {"text": subject}
        return DeliveryDraft(
            channel="email",
            to_address=invitation.address,
            subject=subject,
            text=render_to_string("surveys/email/invitation.txt", context),
            html=render_to_string("surveys/email/invitation.html", context),
            from_address=settings.SURVEY_FROM_EMAIL,
            # RFC 2369 and RFC 8058: mail clients show an unsubscribe button that POSTs here.
            headers={
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )

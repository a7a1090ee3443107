"""The invitation a customer receives, rendered in their language: email (HTML and text, with the
first question's score buttons and one-click unsubscribe) or a short SMS/WhatsApp text.

``invitation_draft`` makes one; ``invitation_drafts`` makes a dispatch chunk's worth the same way,
but works out once per survey and language what is the same for all of them (the first
question, and the email templates rendered around placeholders for the personal parts), which is
most of the time a draft takes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from inbox.services import DeliveryDraft
from surveys.models import Distribution, Invitation, Question, Survey
from surveys.services.distribution import audience_customers, channel_choose, merge
from surveys.services.responding import language_for

logger = logging.getLogger(__name__)


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
    first: Question | None, link: str
) -> tuple[Question | None, list[dict[str, Any]]]:
    """The first question's score buttons, when the survey opens with a score."""
    if first is None or not first.is_scored:
        return None, []
    low, high = first.scale_min or 0, first.scale_max or 10
    return first, [{"value": n, "url": f"{link}?score={n}"} for n in range(low, high + 1)]


# The personal parts of an invitation email. A placeholder carries an "&" so that the rendered
# template shows whether the place it landed in escapes HTML ("&amp;") or not ("&").
PERSONAL = ("intro", "link", "unsubscribe", "logo")
_PLACEHOLDER_RE = re.compile("\x00(" + "|".join(PERSONAL) + ")(&amp;|&)\x00")


def _placeholder(name: str) -> str:
    return f"\x00{name}&\x00"


def _fill(skeleton: str, values: dict[str, str]) -> str:
    """The skeleton with each placeholder replaced by its value, escaped where the template
    escaped it; one pass, so a value that looks like a placeholder stays as it is."""
    escaped: dict[str, str] = {}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if match.group(2) == "&":
            return values[name]
        if name not in escaped:
            escaped[name] = escape(values[name])
        return escaped[name]

    return _PLACEHOLDER_RE.sub(value, skeleton)


class _Drafter:
    """Makes drafts; with ``reuse``, what a survey and language have in common is worked out
    once: the first question, and the email templates rendered around placeholders. The first
    email of each survey and language is also rendered in full and compared: a template that
    does more with a personal part than print it (a filter, a test) is then rendered in full
    for every invitation, so the result is always what rendering it would give."""

    def __init__(self, *, reminder: bool, reuse: bool) -> None:
        self.reminder = reminder
        self.reuse = reuse
        self._first: dict[int, Question | None] = {}
        self._skeletons: dict[tuple[int, str, tuple[bool, ...]], tuple[str, str] | None] = {}

    def first_question(self, survey: Survey) -> Question | None:
        if not self.reuse:
            return survey.questions.first()
        if survey.pk not in self._first:
            self._first[survey.pk] = survey.questions.first()
        return self._first[survey.pk]

    def draft(self, invitation: Invitation) -> DeliveryDraft:
        survey = invitation.survey
        reminder = self.reminder
        with translation.override(invitation.language or survey.default_language):
            values = merge_values(invitation)
            texts = {key: merge(text, values) for key, text in _texts(invitation).items()}
            if invitation.channel != "email":
                text = texts["sms"]
                distribution = invitation.distribution
                first = self.first_question(survey)
                if (
                    distribution is not None
                    and distribution.reply_mode
                    and first
                    and first.is_scored
                ):
                    text = _(
                        "Hi %(name)s, %(question)s Reply with a number from %(low)d to %(high)d."
                    ) % {
                        "name": values["first_name"],
                        "question": first.text(
                            "text", invitation.language, survey.default_language
                        ),
                        "low": first.scale_min,
                        "high": first.scale_max,
                    }
                if reminder:
                    text = _("Reminder: %(text)s") % {"text": text}
                return DeliveryDraft(
                    channel=invitation.channel, to_address=invitation.address, text=text
                )
            unsubscribe = _absolute(reverse("surveys:unsubscribe", args=[invitation.token]))
            language = invitation.language or survey.default_language
            logo = (
                _absolute(reverse("surveys:respond-logo", args=[invitation.token]))
                if survey.logo
                else ""
            )
            personal = {
                "intro": texts["intro"],
                "link": values["link"],
                "unsubscribe": unsubscribe,
                "logo": logo,
            }
            text, html = self._email(survey, language, personal)
            subject = texts["subject"]
            if reminder:
                subject = _("Reminder: %(text)s") % {"text": subject}
            return DeliveryDraft(
                channel="email",
                to_address=invitation.address,
                subject=subject,
                text=text,
                html=html,
                from_address=settings.SURVEY_FROM_EMAIL,
                # RFC 2369 and RFC 8058: mail clients show an unsubscribe button that POSTs here.
                headers={
                    "List-Unsubscribe": f"<{unsubscribe}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            )

    def _render(self, survey: Survey, language: str, personal: dict[str, str]) -> tuple[str, str]:
        question, buttons = _score_buttons(self.first_question(survey), personal["link"])
        context = {
            "survey": survey,
            "title": survey.text("title", language),
            "intro": personal["intro"],
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
            "link": personal["link"],
            "unsubscribe": personal["unsubscribe"],
            "accent": survey.accent_color,
            "logo": personal["logo"],
            "reminder": self.reminder,
            "language": language,
        }
        return (
            render_to_string("surveys/email/invitation.txt", context),
            render_to_string("surveys/email/invitation.html", context),
        )

    def _email(self, survey: Survey, language: str, personal: dict[str, str]) -> tuple[str, str]:
        if not self.reuse:
            return self._render(survey, language, personal)
        # An empty part (no logo, an intro of only an empty merge field) may change what the
        # template shows, so it is part of the key.
        present = tuple(bool(personal[name]) for name in PERSONAL)
        key = (survey.pk, language, present)
        if key not in self._skeletons:
            rendered = self._render(survey, language, personal)
            holders = {name: _placeholder(name) if personal[name] else "" for name in PERSONAL}
            text, html = self._render(survey, language, holders)
            skeleton: tuple[str, str] | None = (text, html)
            if (_fill(text, personal), _fill(html, personal)) != rendered:
                logger.info(
                    "surveys.messages.rendered_each",
                    extra={"survey_id": survey.pk, "language": language},
                )
                skeleton = None
            self._skeletons[key] = skeleton
            return rendered
        found = self._skeletons[key]
        if found is None:
            return self._render(survey, language, personal)
        return _fill(found[0], personal), _fill(found[1], personal)


def invitation_draft(invitation: Invitation, *, reminder: bool = False) -> DeliveryDraft:
    return _Drafter(reminder=reminder, reuse=False).draft(invitation)


def invitation_drafts(
    invitations: Sequence[Invitation], *, reminder: bool = False
) -> list[DeliveryDraft]:
    """The drafts of many invitations, exactly as ``invitation_draft`` makes them one by one."""
    drafter = _Drafter(reminder=reminder, reuse=True)
    return [drafter.draft(invitation) for invitation in invitations]


def invitation_preview(*, distribution: Distribution, customer_id: str) -> Invitation | None:
    """An unsaved invitation for one customer of the audience, to render its message."""
    customers = audience_customers(distribution)
    customer = (
        customers.filter(pk=int(customer_id)).first()
        if customer_id.isascii() and customer_id.isdigit() and len(customer_id) < 19
        else customers.first()
    )
    if customer is None:
        return None
    choice = channel_choose(
        customer,
        distribution.channels,
        prefer_customer_channel=distribution.prefer_customer_channel,
        suppressed={},
    )
    return Invitation(
        survey=distribution.survey,
        distribution=distribution,
        customer=customer,
        token="preview-" + "x" * 14,
        channel=choice.channel or distribution.channels[0],
        address=choice.address,
        touchpoint=distribution.survey.touchpoint,
        language=language_for(distribution.survey, wanted=[], customer=customer),
    )

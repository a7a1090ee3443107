"""Surveys answered by SMS or WhatsApp reply: "8" (or " 8!", "8/10") to an invitation sent in
reply mode records the score; the follow-up question goes out and the next reply is its answer.
What cannot be read as an answer stays in the inbox for an agent."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cxm.errors import ApplicationError
from inbox import services as inbox
from inbox.models import Message
from surveys.answers import AnswerValue
from surveys.models import Invitation, Question
from surveys.scoring import visible_questions
from surveys.services.responding import (
    answers_record,
    given_answers,
    response_start,
    response_submit,
)

logger = logging.getLogger(__name__)

SCORE_RE = re.compile(r"^\s*(\d{1,2})\s*(?:/\s*(?:10|5|7))?\s*[!.?]*\s*$")
REPLY_WINDOW = dt.timedelta(days=14)


def parse_score(text: str, question: Question) -> int | None:
    """The score in a reply like "8", " 8!" or "8/10", if it is on the question's scale."""
    match = SCORE_RE.match(text or "")
    if not match:
        return None
    value = int(match.group(1))
    low, high = question.scale_min or 0, question.scale_max or 10
    return value if low <= value <= high else None


def _open_invitation(customer_id: int, channel: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("survey", "customer", "touchpoint", "distribution")
        .filter(
            customer_id=customer_id,
            channel=channel,
            distribution__reply_mode=True,
            status__in=[Invitation.Status.QUEUED, Invitation.Status.OPENED],
            send_at__gte=timezone.now() - REPLY_WINDOW,
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .order_by("-send_at")
        .first()
    )


def reply_receive(*, message_id: int) -> bool:
    """Take an inbound SMS/WhatsApp message as a survey answer if it is one; True when it was."""
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or message.channel not in ("sms", "whatsapp"):
        return False
    customer_id = message.conversation.customer_id
    invitation = _open_invitation(customer_id, message.channel)
    if invitation is None:
        return False
    survey = invitation.survey
    questions = list(survey.questions.all())
    if not questions:
        return False
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("survey", "customer", "touchpoint", "distribution")
            .get(pk=invitation.pk)
        )
        awaiting = (invitation.merge or {}).get("awaiting")
        if awaiting is None:
            first = questions[0]
            score = parse_score(message.text, first) if first.is_scored else None
            if score is None:
                return False
            response = response_start(
                survey=survey, language=invitation.language, invitation=invitation
            )
            given = given_answers(response, questions)
            given[first.key] = score
            follow = [q for q in visible_questions(questions, given) if q.key != first.key]
            nxt = next((q for q in follow if q.is_text or q.is_scored), None)
            answers_record(
                response=response, values={first: AnswerValue(number=score)}, questions=questions
            )
            if nxt is not None and not any(
                q.required and not (q.is_text or q.is_scored) for q in follow
            ):
                _await(invitation, nxt.key)
                _send(invitation, _question_text(invitation, nxt))
            else:
                _finish(invitation, response, questions, {})
        else:
            question = next((q for q in questions if q.key == awaiting), None)
            existing = getattr(invitation, "response", None)
            if question is None or existing is None:
                return False
            if question.is_scored:
                number = parse_score(message.text, question)
                if number is None:
                    return False
                value = AnswerValue(number=number)
            else:
                value = AnswerValue(text=(message.text or "").strip()[:5000])
            _await(invitation, None)
            _finish(invitation, existing, questions, {question: value})
        _settle(invitation, message)
    logger.info(
        "surveys.reply.taken", extra={"message_id": message_id, "invitation_id": invitation.pk}
    )
    return True


def _settle(invitation: Invitation, message: Message) -> None:
    """A conversation that holds nothing but survey answers needs no agent: it is resolved.
    Anything else the customer wrote keeps it open."""
    taken = [*(invitation.merge or {}).get("messages", []), message.pk]
    invitation.merge = {**(invitation.merge or {}), "messages": taken}
    invitation.save(update_fields=["merge"])
    conversation = message.conversation
    others = conversation.messages.exclude(pk__in=taken).filter(
        direction__in=[Message.Direction.INBOUND, Message.Direction.OUTBOUND]
    )
    if conversation.status == "open" and not others.exists():
        inbox.conversation_set_status(conversation=conversation, status="resolved", by=None)


def _finish(
    invitation: Invitation,
    response: Any,
    questions: list[Question],
    values: dict[Question, AnswerValue],
) -> None:
    """Complete the response and thank the customer; when a required question cannot be asked
    by text message (a choice), store what was given and send the link to finish."""
    try:
        response_submit(response=response, questions=questions, values=values)
    except ApplicationError:
        if values:
            answers_record(response=response, values=values, questions=questions)
        _send(invitation, _finish_text(invitation))
        return
    _send(invitation, _thanks_text(invitation))


def _finish_text(invitation: Invitation) -> str:
    survey = invitation.survey
    link = settings.PUBLIC_BASE_URL + reverse("surveys:respond", args=[invitation.token])
    with translation.override(invitation.language or survey.default_language):
        return _("Thank you! A few more questions here: %(link)s") % {"link": link}


def _await(invitation: Invitation, key: str | None) -> None:
    merge: dict[str, Any] = dict(invitation.merge or {})
    if key is None:
        merge.pop("awaiting", None)
    else:
        merge["awaiting"] = key
    invitation.merge = merge
    invitation.save(update_fields=["merge"])


def _question_text(invitation: Invitation, question: Question) -> str:
    survey = invitation.survey
    with translation.override(invitation.language or survey.default_language):
        text = question.text("text", invitation.language, survey.default_language)
        if question.is_scored:
            text += " " + _("Reply with a number from %(low)d to %(high)d.") % {
                "low": question.scale_min,
                "high": question.scale_max,
            }
        return text


def _thanks_text(invitation: Invitation) -> str:
    survey = invitation.survey
    with translation.override(invitation.language or survey.default_language):
        return survey.text("thank_you", invitation.language) or _("Thank you for your feedback!")


def _send(invitation: Invitation, text: str) -> None:
    inbox.deliveries_queue(
        drafts=[
            inbox.DeliveryDraft(
                channel=invitation.channel, to_address=invitation.address, text=text
            )
        ]
    )

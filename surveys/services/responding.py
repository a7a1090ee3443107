"""Responding: invitations, starting a response, saving each answer as it is given, and completing
the response exactly once (a conditional UPDATE the database arbitrates)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from cxm.errors import ApplicationError
from journeys.models import Customer, Touchpoint
from journeys.services import interaction_record
from surveys.answers import AnswerValue
from surveys.models import Answer, Invitation, Question, Response, Survey, SurveyChannel
from surveys.scoring import band_for, visible_questions
from surveys.services.builder import new_token
from surveys.signals import response_submitted

logger = logging.getLogger(__name__)

# The timeline speaks in touchpoint channels; links and API answers happen on the web.
TIMELINE_CHANNEL = {
    SurveyChannel.EMAIL: "email",
    SurveyChannel.SMS: "sms",
    SurveyChannel.WHATSAPP: "whatsapp",
}


def survey_is_open(survey: Survey, invitation: Invitation | None = None) -> bool:
    now = timezone.now()
    if survey.status != Survey.Status.ACTIVE:
        return False
    if survey.expires_at and survey.expires_at <= now:
        return False
    return not (invitation and invitation.expires_at and invitation.expires_at <= now)


def language_for(survey: Survey, *, wanted: list[str], customer: Customer | None = None) -> str:
    """The first of ``wanted`` (an explicit choice, the invitation's language, the browser's) the
    survey is offered in, then the customer's language, then the survey's default."""
    candidates = [*wanted, customer.language if customer else ""]
    for code in candidates:
        base = (code or "").split("-")[0].lower()
        if base in survey.languages:
            return base
    return survey.default_language


def invitation_create(
    *,
    survey: Survey,
    customer: Customer,
    channel: str = SurveyChannel.LINK,
    touchpoint: Touchpoint | None = None,
    language: str = "",
    expires_at: Any = None,
) -> Invitation:
    """A personal link for one customer; the token is 128 random bits."""
    if survey.status == Survey.Status.CLOSED:
        raise ApplicationError(_("This survey is closed."), field="survey")
    if survey.status == Survey.Status.DRAFT:
        raise ApplicationError(
            _("Activate the survey first; until then, use the preview."), field="survey"
        )
    if language and language not in survey.languages:
        raise ApplicationError(_("This survey is not offered in that language."), field="language")
    return Invitation.objects.create(
        survey=survey,
        customer=customer,
        token=new_token(),
        channel=channel,
        touchpoint=touchpoint or survey.touchpoint,
        language=language or language_for(survey, wanted=[], customer=customer),
        expires_at=expires_at,
    )


def _credited(invitation: Invitation) -> dict[str, Any]:
    """The team and agent of the conversation the invitation asks about."""
    if invitation.conversation_id is None:
        return {}
    from inbox.models import Conversation

    owner = (
        Conversation.objects.filter(pk=invitation.conversation_id)
        .values("team_id", "assignee_id")
        .first()
    )
    if owner is None:
        return {}
    return {"team_id": owner["team_id"], "agent_id": owner["assignee_id"]}


def response_start(
    *,
    survey: Survey,
    language: str,
    invitation: Invitation | None = None,
    browser_id: str | None = None,
    token: str | None = None,
    channel: str = SurveyChannel.LINK,
) -> Response:
    """The invitation's response (created once, however many tabs submit at the same moment),
    or a new anonymous one."""
    defaults = {
        "survey": survey,
        "survey_version": survey.version,
        "language": language,
        "token": token or new_token(),
    }
    if invitation is not None:
        try:
            with transaction.atomic():
                response = Response.objects.create(
                    **defaults,
                    invitation=invitation,
                    customer=invitation.customer,
                    channel=invitation.channel,
                    touchpoint=invitation.touchpoint,
                    **_credited(invitation),
                )
                Invitation.objects.filter(pk=invitation.pk, opened_at__isnull=True).update(
                    opened_at=timezone.now(), status=Invitation.Status.OPENED
                )
        except IntegrityError:
            # Another tab of the same invitation started it a moment ago: one response.
            return Response.objects.get(invitation=invitation)
        response.just_created = True  # type: ignore[attr-defined]
        return response
    try:
        with transaction.atomic():
            response = Response.objects.create(
                **defaults,
                browser_id=browser_id if survey.one_response_per_browser else None,
                channel=channel,
                touchpoint_id=survey.touchpoint_id,
            )
            response.just_created = True  # type: ignore[attr-defined]
            return response
    except IntegrityError:
        # The same page started it a moment ago (two answers saved at once carry the token the
        # page was given), or the same browser did (one response per browser).
        found = Response.objects.filter(survey=survey, token=defaults["token"]).first()
        if found is None and browser_id:
            found = Response.objects.filter(survey=survey, browser_id=browser_id).first()
        if found is None:
            raise
        return found


def given_answers(response: Response, questions: list[Question]) -> dict[str, Any]:
    """Question key → the comparable value of every answer row (an empty one marks a skip)."""
    by_id = {q.pk: q for q in questions}
    out: dict[str, Any] = {}
    for answer in response.answers.all():
        question = by_id.get(answer.question_id)
        if question is None:
            continue
        value = AnswerValue(number=answer.number, choices=answer.choices, text=answer.text)
        out[question.key] = value.comparable(question)
    return out


def answers_record(
    *,
    response: Response,
    values: Mapping[Question, AnswerValue],
    language: str = "",
    questions: list[Question] | None = None,
) -> None:
    """Store answers as they are given (a second answer to a question replaces the first). An
    empty answer is stored too: the question was seen and skipped. ``questions`` (the survey's,
    in order) saves a query when the caller has them."""
    if response.completed_at is not None:
        raise ApplicationError(_("You have already answered this survey. Thank you!"))
    now = timezone.now()
    rows = [
        Answer(
            response=response,
            question=question,
            number=value.number,
            choices=value.choices,
            text=value.text,
            created_at=now,
            updated_at=now,
        )
        for question, value in values.items()
    ]
    main = main_question(
        questions if questions is not None else list(response.survey.questions.all())
    )
    fields: dict[str, Any] = {"updated_at": now}
    if language and language != response.language:
        fields["language"] = language
    if main is not None and main in values:
        number = values[main].number
        fields["score"] = number
        fields["band"] = band_for(main, number) if number is not None else ""
    with transaction.atomic():
        # The conditional UPDATE locks the response row until commit, so a completion racing
        # this write waits for it, and a write after completion changes nothing.
        if not Response.objects.filter(pk=response.pk, completed_at__isnull=True).update(**fields):
            raise ApplicationError(_("You have already answered this survey. Thank you!"))
        Answer.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["response", "question"],
            update_fields=["number", "choices", "text", "updated_at"],
        )
    for name, value in fields.items():
        setattr(response, name, value)


def main_question(questions: list[Question]) -> Question | None:
    """The survey's main score: its first scored question that feeds a metric, else its first
    scored question."""
    scored = [q for q in questions if q.is_scored]
    return next((q for q in scored if q.metric), scored[0] if scored else None)


def _score_fields(questions: list[Question], given: Mapping[str, Any]) -> dict[str, Any]:
    main = main_question(questions)
    if main is None or main.key not in given:
        return {}
    number = given[main.key]
    return {
        "score": number,
        "band": band_for(main, number) if isinstance(number, int) else "",
    }


def missing_required(response: Response, questions: list[Question]) -> list[Question]:
    answers = given_answers(response, questions)
    return [
        q
        for q in visible_questions(questions, answers)
        if q.required and answers.get(q.key) in (None, "", [])
    ]


def _check(
    questions: list[Question], given: Mapping[str, Any]
) -> tuple[list[Question], dict[str, Any]]:
    """The questions shown for these answers, and the score fields; a required question shown
    without an answer is an error naming it."""
    visible = visible_questions(questions, given)
    missing = [q for q in visible if q.required and given.get(q.key) in (None, "", [])]
    if missing:
        raise ApplicationError(_("This question needs an answer."), field=missing[0].key)
    return visible, _score_fields(
        questions, {q.key: given[q.key] for q in visible if q.key in given}
    )


def _answer_rows(
    response: Response, values: Mapping[Question, AnswerValue], shown: set[int], now: Any
) -> list[Answer]:
    return [
        Answer(
            response=response,
            question=question,
            number=value.number,
            choices=value.choices,
            text=value.text,
            created_at=now,
            updated_at=now,
        )
        for question, value in values.items()
        if question.pk in shown
    ]


def _finished(
    response: Response, visible: list[Question], given: Mapping[str, Any], now: Any
) -> None:
    """Inside the completing transaction: the invitation, the timeline, and the signal."""
    if response.invitation_id:
        Invitation.objects.filter(pk=response.invitation_id).update(
            status=Invitation.Status.RESPONDED,
            responded_at=now,
            opened_at=Coalesce("opened_at", Value(now)),
        )
    if response.customer_id:
        comment = next((given[q.key] for q in visible if q.is_text and given.get(q.key)), "")
        _timeline(response, comment)
    survey_id, customer_id, response_id = response.survey_id, response.customer_id, response.pk
    transaction.on_commit(
        lambda: response_submitted.send(
            sender=Response, response_id=response_id, survey_id=survey_id, customer_id=customer_id
        )
    )
    logger.info(
        "surveys.response.completed", extra={"response_id": response_id, "survey_id": survey_id}
    )


def response_submit(
    *,
    response: Response,
    questions: list[Question],
    values: Mapping[Question, AnswerValue],
    language: str = "",
    stored: Mapping[str, Any] | None = None,
) -> bool:
    """Record the last answers and complete the response, in one transaction: True for the call
    that completed it (the database decides, with a conditional UPDATE). ``stored`` is what the
    caller already read of the response's answers (``given_answers``).

    Answers to questions a later answer hid no longer count and are removed. The interaction
    goes on the customer's timeline, and ``response_submitted`` is sent after commit."""
    given = dict(stored) if stored is not None else given_answers(response, questions)
    stored_keys = set(given)
    given.update({q.key: v.comparable(q) for q, v in values.items()})
    visible, fields = _check(questions, given)
    shown = {q.pk for q in visible}
    hidden = [q.pk for q in questions if q.key in stored_keys and q.pk not in shown]
    now = timezone.now()
    fields.update({"completed_at": now, "updated_at": now})
    if language and language != response.language:
        fields["language"] = language
    rows = _answer_rows(response, values, shown, now)
    with transaction.atomic():
        if not Response.objects.filter(pk=response.pk, completed_at__isnull=True).update(**fields):
            return False
        for name, value in fields.items():
            setattr(response, name, value)
        if rows:
            Answer.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["response", "question"],
                update_fields=["number", "choices", "text", "updated_at"],
            )
        if hidden:
            Answer.objects.filter(response=response, question_id__in=hidden).delete()
        _finished(response, visible, given, now)
    return True


def response_create_complete(
    *,
    survey: Survey,
    questions: list[Question],
    values: Mapping[Question, AnswerValue],
    language: str,
    invitation: Invitation | None = None,
    browser_id: str | None = None,
    token: str | None = None,
    channel: str = SurveyChannel.LINK,
) -> Response | None:
    """A whole answer set for a response not started yet (the one-page form sent at once): the
    response is created complete with its answers in one transaction. None when a response
    exists after all (another tab, an earlier save): the caller completes that one instead."""
    given = {q.key: v.comparable(q) for q, v in values.items()}
    visible, fields = _check(questions, given)
    now = timezone.now()
    response = Response(
        survey=survey,
        survey_version=survey.version,
        language=language,
        token=token or new_token(),
        started_at=now,
        completed_at=now,
        **fields,
    )
    if invitation is not None:
        response.invitation = invitation
        response.customer = invitation.customer
        response.channel = invitation.channel
        response.touchpoint = invitation.touchpoint
    else:
        response.browser_id = browser_id if survey.one_response_per_browser else None
        response.channel = channel
        response.touchpoint_id = survey.touchpoint_id
    try:
        with transaction.atomic():
            response.save(force_insert=True)
            Answer.objects.bulk_create(_answer_rows(response, values, {q.pk for q in visible}, now))
            _finished(response, visible, given, now)
    except IntegrityError:
        return None
    return response


def response_complete(*, response: Response, questions: list[Question]) -> bool:
    """Complete a response whose answers are all stored (see ``response_submit``)."""
    return response_submit(response=response, questions=questions, values={})


def _timeline(response: Response, comment: str) -> None:
    survey = response.survey
    parts = [survey.name]
    if response.score is not None:
        parts.append(str(response.score))
    if comment:
        parts.append(f"“{comment[:200]}”")
    interaction_record(
        customer=response.customer,  # type: ignore[arg-type]
        kind="survey.response",
        channel=TIMELINE_CHANNEL.get(response.channel, "web"),  # type: ignore[call-overload]
        occurred_at=response.completed_at,
        touchpoint=response.touchpoint,
        summary=" · ".join(parts),
        source_type="surveys.response",
        source_id=response.pk,
        data={"survey_id": survey.pk, "score": response.score, "band": response.band},
        idempotency_key=f"surveys.response.{response.pk}",
        likely_new=True,  # this transaction completed the response a moment ago
    )

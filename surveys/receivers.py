"""What the surveys app listens to: customer merges move responses and invitations along."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def _move_to_survivor(sender: object, survivor_id: int, merged_id: int, **kwargs: object) -> None:
    from surveys.models import Invitation, Response

    Response.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)
    Invitation.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)


def connect_merges() -> None:
    from journeys.signals import customers_merging

    customers_merging.connect(_move_to_survivor, weak=False, dispatch_uid="surveys-customer-merge")


def _interaction_recorded(
    sender: object, interaction_id: int, touchpoint_id: int | None, kind: str, **kwargs: object
) -> None:
    """Only interactions some active rule listens to cost a task."""
    from cxm.jobs import Job, enqueue_on_commit
    from surveys.services.distribution import trigger_targets

    touchpoints, kinds = trigger_targets()
    if (touchpoint_id and touchpoint_id in touchpoints) or kind in kinds:
        enqueue_on_commit(Job.SURVEYS_TRIGGER, interaction_id=interaction_id)


def connect_triggers() -> None:
    from journeys.signals import interaction_recorded

    interaction_recorded.connect(
        _interaction_recorded, weak=False, dispatch_uid="surveys-trigger-rules"
    )


def _message_received(
    sender: object, message_id: int, conversation_id: int, customer_id: int, **kwargs: object
) -> None:
    from cxm.jobs import Job, enqueue_on_commit

    enqueue_on_commit(Job.SURVEYS_REPLY, message_id=message_id)


def connect_replies() -> None:
    from inbox.signals import message_received

    message_received.connect(_message_received, weak=False, dispatch_uid="surveys-sms-replies")


def _response_submitted_publish(sender: object, response_id: int, **kwargs: object) -> None:
    """Outgoing webhooks (cxm.webhooks): ``response.submitted``. The payload costs two queries,
    spent only when some subscription wants the event (docs/webhooks.md)."""
    from cxm.webhooks.models import Event
    from cxm.webhooks.services import event_publish, event_subscribed

    if not event_subscribed(Event.RESPONSE_SUBMITTED):
        return
    try:
        data = response_webhook_data(response_id)
        if data is not None:
            event_publish(Event.RESPONSE_SUBMITTED, data)
    except Exception:
        # Sent after the response committed: a failure here must not fail the respondent's page.
        logger.exception("webhooks.publish.failed", extra={"response_id": response_id})


def response_webhook_data(response_id: int) -> dict[str, object] | None:
    from django.conf import settings
    from django.urls import reverse

    from cxm.webhooks.payloads import customer_summary
    from surveys.models import Answer, Response

    response = (
        Response.objects.select_related("survey", "customer", "touchpoint")
        .filter(pk=response_id)
        .first()
    )
    if response is None:
        return None
    survey, customer = response.survey, response.customer
    answers = []
    for answer in (
        Answer.objects.filter(response_id=response.pk)
        .select_related("question")
        .order_by("question__position", "question_id")
    ):
        question = answer.question
        if question.is_scored:
            value: object = answer.number
        elif question.is_text:
            value = answer.text
        elif question.type == question.Type.MULTIPLE:
            value = list(answer.choices)
        else:
            value = answer.choices[0] if answer.choices else (answer.text or None)
        answers.append(
            {
                "question": question.key,
                "type": question.type,
                "text": question.text("text", survey.default_language, survey.default_language),
                "value": value,
                **({"other": answer.text} if question.is_choice and answer.text else {}),
            }
        )
    return {
        "response_id": response.pk,
        "url": settings.PUBLIC_BASE_URL + reverse("surveys:response-detail", args=[response.pk]),
        "survey": {"id": survey.pk, "name": survey.name, "kind": survey.kind},
        "score": response.score,
        "band": response.band or None,
        "answers": answers,
        "customer_id": response.customer_id,
        "customer": customer_summary(customer),
        "channel": response.channel,
        "language": response.language,
        "touchpoint": {"id": response.touchpoint.pk, "name": response.touchpoint.name}
        if response.touchpoint is not None
        else None,
        "completed_at": response.completed_at,
    }


def connect_webhooks() -> None:
    from surveys.signals import response_submitted

    response_submitted.connect(
        _response_submitted_publish, weak=False, dispatch_uid="surveys-webhooks-response"
    )

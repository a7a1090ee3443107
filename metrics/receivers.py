"""What the metrics app listens to: a completed response asks for a refresh of the rollups
within seconds (beat refreshes them every minute anyway), and for the follow-up rules to look
at it; an agent's reply in a follow-up's conversation is its first contact."""

from __future__ import annotations


def _response_submitted(sender: object, response_id: int, **kwargs: object) -> None:
    from metrics.services import refresh_soon

    refresh_soon()


def _followup_candidate(
    sender: object,
    response_id: int,
    survey_id: int | None = None,
    customer_id: int | None = None,
    **kwargs: object,
) -> None:
    """Only a response a rule can match waits for the rules: the customer is known and some
    enabled rule is for its survey (or for any survey). The rules come from the cache; the
    response goes on the waiting list and a drain task is queued at most once a second."""
    from metrics.followup_services import followup_candidate_add, rules_target_surveys

    if customer_id is None:
        return  # an anonymous answer: nobody to follow up with
    targets = rules_target_surveys()
    if targets is not None and survey_id not in targets:
        return
    followup_candidate_add(response_id=response_id)


def _agent_replied(sender: object, message_id: int, conversation_id: int, **kwargs: object) -> None:
    from cxm.jobs import Job, enqueue_on_commit
    from metrics.models import FollowUp

    # One indexed look-up (metrics_fu_uncontacted) per reply; a task only for a follow-up's.
    if FollowUp.objects.filter(
        conversation_id=conversation_id, first_contacted_at__isnull=True
    ).exists():
        enqueue_on_commit(Job.METRICS_FOLLOWUP_CONTACTED, message_id=message_id)


def connect() -> None:
    from django.urls import reverse

    from inbox.signals import agent_replied
    from journeys.presenters import register_source
    from surveys.signals import response_submitted

    response_submitted.connect(
        _response_submitted, weak=False, dispatch_uid="metrics-rollup-response"
    )
    response_submitted.connect(
        _followup_candidate, weak=False, dispatch_uid="metrics-followup-response"
    )
    agent_replied.connect(_agent_replied, weak=False, dispatch_uid="metrics-followup-contact")
    register_source(
        "metrics.followup", lambda pk: reverse("followups:followup-detail", args=[int(pk)])
    )

from celery import shared_task

from cxm.jobs import Job
from surveys.services import distribution, recurring, replies


@shared_task(name=Job.SURVEYS_PLAN.value)
def plan(*, distribution_id: int) -> None:
    distribution.distribution_plan(distribution_id=distribution_id)


@shared_task(name=Job.SURVEYS_DISPATCH.value)
def dispatch() -> None:
    distribution.invitations_dispatch()


@shared_task(name=Job.SURVEYS_REMIND.value)
def remind() -> None:
    distribution.reminders_send()


@shared_task(name=Job.SURVEYS_TRIGGER.value)
def trigger(*, interaction_id: int) -> None:
    distribution.interaction_triggers(interaction_id=interaction_id)


@shared_task(name=Job.SURVEYS_REPLY.value)
def reply(*, message_id: int) -> None:
    replies.reply_receive(message_id=message_id)


@shared_task(name=Job.SURVEYS_REPEAT.value)
def repeat() -> None:
    recurring.distributions_repeat()

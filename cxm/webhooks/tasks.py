"""Celery entry points of the outgoing webhooks: ids in, one service call."""

from celery import shared_task

from cxm.jobs import Job
from cxm.webhooks import services


@shared_task(name=Job.WEBHOOKS_DELIVER.value)
def deliver(*, delivery_ids: list[int]) -> None:
    services.deliveries_attempt(delivery_ids=delivery_ids)


@shared_task(name=Job.WEBHOOKS_SWEEP.value)
def sweep() -> None:
    services.deliveries_requeue()


@shared_task(name=Job.WEBHOOKS_PURGE.value)
def purge() -> None:
    services.deliveries_purge()

from celery import shared_task

from cxm.jobs import Job
from inbox import services
from inbox.channels.base import ProviderError


@shared_task(name=Job.INBOX_INBOUND_PROCESS.value)
def inbound_process(*, event_id: int) -> None:
    services.inbound_event_process(event_id=event_id)


@shared_task(name=Job.INBOX_WAKE_SNOOZED.value)
def wake_snoozed() -> None:
    services.snoozed_wake()


@shared_task(
    name=Job.INBOX_MEDIA_FETCH.value,
    autoretry_for=(ProviderError,),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=6,
)
def media_fetch(*, message_id: int) -> None:
    services.media_fetch(message_id=message_id)


@shared_task(name=Job.INBOX_PURGE_PAYLOADS.value)
def purge_payloads() -> None:
    services.inbound_payloads_purge()


@shared_task(name=Job.INBOX_SWEEP.value)
def sweep() -> None:
    services.stuck_work_requeue()


@shared_task(name=Job.INBOX_INBOUND_DRAIN.value)
def inbound_drain() -> None:
    services.inbound_events_drain()


@shared_task(name=Job.INBOX_DELIVERY_SEND.value)
def delivery_send(*, delivery_id: int) -> None:
    services.delivery_send(delivery_id=delivery_id)


@shared_task(name=Job.INBOX_DELIVERY_SEND_BATCH.value)
def deliveries_send(*, delivery_ids: list[int]) -> None:
    services.deliveries_send(delivery_ids=delivery_ids)

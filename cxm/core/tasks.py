from celery import shared_task

from cxm.core import services
from cxm.jobs import Job


@shared_task(name=Job.CORE_PURGE_IDEMPOTENCY_RECORDS.value)
def purge_idempotency_records() -> None:
    services.idempotency_records_purge()

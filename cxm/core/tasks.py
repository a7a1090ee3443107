from celery import shared_task
from django.conf import settings

from cxm.core import services
from cxm.jobs import Job


@shared_task(name=Job.CORE_NOTIFICATION_EMAIL.value)
def notification_email(*, notification_id: int) -> None:
    services.notification_email_send(
        notification_id=notification_id, base_url=settings.PUBLIC_BASE_URL
    )


@shared_task(name=Job.CORE_PURGE_IDEMPOTENCY_RECORDS.value)
def purge_idempotency_records() -> None:
    services.idempotency_records_purge()

from celery import shared_task
from django.conf import settings

from cxm.jobs import Job
from metrics import followup_services, reports, services


@shared_task(name=Job.METRICS_REFRESH.value)
def refresh() -> None:
    services.rollups_refresh_recent()


@shared_task(name=Job.METRICS_REBUILD.value)
def rebuild() -> None:
    services.rollups_rebuild()


@shared_task(name=Job.METRICS_REPORTS_SEND.value)
def reports_send() -> None:
    reports.reports_send_due(base_url=settings.PUBLIC_BASE_URL)


@shared_task(name=Job.METRICS_FOLLOWUP_OPEN.value)
def followup_open(response_id: int | None = None) -> None:
    followup_services.followups_drain(response_id=response_id)


@shared_task(name=Job.METRICS_FOLLOWUP_CONTACTED.value)
def followup_contacted(message_id: int) -> None:
    followup_services.followup_contact_from_message(message_id=message_id)


@shared_task(name=Job.METRICS_FOLLOWUPS_ESCALATE.value)
def followups_escalate() -> None:
    followup_services.followups_escalate()


@shared_task(name=Job.METRICS_FOLLOWUPS_SWEEP.value)
def followups_sweep() -> None:
    followup_services.followups_sweep()

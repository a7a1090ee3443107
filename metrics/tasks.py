from celery import shared_task

from cxm.jobs import Job
from metrics import services


@shared_task(name=Job.METRICS_REFRESH.value)
def refresh() -> None:
    services.rollups_refresh_recent()


@shared_task(name=Job.METRICS_REBUILD.value)
def rebuild() -> None:
    services.rollups_rebuild()

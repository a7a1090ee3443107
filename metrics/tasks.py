from celery import shared_task

from cxm.jobs import Job
from metrics import services


@shared_task(name=Job.METRICS_ROLLUP_RESPONSE.value)
def rollup_response(*, response_id: int) -> None:
    services.response_rollup(response_id=response_id)

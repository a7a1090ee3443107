from celery import shared_task

from cxm.jobs import Job
from journeys import services


@shared_task(name=Job.CUSTOMER_IMPORT_RUN.value)
def customer_import_run(*, import_id: int) -> None:
    services.customer_import_run(import_id=import_id)


@shared_task(name=Job.CUSTOMER_IMPORT_SWEEP.value)
def customer_import_sweep() -> None:
    services.customer_imports_requeue()


@shared_task(name=Job.PURGE_OLD_IMPORT_FILES.value)
def purge_old_import_files() -> None:
    services.import_files_purge()

from celery import shared_task
from django.conf import settings

from cxm.accounts import services
from cxm.jobs import Job


@shared_task(name=Job.ACCOUNTS_SEND_PASSWORD_LINK.value)
def send_password_link(*, user_id: int, kind: str) -> None:
    services.password_link_send(user_id=user_id, kind=kind, base_url=settings.PUBLIC_BASE_URL)


@shared_task(name=Job.ACCOUNTS_PURGE_EXPIRED_SESSIONS.value)
def purge_expired_sessions() -> None:
    services.sessions_purge_expired()

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Inbox")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cxm.accounts.roles import connect_grants
        from inbox import receivers
        from inbox.grants import GRANTS
        from journeys.presenters import register_source

        receivers.connect()
        receivers.connect_merges()
        receivers.connect_file_cleanup()
        connect_grants(self, GRANTS)
        register_source("inbox.conversation", conversation_link)


def conversation_link(pk: str) -> str:
    from django.urls import reverse

    return reverse("inbox:conversation", args=[int(pk)])

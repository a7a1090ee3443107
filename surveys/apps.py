from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = _("Surveys")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cxm.accounts.roles import connect_grants
        from journeys.presenters import register_source
        from surveys import receivers
        from surveys.grants import GRANTS

        receivers.connect_merges()
        receivers.connect_triggers()
        receivers.connect_replies()
        receivers.connect_webhooks()
        connect_grants(self, GRANTS)
        register_source("surveys.response", response_link)


def response_link(pk: str) -> str:
    from django.urls import reverse

    return reverse("surveys:response-detail", args=[int(pk)])

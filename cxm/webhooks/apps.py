from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "cxm.webhooks"
    label = "webhooks"
    verbose_name = _("Webhooks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cxm.accounts.roles import connect_grants
        from cxm.webhooks.grants import GRANTS

        connect_grants(self, GRANTS)

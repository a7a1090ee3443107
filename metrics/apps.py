from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = _("Metrics")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cxm.accounts.roles import connect_grants
        from metrics import receivers
        from metrics.grants import GRANTS

        receivers.connect()
        connect_grants(self, GRANTS)

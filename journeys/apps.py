from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JourneysConfig(AppConfig):
    name = "journeys"
    verbose_name = _("Customers and journeys")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cxm.accounts.roles import connect_grants
        from journeys.grants import GRANTS

        connect_grants(self, GRANTS)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "cxm.accounts"
    label = "accounts"
    verbose_name = _("Accounts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cxm.accounts.grants import GRANTS
        from cxm.accounts.roles import connect_grants

        connect_grants(self, GRANTS)

from django.apps import AppConfig


class InboxConfig(AppConfig):
    """Built in its own issue; installed now so migrations and layering are in place."""

    name = "inbox"
    default_auto_field = "django.db.models.BigAutoField"

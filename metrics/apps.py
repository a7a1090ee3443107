from django.apps import AppConfig


class MetricsConfig(AppConfig):
    """Built in its own issue; installed now so migrations and layering are in place."""

    name = "metrics"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class SurveysConfig(AppConfig):
    """Built in its own issue; installed now so migrations and layering are in place."""

    name = "surveys"
    default_auto_field = "django.db.models.BigAutoField"

"""The dashboards (metrics/views.py) and the report subscriptions (metrics/report_urls.py)."""

from django.urls import include, path

app_name = "metrics"

urlpatterns = [
    path("reports/", include("metrics.report_urls")),
]

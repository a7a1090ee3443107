"""The dashboards (metrics/views.py) and the report subscriptions (metrics/report_urls.py)."""

from django.urls import include, path

from metrics import views

app_name = "metrics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("channels/", views.channels, name="dashboard-channels"),
    path("touchpoints/", views.touchpoints, name="dashboard-touchpoints"),
    path("agents/", views.agents, name="dashboard-agents"),
    path("visits/", views.visits, name="dashboard-visits"),
    path("comments/", views.comments, name="dashboard-comments"),
    path("reports/", include("metrics.report_urls")),
]

"""``/api/v1/metrics/…``: every dashboard figure with the dashboards' filters."""

from django.urls import path

from metrics import api

urlpatterns = [
    path("overview/", api.OverviewApi.as_view(), name="api-metrics-overview"),
    path("trend/", api.TrendApi.as_view(), name="api-metrics-trend"),
    path("breakdown/<str:by>/", api.BreakdownApi.as_view(), name="api-metrics-breakdown"),
    path(
        "journey-map/<int:journey_id>/",
        api.JourneyMapApi.as_view(),
        name="api-metrics-journey-map",
    ),
    path("visit-intent/", api.VisitIntentApi.as_view(), name="api-metrics-visit-intent"),
    path("verbatims/", api.VerbatimsApi.as_view(), name="api-metrics-verbatims"),
    path(
        "report-subscriptions/",
        api.ReportSubscriptionListApi.as_view(),
        name="api-report-subscription-list",
    ),
    path(
        "report-subscriptions/<int:pk>/",
        api.ReportSubscriptionDetailApi.as_view(),
        name="api-report-subscription-detail",
    ),
]

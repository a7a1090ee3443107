"""Report subscriptions: names live in the ``metrics`` namespace (included by metrics/urls.py)."""

from django.urls import path

from metrics import report_views

urlpatterns = [
    path("", report_views.report_list, name="report-list"),
    path("subscribe/", report_views.report_subscribe, name="report-subscribe"),
    path("<int:pk>/unsubscribe/", report_views.report_unsubscribe, name="report-unsubscribe"),
    path(
        "unsubscribe/<str:token>/",
        report_views.report_unsubscribe_link,
        name="report-unsubscribe-token",
    ),
]

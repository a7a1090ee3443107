from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cxm.accounts import views as account_views
from cxm.core import views as core_views
from cxm.health import healthz
from inbox import webform
from inbox.channels.email import webhook_urlpatterns as email_webhooks
from journeys.webhooks import interactions_webhook

api_v1 = [
    path("", include("journeys.api_urls")),
    path("", include("inbox.api_urls")),
    path("", include("surveys.api_urls")),
    path("metrics/", include("metrics.api_urls")),
]

urlpatterns = [
    path("", account_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("notifications/", core_views.notifications, name="notifications"),
    path("accounts/", include("cxm.accounts.urls")),
    path("", include("journeys.urls")),
    path("inbox/", include("inbox.urls")),
    path("", include("surveys.urls")),
    path("metrics/", include("metrics.urls")),
    path("followups/", include("metrics.followup_urls")),
    path("settings/webhooks/", include("cxm.webhooks.urls")),
    path("chat/", include("inbox.webchat_urls")),
    path("contact/<str:site_key>/", webform.contact_page, name="contact"),
    path("contact/<str:site_key>/submit/", webform.contact_submit, name="contact-submit"),
    path("anymail/", include((email_webhooks(), "anymail"))),
    path("hooks/interactions/<int:source_id>/", interactions_webhook, name="journeys-webhook"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI sets style attributes from its own (same-origin) script; only this page allows it.
    path(
        "api/docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("django-admin/", admin.site.urls),
]

handler403 = "cxm.errorviews.permission_denied"
handler404 = "cxm.errorviews.page_not_found"
handler500 = "cxm.errorviews.server_error"

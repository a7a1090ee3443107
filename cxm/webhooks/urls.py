"""Admin pages for webhook subscriptions and their deliveries (mounted at /settings/webhooks/)."""

from django.urls import path

from cxm.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.subscription_list, name="subscription-list"),
    path("new/", views.subscription_create, name="subscription-create"),
    path("<int:subscription_id>/", views.subscription_detail, name="subscription-detail"),
    path("<int:subscription_id>/edit/", views.subscription_edit, name="subscription-edit"),
    path("<int:subscription_id>/delete/", views.subscription_delete, name="subscription-delete"),
    path("<int:subscription_id>/rotate/", views.subscription_rotate, name="subscription-rotate"),
    path("<int:subscription_id>/reveal/", views.subscription_reveal, name="subscription-reveal"),
    path("<int:subscription_id>/test/", views.subscription_test, name="subscription-test"),
    path("deliveries/<int:delivery_id>/", views.delivery_detail, name="delivery-detail"),
    path("deliveries/<int:delivery_id>/replay/", views.delivery_replay, name="delivery-replay"),
]

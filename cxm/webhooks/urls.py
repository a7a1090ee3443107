"""Admin pages for webhook subscriptions and their deliveries."""

app_name = "webhooks"

urlpatterns: list = []

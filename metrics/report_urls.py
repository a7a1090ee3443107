"""Report subscriptions: names live in the ``metrics`` namespace (included by metrics/urls.py)."""

urlpatterns: list = []

"""``/api/v1/metrics/…``: every dashboard figure with the dashboards' filters."""

urlpatterns: list = []

"""The follow-up queues and their rules."""

app_name = "followups"

urlpatterns: list = []

from django.urls import path

from inbox import api

urlpatterns = [
    path("inbox/messages/", api.InboxMessageApi.as_view(), name="api-inbox-messages"),
]

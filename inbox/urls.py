from django.urls import path

from inbox import views, webhooks

app_name = "inbox"

conversation = "conversations/<int:conversation_id>"

urlpatterns = [
    path("", views.index, name="index"),
    path("outbox/", views.outbox, name="outbox"),
    path(f"{conversation}/", views.conversation_detail, name="conversation"),
    path(f"{conversation}/live/", views.conversation_live, name="conversation-live"),
    path(f"{conversation}/reply/", views.conversation_reply, name="conversation-reply"),
    path(f"{conversation}/update/", views.conversation_update, name="conversation-update"),
    path(f"{conversation}/note/", views.conversation_note, name="conversation-note"),
    path("deliveries/<int:delivery_id>/retry/", views.delivery_retry, name="delivery-retry"),
    path("attachments/<int:attachment_id>/", views.attachment_download, name="attachment"),
    path("customers/<int:customer_id>/call/", views.call_log, name="call-log"),
    path("availability/", views.availability, name="availability"),
    path("bulk/", views.bulk_update, name="bulk"),
    path("settings/routing/<int:team_id>/", views.team_routing, name="team-routing"),
    path("settings/channels/", views.channel_list, name="channel-list"),
    path("settings/channels/new/", views.channel_edit, name="channel-create"),
    path("settings/channels/<int:account_id>/", views.channel_edit, name="channel-edit"),
    path("twilio/inbound/", webhooks.twilio_inbound, name="twilio-inbound"),
    path("twilio/status/", webhooks.twilio_status, name="twilio-status"),
    path("<str:view>/", views.conversation_list, name="list"),
    path("<str:view>/rows/", views.conversation_list_rows, name="list-rows"),
]

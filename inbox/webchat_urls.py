from django.urls import path

from inbox import webchat

urlpatterns = [
    path("<str:site_key>/session/", webchat.session, name="webchat-session"),
    path("<str:site_key>/messages/", webchat.messages, name="webchat-messages"),
    path("<str:site_key>/contact/", webchat.contact, name="webchat-contact"),
    path("<str:site_key>/demo/", webchat.demo, name="webchat-demo"),
]

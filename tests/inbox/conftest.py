from __future__ import annotations

import base64

import pytest
from twilio.request_validator import RequestValidator

from cxm.accounts import services as account_services
from inbox.channels import twilio as twilio_channel
from inbox.models import ChannelAccount
from tests import stubs

PUBLIC = "https://cxm.example.com"
TWILIO_TOKEN = "twilio-test-token"
WEBHOOK_SECRET = "hooks:s3cret-value"


@pytest.fixture
def care_team(db):
    return account_services.team_save(team=None, name="Customer Care", description="", members=[])


@pytest.fixture
def accounts(db, care_team):
    email = ChannelAccount.objects.create(
        kind="email",
        name="Support mail",
        address="support@shop.example.com",
        provider="postmark",
        team=care_team,
    )
    sms = ChannelAccount.objects.create(
        kind="sms", name="Support SMS", address="+3197010000000", provider="twilio", team=care_team
    )
    whatsapp = ChannelAccount.objects.create(
        kind="whatsapp",
        name="WhatsApp",
        address="+3197010000001",
        provider="twilio",
        team=care_team,
    )
    return {"email": email, "sms": sms, "whatsapp": whatsapp}


@pytest.fixture
def twilio_stub(settings):
    stub = stubs.StubServer(stubs.twilio_ok).start()
    settings.TWILIO_ACCOUNT_SID = "ACtest"
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TWILIO_API_BASE_URL = stub.url
    settings.PUBLIC_BASE_URL = PUBLIC
    twilio_channel._client.cache_clear()
    yield stub
    stub.stop()
    twilio_channel._client.cache_clear()


@pytest.fixture
def postmark_stub(settings):
    stub = stubs.StubServer(stubs.postmark_ok).start()
    settings.INBOX_EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "pm-token",
        "POSTMARK_API_URL": stub.url + "/",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    yield stub
    stub.stop()


def twilio_post(client, path: str, params: dict[str, str], *, token: str = TWILIO_TOKEN):
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def basic_auth(secret: str = WEBHOOK_SECRET) -> str:
    return "Basic " + base64.b64encode(secret.encode()).decode()

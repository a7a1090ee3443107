"""Provider webhooks: verify → parse → store once → 2xx. Processing happens in a task.

Email webhooks are anymail's own views (``/anymail/<esp>/inbound/`` and ``/tracking/``); their
signals arrive in ``inbox.receivers``. Twilio posts here.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from inbox import services
from inbox.channels import twilio
from inbox.channels.base import InvalidSignature

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _verified(request: HttpRequest) -> bool:
    try:
        twilio.verify(
            path=request.get_full_path(),
            params=request.POST.dict(),
            signature=request.headers.get("X-Twilio-Signature", ""),
        )
    except InvalidSignature:
        logger.info("inbox.twilio.bad_signature", extra={"path": request.path})
        return False
    return True


@csrf_exempt  # authenticated by X-Twilio-Signature instead
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    if not _verified(request):
        return HttpResponse("invalid signature", status=403, content_type="text/plain")
    try:
        inbound = twilio.parse_inbound(request.POST.dict())
    except ValueError:
        logger.info("inbox.twilio.malformed", extra={"path": request.path})
        return HttpResponse("malformed", status=400, content_type="text/plain")
    services.inbound_event_record(
        provider="twilio",
        kind="message",
        provider_id=inbound.provider_id,
        payload=inbound.as_json(),
    )
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    if not _verified(request):
        return HttpResponse("invalid signature", status=403, content_type="text/plain")
    try:
        status = twilio.parse_status(request.POST.dict())
    except ValueError:
        logger.info("inbox.twilio.malformed_status", extra={"path": request.path})
        return HttpResponse("malformed", status=400, content_type="text/plain")
    services.inbound_event_record(
        provider="twilio", kind="status", provider_id=status.provider_id, payload=status.as_json()
    )
    return HttpResponse(status=204)

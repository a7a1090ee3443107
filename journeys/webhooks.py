"""POST /hooks/interactions/<source id>/ — events from systems that can only sign a body.

verify (HMAC over timestamp and raw body) → parse → the same ingestion as the API. A 2xx is sent
only after the events are committed; a redelivered body is absorbed (same derived event keys).
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_ratelimit.decorators import ratelimit

from journeys.api import error_json, ingest_body
from journeys.services import ingestion

logger = logging.getLogger(__name__)


@csrf_exempt  # a server-to-server call, authenticated by its HMAC signature instead
@require_POST
@ratelimit(key="ip", rate="600/m", block=True)
def interactions_webhook(request: HttpRequest, source_id: int) -> JsonResponse:
    timestamp = request.GET.get("timestamp") or request.headers.get("X-Cxm-Timestamp", "")
    signature = request.GET.get("signature") or request.headers.get("X-Cxm-Signature", "")
    body = request.body
    try:
        source = ingestion.source_verify(
            source_id=source_id, timestamp=timestamp, signature=signature, body=body
        )
    except ingestion.SignatureError as exc:
        logger.info(
            "journeys.webhook.rejected", extra={"source_id": source_id, "reason": exc.field}
        )
        return JsonResponse(
            error_json(exc.field or "signature", exc.message, exc.code), status=exc.status_code
        )
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return JsonResponse(
            error_json(
                "body", _("The body is not valid JSON: %(error)s") % {"error": exc}, "parse_error"
            ),
            status=400,
        )
    status, response = ingest_body(payload, key_prefix=ingestion.body_key(source, body))
    logger.info("journeys.webhook.accepted", extra={"source_id": source.pk, "status": status})
    return JsonResponse(response, status=status, safe=False)

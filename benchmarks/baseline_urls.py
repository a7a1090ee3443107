"""Baseline views for the single-event benchmark, served by ``benchmarks.baseline_settings``.

* ``POST /bench/bare``: reads the JSON body and answers; no database.
* ``POST /bench/insert``: reads the JSON body and inserts one interaction (one ``INSERT`` through
  the ORM into the same table, same indexes) for a fixed customer, then answers 201.

Both go through the app's whole middleware stack; neither authenticates. The ratio of the API's
single-event throughput to ``/bench/insert`` is what the API's own work costs.
"""

from __future__ import annotations

import json
import os

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body or b"{}")
    return JsonResponse({"status": "ok", "kind": body.get("kind")}, status=200)


@csrf_exempt
def insert(request: HttpRequest) -> JsonResponse:
    from journeys.models import Interaction

    body = json.loads(request.body or b"{}")
    interaction = Interaction.objects.create(
        customer_id=int(os.environ["CXM_BENCH_CUSTOMER_ID"]),
        channel="web",
        kind=str(body.get("kind", "page.viewed"))[:100],
        occurred_at=timezone.now(),
        summary=str(body.get("summary", ""))[:500],
        data=body.get("data") or {},
    )
    return JsonResponse({"status": "created", "id": interaction.pk}, status=201)


urlpatterns = [
    path("bench/bare", bare),
    path("bench/insert", insert),
]

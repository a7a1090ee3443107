"""Keeping the rollups current: one completed response adds its counts once (incremental upsert,
guarded by ``RolledUpResponse``); ``rollups_rebuild`` recomputes everything from the responses."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Count, F, IntegerField, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from metrics.models import ResponseDaily, RolledUpResponse
from surveys.models import Response

logger = logging.getLogger(__name__)


def _key(response: Response) -> dict[str, Any]:
    assert response.completed_at is not None
    return {
        "day": timezone.localdate(response.completed_at),
        "survey_id": response.survey_id,
        "touchpoint_id": response.touchpoint_id or 0,
        "channel": response.channel,
        "language": response.language,
    }


def response_rollup(*, response_id: int) -> bool:
    """Add one completed response to its day's counts; False if it was counted already."""
    response = Response.objects.filter(pk=response_id, completed_at__isnull=False).first()
    if response is None:
        return False
    band = response.band
    scored = response.score is not None
    try:
        with transaction.atomic():
            RolledUpResponse.objects.create(response_id=response.pk)
            row, _created = ResponseDaily.objects.select_for_update().get_or_create(
                **_key(response)
            )
            ResponseDaily.objects.filter(pk=row.pk).update(
                responses=F("responses") + 1,
                scored=F("scored") + (1 if scored else 0),
                positive=F("positive") + (1 if band == "positive" else 0),
                neutral=F("neutral") + (1 if band == "neutral" else 0),
                negative=F("negative") + (1 if band == "negative" else 0),
                score_sum=F("score_sum") + (response.score or 0),
            )
    except IntegrityError:
        return False  # counted before (the task ran twice)
    return True


def rollups_rebuild() -> int:
    """Recompute every rollup row from the completed responses (``manage.py rebuild_rollups``)."""
    band = {
        name: Count(Case(When(band=name, then=Value(1)), output_field=IntegerField()))
        for name in ("positive", "neutral", "negative")
    }
    with transaction.atomic():
        ResponseDaily.objects.all().delete()
        RolledUpResponse.objects.all().delete()
        groups = (
            Response.objects.filter(completed_at__isnull=False)
            .annotate(day=TruncDate("completed_at", tzinfo=timezone.get_current_timezone()))
            .values("day", "survey_id", "touchpoint_id", "channel", "language")
            .annotate(
                n=Count("id"),
                n_scored=Count("score"),
                total=Sum("score"),
                **{f"n_{name}": expr for name, expr in band.items()},
            )
        )
        rows = [
            ResponseDaily(
                day=g["day"],
                survey_id=g["survey_id"],
                touchpoint_id=g["touchpoint_id"] or 0,
                channel=g["channel"],
                language=g["language"],
                responses=g["n"],
                scored=g["n_scored"],
                positive=g["n_positive"],
                neutral=g["n_neutral"],
                negative=g["n_negative"],
                score_sum=g["total"] or 0,
            )
            for g in groups
        ]
        # Rows with the same grain (a NULL and a 0 touchpoint) fold together.
        merged: dict[tuple[object, ...], ResponseDaily] = {}
        for row in rows:
            key = (row.day, row.survey_id, row.touchpoint_id, row.channel, row.language)
            if key in merged:
                for name in ("responses", "scored", "positive", "neutral", "negative", "score_sum"):
                    setattr(merged[key], name, getattr(merged[key], name) + getattr(row, name))
            else:
                merged[key] = row
        ResponseDaily.objects.bulk_create(merged.values(), batch_size=2000)
        # Every response counted in these rows is marked counted, in one statement.
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO metrics_rolledupresponse (response_id) "
                "SELECT id FROM surveys_response WHERE completed_at IS NOT NULL"
            )
    logger.info("metrics.rollups.rebuilt", extra={"rows": len(merged)})
    return len(merged)

"""Journeys → stages → touchpoints: create, rename, reorder, archive. Nothing with data is deleted."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from cxm.errors import ApplicationError, Conflict
from journeys.models import Journey, Stage, Touchpoint
from journeys.services.interactions import touchpoints_changed


def journey_save(*, journey: Journey | None = None, name: str, description: str = "") -> Journey:
    name = name.strip()
    if not name:
        raise ApplicationError(_("Give the journey a name."), field="name")
    journey = journey or Journey()
    journey.name = name
    journey.description = description.strip()
    journey.save()
    return journey


def journey_archive(*, journey: Journey, archived: bool = True) -> Journey:
    journey.archived_at = timezone.now() if archived else None
    journey.save(update_fields=["archived_at"])
    return journey


def stage_save(*, journey: Journey, stage: Stage | None = None, name: str) -> Stage:
    name = name.strip()
    if not name:
        raise ApplicationError(_("Give the stage a name."), field="name")
    if stage is None:
        last = journey.stages.aggregate(m=Max("position"))["m"]
        stage = Stage(journey=journey, position=0 if last is None else last + 1)
    stage.name = name
    stage.save()
    return stage


def stage_archive(*, stage: Stage, archived: bool = True) -> Stage:
    stage.archived_at = timezone.now() if archived else None
    stage.save(update_fields=["archived_at"])
    return stage


def _reorder(queryset: Any, ordered_ids: list[int], what: str) -> None:
    """Set ``position`` from the order of ``ordered_ids``, which must be exactly the siblings."""
    current = {obj.pk: obj for obj in queryset.select_for_update()}
    if sorted(current) != sorted(ordered_ids) or len(set(ordered_ids)) != len(ordered_ids):
        raise ApplicationError(
            _("The order must list every %(what)s exactly once.") % {"what": what}, field="order"
        )
    changed = []
    for position, pk in enumerate(ordered_ids):
        obj = current[pk]
        if obj.position != position:
            obj.position = position
            changed.append(obj)
    if changed:
        type(changed[0]).objects.bulk_update(changed, ["position"])


@transaction.atomic
def stages_reorder(*, journey: Journey, ordered_ids: list[int]) -> None:
    _reorder(journey.stages.filter(archived_at__isnull=True), ordered_ids, _("stage"))


@transaction.atomic
def stage_move(*, stage: Stage, offset: int) -> None:
    """Move a stage one place left (-1) or right (+1): the keyboard alternative to dragging."""
    ids = list(stage.journey.stages.filter(archived_at__isnull=True).values_list("pk", flat=True))
    _move_in(ids, stage.pk, offset)
    _reorder(stage.journey.stages.filter(archived_at__isnull=True), ids, _("stage"))


def _move_in(ids: list[int], pk: int, offset: int) -> None:
    index = ids.index(pk)
    target = max(0, min(len(ids) - 1, index + offset))
    ids.insert(target, ids.pop(index))


def touchpoint_save(
    *,
    touchpoint: Touchpoint | None = None,
    stage: Stage,
    name: str,
    key: str,
    channel: str,
    owner_team: Any = None,
    description: str = "",
) -> Touchpoint:
    name, key = name.strip(), key.strip().lower()
    if not name:
        raise ApplicationError(_("Give the touchpoint a name."), field="name")
    if (
        touchpoint is not None
        and touchpoint.pk
        and touchpoint.key != key
        and touchpoint.interactions.exists()
    ):
        raise ApplicationError(
            _("The key cannot change once events use it; other systems send it."), field="key"
        )
    clash = Touchpoint.objects.filter(key=key)
    if touchpoint is not None and touchpoint.pk:
        clash = clash.exclude(pk=touchpoint.pk)
    if clash.exists():
        raise Conflict(_("Another touchpoint already uses this key."), field="key")
    with transaction.atomic():
        if touchpoint is None or touchpoint.stage_id != stage.pk:
            last = stage.touchpoints.aggregate(m=Max("position"))["m"]
            position = 0 if last is None else last + 1
            touchpoint = touchpoint or Touchpoint()
            touchpoint.position = position
        touchpoint.stage = stage
        touchpoint.name = name
        touchpoint.key = key
        touchpoint.channel = channel
        touchpoint.owner_team = owner_team
        touchpoint.description = description.strip()
        try:
            touchpoint.full_clean(exclude=["stage", "owner_team"])
        except ValidationError as exc:
            field, errors = next(iter(exc.message_dict.items()))
            raise ApplicationError(errors[0], field=field) from exc
        touchpoint.save()
        touchpoints_changed()  # now, and again after commit: no process keeps the old map
        transaction.on_commit(touchpoints_changed)
    return touchpoint


def touchpoint_archive(*, touchpoint: Touchpoint, archived: bool = True) -> Touchpoint:
    touchpoint.archived_at = timezone.now() if archived else None
    touchpoint.save(update_fields=["archived_at"])
    touchpoints_changed()  # now, and again after commit: no process keeps the old map
    transaction.on_commit(touchpoints_changed)
    return touchpoint


@transaction.atomic
def touchpoints_reorder(*, stage: Stage, ordered_ids: list[int]) -> None:
    """Give ``stage`` exactly these touchpoints in this order (they may come from other stages
    of the same journey: drag and drop across columns)."""
    moving = Touchpoint.objects.select_for_update().filter(
        pk__in=ordered_ids, stage__journey_id=stage.journey_id, archived_at__isnull=True
    )
    if moving.count() != len(set(ordered_ids)):
        raise ApplicationError(_("Unknown touchpoint in the order."), field="order")
    moving.exclude(stage=stage).update(stage=stage)
    _reorder(stage.touchpoints.filter(archived_at__isnull=True), ordered_ids, _("touchpoint"))


@transaction.atomic
def touchpoint_move(*, touchpoint: Touchpoint, offset: int = 0, stage_offset: int = 0) -> None:
    """Keyboard alternative to dragging: up/down within the stage, or to the stage left/right."""
    stage = touchpoint.stage
    if stage_offset:
        stages = list(
            stage.journey.stages.filter(archived_at__isnull=True).order_by("position", "id")
        )
        index = next(i for i, s in enumerate(stages) if s.pk == stage.pk)
        target = stages[max(0, min(len(stages) - 1, index + stage_offset))]
        if target.pk != stage.pk:
            ids = list(
                target.touchpoints.filter(archived_at__isnull=True).values_list("pk", flat=True)
            )
            touchpoints_reorder(stage=target, ordered_ids=[*ids, touchpoint.pk])
        return
    ids = list(stage.touchpoints.filter(archived_at__isnull=True).values_list("pk", flat=True))
    _move_in(ids, touchpoint.pk, offset)
    _reorder(stage.touchpoints.filter(archived_at__isnull=True), ids, _("touchpoint"))

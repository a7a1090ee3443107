"""Journey pages: the list, the map, and editing stages and touchpoints."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cxm.errors import ApplicationError
from journeys import selectors, services
from journeys.forms import JourneyForm, StageForm, TouchpointForm
from journeys.models import Journey, Stage, Touchpoint

PERIODS = (7, 30, 90)


def _attach(form: Any, exc: ApplicationError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


@permission_required("journeys.view_journey", raise_exception=True)
def journey_list(request: HttpRequest) -> HttpResponse:
    show_archived = request.GET.get("archived") == "1"
    form = JourneyForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("journeys.add_journey"):
            return HttpResponse(status=403)
        if form.is_valid():
            try:
                journey = services.journey_save(**form.cleaned_data)
            except ApplicationError as exc:
                _attach(form, exc)
            else:
                messages.success(
                    request,
                    _("Journey “%(name)s” was created. Add its stages.") % {"name": journey.name},
                )
                return redirect("journeys:journey-map", journey_id=journey.pk)
    return render(
        request,
        "journeys/journey_list.html",
        {
            "journeys": selectors.journey_list(include_archived=show_archived),
            "form": form,
            "show_archived": show_archived,
        },
    )


@permission_required("journeys.view_journey", raise_exception=True)
def journey_map(request: HttpRequest, journey_id: int) -> HttpResponse:
    journey = get_object_or_404(Journey, pk=journey_id)
    days = (
        int(request.GET.get("days", "30"))
        if request.GET.get("days", "30") in {str(p) for p in PERIODS}
        else 30
    )
    return render(
        request,
        "journeys/journey_map.html",
        {
            "map": selectors.journey_map(journey=journey, days=days),
            "journey": journey,
            "days": days,
            "periods": PERIODS,
            "stage_form": StageForm(),
            "can_edit": request.user.has_perm("journeys.change_journey"),
        },
    )


@permission_required("journeys.change_journey", raise_exception=True)
def journey_edit(request: HttpRequest, journey_id: int) -> HttpResponse:
    journey = get_object_or_404(Journey, pk=journey_id)
    form = JourneyForm(
        request.POST or None, initial={"name": journey.name, "description": journey.description}
    )
    if request.method == "POST":
        if "archive" in request.POST or "restore" in request.POST:
            services.journey_archive(journey=journey, archived="archive" in request.POST)
            messages.success(
                request,
                _("The journey was archived.")
                if journey.archived_at
                else _("The journey was restored."),
            )
            return redirect("journeys:journey-list")
        if form.is_valid():
            try:
                services.journey_save(journey=journey, **form.cleaned_data)
            except ApplicationError as exc:
                _attach(form, exc)
            else:
                messages.success(request, _("The journey was saved."))
                return redirect("journeys:journey-map", journey_id=journey.pk)
    return render(request, "journeys/journey_form.html", {"form": form, "journey": journey})


@permission_required("journeys.add_stage", raise_exception=True)
@require_POST
def stage_create(request: HttpRequest, journey_id: int) -> HttpResponse:
    journey = get_object_or_404(Journey, pk=journey_id)
    form = StageForm(request.POST)
    if form.is_valid():
        services.stage_save(journey=journey, name=form.cleaned_data["name"])
    else:
        messages.error(request, _("Give the stage a name."))
    return redirect("journeys:journey-map", journey_id=journey.pk)


@permission_required("journeys.change_stage", raise_exception=True)
def stage_edit(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage = get_object_or_404(Stage.objects.select_related("journey"), pk=stage_id)
    form = StageForm(request.POST or None, initial={"name": stage.name})
    if request.method == "POST":
        if "archive" in request.POST:
            if stage.touchpoints.filter(archived_at__isnull=True).exists():
                messages.error(request, _("Move or archive the stage’s touchpoints first."))
            else:
                services.stage_archive(stage=stage)
                messages.success(request, _("The stage was archived."))
            return redirect("journeys:journey-map", journey_id=stage.journey_id)
        if form.is_valid():
            services.stage_save(journey=stage.journey, stage=stage, name=form.cleaned_data["name"])
            return redirect("journeys:journey-map", journey_id=stage.journey_id)
    return render(
        request,
        "journeys/stage_form.html",
        {"form": form, "stage": stage, "journey": stage.journey},
    )


@permission_required("journeys.change_stage", raise_exception=True)
@require_POST
def stage_move(request: HttpRequest, stage_id: int) -> HttpResponse:
    stage = get_object_or_404(Stage, pk=stage_id)
    services.stage_move(stage=stage, offset=-1 if request.POST.get("direction") == "left" else 1)
    return redirect(f"{_map_url(stage.journey_id)}#stage-{stage.pk}")


def _map_url(journey_id: int) -> str:
    from django.urls import reverse

    return reverse("journeys:journey-map", args=[journey_id])


@permission_required("journeys.change_touchpoint", raise_exception=True)
def touchpoint_edit(
    request: HttpRequest, journey_id: int, touchpoint_id: int | None = None
) -> HttpResponse:
    journey = get_object_or_404(Journey, pk=journey_id)
    touchpoint = (
        get_object_or_404(Touchpoint, pk=touchpoint_id, stage__journey=journey)
        if touchpoint_id
        else None
    )
    if touchpoint is None and not request.user.has_perm("journeys.add_touchpoint"):
        return HttpResponse(status=403)
    initial: dict[str, Any] = {"stage": request.GET.get("stage")}
    if touchpoint is not None:
        initial = {
            "name": touchpoint.name,
            "key": touchpoint.key,
            "channel": touchpoint.channel,
            "stage": touchpoint.stage_id,
            "owner_team": touchpoint.owner_team_id,
            "description": touchpoint.description,
        }
    form = TouchpointForm(request.POST or None, journey=journey, initial=initial)
    if request.method == "POST":
        if touchpoint is not None and "archive" in request.POST:
            services.touchpoint_archive(touchpoint=touchpoint)
            messages.success(request, _("The touchpoint was archived; its history stays."))
            return redirect("journeys:journey-map", journey_id=journey.pk)
        if form.is_valid():
            try:
                touchpoint = services.touchpoint_save(touchpoint=touchpoint, **form.cleaned_data)
            except ApplicationError as exc:
                _attach(form, exc)
            else:
                messages.success(
                    request, _("Touchpoint “%(name)s” was saved.") % {"name": touchpoint.name}
                )
                return redirect("journeys:journey-map", journey_id=journey.pk)
    return render(
        request,
        "journeys/touchpoint_form.html",
        {"form": form, "journey": journey, "touchpoint": touchpoint},
    )


@permission_required("journeys.change_touchpoint", raise_exception=True)
@require_POST
def touchpoint_move(request: HttpRequest, touchpoint_id: int) -> HttpResponse:
    touchpoint = get_object_or_404(Touchpoint.objects.select_related("stage"), pk=touchpoint_id)
    direction = request.POST.get("direction", "")
    offsets = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
    offset, stage_offset = offsets.get(direction, (0, 0))
    services.touchpoint_move(touchpoint=touchpoint, offset=offset, stage_offset=stage_offset)
    return redirect(f"{_map_url(touchpoint.stage.journey_id)}#touchpoint-{touchpoint.pk}")


@permission_required("journeys.change_touchpoint", raise_exception=True)
@require_POST
def journey_reorder(request: HttpRequest, journey_id: int) -> HttpResponse:
    """Drag and drop: ``{"stages": [ids]}`` or ``{"stage": id, "touchpoints": [ids]}``."""
    journey = get_object_or_404(Journey, pk=journey_id)
    try:
        body = json.loads(request.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError
        if "stages" in body:
            services.stages_reorder(journey=journey, ordered_ids=[int(i) for i in body["stages"]])
        else:
            stage = get_object_or_404(Stage, pk=int(body["stage"]), journey=journey)
            services.touchpoints_reorder(
                stage=stage, ordered_ids=[int(i) for i in body["touchpoints"]]
            )
    except (ValueError, TypeError, KeyError):
        return JsonResponse({"detail": _("Malformed order.")}, status=400)
    except ApplicationError as exc:
        return JsonResponse({"detail": exc.message}, status=400)
    return JsonResponse({"ok": True})

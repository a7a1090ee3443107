"""Settings → Integrations: sources that post signed events to the webhook endpoint."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from journeys import selectors
from journeys.forms import IngestionSourceForm
from journeys.models import IngestionSource
from journeys.services import ingestion


@permission_required("journeys.view_ingestionsource", raise_exception=True)
def source_list(request: HttpRequest) -> HttpResponse:
    form = IngestionSourceForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("journeys.add_ingestionsource"):
            return HttpResponse(status=403)
        if form.is_valid():
            source = ingestion.source_create(name=form.cleaned_data["name"], user=request.user)
            request.session["issued_source_secret"] = {"id": source.pk, "secret": source.secret}
            return redirect("journeys:source-list")
    issued = request.session.pop("issued_source_secret", None)
    base = request.build_absolute_uri("/")[:-1]
    return render(
        request,
        "journeys/source_list.html",
        {
            "form": form,
            "sources": selectors.ingestion_source_list(),
            "issued": issued,
            "endpoint": base + reverse("journeys-webhook", args=[0]).replace("/0/", "/<id>/"),
        },
    )


@permission_required("journeys.change_ingestionsource", raise_exception=True)
@require_POST
def source_revoke(request: HttpRequest, source_id: int) -> HttpResponse:
    source = get_object_or_404(IngestionSource, pk=source_id)
    ingestion.source_revoke(source=source)
    messages.success(request, _("“%(name)s” can no longer send events.") % {"name": source.name})
    return redirect("journeys:source-list")

"""Customer pages: list, detail with the timeline, edit, merge and CSV import."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from cxm import csvfile
from cxm.errors import ApplicationError
from journeys import selectors, services
from journeys.forms import CustomerForm, CustomerImportForm
from journeys.models import Customer, TouchpointChannel
from journeys.presenters import timeline_days
from journeys.services.merge import MERGE_FIELDS


def _int_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() and len(value) < 19 else None


@permission_required("journeys.view_customer", raise_exception=True)
def customer_list(request: HttpRequest) -> HttpResponse:
    params = {k: str(v) for k, v in request.GET.items() if k not in ("after", "before")}
    filterset, queryset = selectors.customer_list(params=params)
    page = selectors.customer_page(
        queryset=queryset, after=_int_param(request, "after"), before=_int_param(request, "before")
    )
    context = {"filter": filterset, "page": page, "query": urlencode(params)}
    return render(request, "journeys/customer_list.html", context)


@permission_required("journeys.view_customer", raise_exception=True)
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = selectors.customer_get(customer_id=customer_id)
    if customer is None:
        raise Http404
    context = (
        _timeline_context(request, customer)
        if request.user.has_perm("journeys.view_interaction")
        else {}
    )
    return render(request, "journeys/customer_detail.html", {**context, "customer": customer})


@permission_required("journeys.change_customer", raise_exception=True)
def customer_edit(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = selectors.customer_get(customer_id=customer_id)
    if customer is None:
        raise Http404
    form = CustomerForm.for_customer(customer, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(customer=customer, values=form.service_values())
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("The customer was saved."))
            return redirect("journeys:customer-detail", customer_id=customer.pk)
    return render(request, "journeys/customer_form.html", {"form": form, "customer": customer})


@permission_required("journeys.add_customer", raise_exception=True)
def customer_create(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_create(**form.service_values())
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("The customer was created."))
            return redirect("journeys:customer-detail", customer_id=customer.pk)
    return render(request, "journeys/customer_form.html", {"form": form, "customer": None})


@permission_required("journeys.import_customers", raise_exception=True)
def customer_import(request: HttpRequest) -> HttpResponse:
    form = CustomerImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            record = services.customer_import_start(
                upload=form.cleaned_data["file"], user=request.user
            )
        except ApplicationError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("journeys:customer-import-detail", import_id=record.pk)
    return render(
        request,
        "journeys/customer_import.html",
        {"form": form, "imports": selectors.customer_import_list()},
    )


@permission_required("journeys.import_customers", raise_exception=True)
def customer_import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    record = selectors.customer_import_get(import_id=import_id)
    if record is None:
        raise Http404
    context = {
        "record": record,
        "errors": selectors.customer_import_errors(customer_import=record)
        if record.finished
        else [],
    }
    is_htmx = bool(getattr(request, "htmx", False))
    template = (
        "journeys/_import_progress.html" if is_htmx else "journeys/customer_import_detail.html"
    )
    return render(request, template, context)


@permission_required("journeys.import_customers", raise_exception=True)
def customer_import_errors_csv(request: HttpRequest, import_id: int) -> StreamingHttpResponse:
    record = selectors.customer_import_get(import_id=import_id)
    if record is None:
        raise Http404
    rows = (
        [e.row_number, e.field, e.reason]
        for e in selectors.customer_import_errors(customer_import=record, limit=None).iterator()
    )
    header = [_("row"), _("column"), _("problem")]
    return csvfile.download(
        csvfile.lines(itertools.chain([header], rows)), f"import-{record.pk}-errors.csv"
    )


# ------------------------------------------------------------------------------------------------
# Timeline (on the customer page) and merge
# ------------------------------------------------------------------------------------------------
def _timeline_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    channel = request.GET.get("channel", "")
    channel = channel if channel in dict(TouchpointChannel.choices) else ""
    kind = request.GET.get("kind", "")[:100]
    page = selectors.timeline_page(
        customer_id=customer.pk,
        channel=channel,
        kind=kind,
        cursor=request.GET.get("cursor", "")[:64],
    )
    return {
        "customer": customer,
        "timeline": page,
        "days": timeline_days(page.entries, after_day=request.GET.get("last_day", "")),
        "channel": channel,
        "kind": kind,
        "channels": TouchpointChannel.choices,
        "kinds": selectors.timeline_kinds(customer_id=customer.pk),
        "filter_query": urlencode({k: v for k, v in (("channel", channel), ("kind", kind)) if v}),
    }


@permission_required("journeys.view_interaction", raise_exception=True)
def customer_timeline(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The "load more" fragment (HTMX) of the timeline."""
    customer = selectors.customer_get(customer_id=customer_id)
    if customer is None:
        raise Http404
    return render(request, "journeys/_timeline_page.html", _timeline_context(request, customer))


@permission_required("journeys.merge_customers", raise_exception=True)
def customer_merge(request: HttpRequest, customer_id: int) -> HttpResponse:
    survivor = selectors.customer_get(customer_id=customer_id)
    if survivor is None:
        raise Http404
    other = selectors.customer_get(customer_id=_int_param(request, "other") or 0)
    if other is not None and other.pk == survivor.pk:
        other = None
    if request.method == "POST" and other is not None:
        choices = {
            name: request.POST[f"keep_{name}"]
            for name in MERGE_FIELDS
            if f"keep_{name}" in request.POST
        }
        try:
            merged = services.customer_merge(
                survivor=survivor, merged=other, choices=choices, actor=request.user
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The two records were merged into one."))
            return redirect("journeys:customer-detail", customer_id=merged.pk)
    candidates: list[Customer] = []
    q = request.GET.get("q", "").strip()[:100]
    if other is None and q:
        _filters, queryset = selectors.customer_list(params={"q": q})
        candidates = [c for c in queryset[:20] if c.pk != survivor.pk]
    rows = []
    if other is not None:
        for name in MERGE_FIELDS:
            field = Customer._meta.get_field(name)
            mine, theirs = getattr(survivor, name), getattr(other, name)
            rows.append(
                {
                    "name": name,
                    "label": getattr(field, "verbose_name", name),
                    "mine": mine,
                    "theirs": theirs,
                    "differs": mine != theirs,
                    "default": "survivor" if mine not in (None, "") else "merged",
                }
            )
    return render(
        request,
        "journeys/customer_merge.html",
        {"customer": survivor, "other": other, "rows": rows, "candidates": candidates, "q": q},
    )


@permission_required("journeys.delete_customer", raise_exception=True)
def customer_delete(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = selectors.customer_get(customer_id=customer_id)
    if customer is None:
        raise Http404
    if request.method == "POST" and request.POST.get("confirm") == str(customer.pk):
        services.customer_delete(customer=customer, actor=request.user)
        messages.success(request, _("The customer and their history were deleted."))
        return redirect("journeys:customer-list")
    return render(request, "journeys/customer_delete.html", {"customer": customer})

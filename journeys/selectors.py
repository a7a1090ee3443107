"""Every non-trivial read of customers."""

from __future__ import annotations

from dataclasses import dataclass

import django_filters
from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from journeys.models import (
    CUSTOMER_LANGUAGES,
    Channel,
    Customer,
    CustomerImport,
    CustomerImportError,
)

LIFECYCLE_QUERIES = {
    Customer.Lifecycle.PROSPECT: Q(became_customer_on__isnull=True, churned_on__isnull=True),
    Customer.Lifecycle.ACTIVE: Q(became_customer_on__isnull=False)
    & (Q(churned_on__isnull=True) | Q(churned_on__lt=F("became_customer_on"))),
    Customer.Lifecycle.CHURNED: Q(churned_on__isnull=False)
    & (Q(became_customer_on__isnull=True) | Q(churned_on__gte=F("became_customer_on"))),
}


ANY = _("Any")


class CustomerFilter(django_filters.FilterSet):
    """The filters of the customer list page and of ``GET /api/v1/customers/``."""

    q = django_filters.CharFilter(method="filter_search", label=_("Search"), max_length=100)
    language = django_filters.ChoiceFilter(
        choices=CUSTOMER_LANGUAGES, label=_("Language"), empty_label=ANY
    )
    preferred_channel = django_filters.ChoiceFilter(
        choices=Channel.choices, label=_("Preferred channel"), empty_label=ANY
    )
    lifecycle = django_filters.ChoiceFilter(
        choices=Customer.Lifecycle.choices,
        method="filter_lifecycle",
        label=_("Lifecycle"),
        empty_label=ANY,
    )
    external_id = django_filters.CharFilter(label=_("External id"), max_length=100)
    email = django_filters.CharFilter(
        field_name="email", lookup_expr="iexact", label=_("Email"), max_length=254
    )
    phone = django_filters.CharFilter(method="filter_phone", label=_("Phone"), max_length=40)
    updated_since = django_filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", label=_("Updated since")
    )

    class Meta:
        model = Customer
        fields = [
            "q",
            "language",
            "preferred_channel",
            "lifecycle",
            "external_id",
            "email",
            "phone",
            "updated_since",
        ]

    def filter_search(
        self, queryset: QuerySet[Customer], name: str, value: str
    ) -> QuerySet[Customer]:
        value = value.strip().lower()
        if not value:
            return queryset
        # Each word must appear somewhere in the customer's name, email, phone or external id.
        for word in value.split()[:5]:
            queryset = queryset.filter(search__contains=word)
        return queryset

    def filter_lifecycle(
        self, queryset: QuerySet[Customer], name: str, value: str
    ) -> QuerySet[Customer]:
        return queryset.filter(LIFECYCLE_QUERIES[Customer.Lifecycle(value)])

    def filter_phone(
        self, queryset: QuerySet[Customer], name: str, value: str
    ) -> QuerySet[Customer]:
        from journeys.services import normalize_phone

        try:
            return queryset.filter(phone=normalize_phone(value))
        except ValueError:
            return queryset.none()


@dataclass
class CustomerPage:
    customers: list[Customer]
    next_after: int | None
    prev_before: int | None


def customer_list(
    *, params: dict[str, str] | None = None
) -> tuple[CustomerFilter, QuerySet[Customer]]:
    """The filtered customers, newest first. Invalid filter values leave the form with errors."""
    filterset = CustomerFilter(params or {}, queryset=Customer.objects.all())
    if not filterset.is_valid():
        return filterset, Customer.objects.none()
    return filterset, filterset.qs.order_by("-id")


def customer_page(
    *, queryset: QuerySet[Customer], after: int | None, before: int | None, size: int = 50
) -> CustomerPage:
    """Keyset pagination on the id: every page costs the same, however deep."""
    if before is not None:
        rows = list(queryset.filter(id__gt=before).order_by("id")[: size + 1])
        has_more_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        next_after = rows[-1].id if rows else None
        return CustomerPage(rows, next_after, rows[0].id if rows and has_more_newer else None)
    if after is not None:
        queryset = queryset.filter(id__lt=after)
    rows = list(queryset.order_by("-id")[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    return CustomerPage(
        rows,
        rows[-1].id if rows and has_more else None,
        rows[0].id if rows and after is not None else None,
    )


def customer_get(*, customer_id: int) -> Customer | None:
    return Customer.objects.filter(pk=customer_id).first()


def customer_import_list(*, limit: int = 10) -> QuerySet[CustomerImport]:
    return CustomerImport.objects.select_related("created_by").order_by("-created_at")[:limit]


def customer_import_get(*, import_id: int) -> CustomerImport | None:
    return CustomerImport.objects.select_related("created_by").filter(pk=import_id).first()


def customer_import_errors(
    *, customer_import: CustomerImport, limit: int = 200
) -> QuerySet[CustomerImportError]:
    return customer_import.row_errors.order_by("row_number", "id")[:limit]

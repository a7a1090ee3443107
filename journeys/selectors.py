"""Every non-trivial read of the journeys app: customers, journeys and the timeline."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import django_filters
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from journeys.models import (
    CUSTOMER_LANGUAGES,
    Channel,
    Customer,
    CustomerImport,
    CustomerImportError,
    IngestionSource,
    Interaction,
    Journey,
    Stage,
    Touchpoint,
    TouchpointDailyVolume,
)

LIFECYCLE_QUERIES = {
    Customer.Lifecycle.PROSPECT: Q(became_customer_on__isnull=True, churned_on__isnull=True),
    Customer.Lifecycle.ACTIVE: Q(became_customer_on__isnull=False)
    & (Q(churned_on__isnull=True) | Q(churned_on__lt=F("became_customer_on"))),
    Customer.Lifecycle.CHURNED: Q(churned_on__isnull=False)
    & (Q(became_customer_on__isnull=True) | Q(churned_on__gte=F("became_customer_on"))),
}


ANY = _("Any")


def _phone_form(word: str) -> str:
    """A phone number typed the local way (0612…) is searched in the stored E.164 form."""
    if len(word) >= 6 and word[0] == "0" and word.replace("-", "").isdigit():
        from journeys.services import normalize_phone

        try:
            return normalize_phone(word).lower()
        except ValueError:
            return word
    return word


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
        words = [_phone_form(w) for w in value.strip().lower().split()[:5]]
        if not words:
            return queryset
        if all(len(w) < 3 for w in words):
            # Too short for the trigram index: match the start of the name or email instead
            # (both indexed for prefix search), not a scan of every customer.
            queryset = queryset.annotate(name_lower=Lower("name"))
            for word in words:
                queryset = queryset.filter(
                    Q(name_lower__startswith=word) | Q(email__startswith=word)
                )
            return queryset
        # Each word must appear somewhere in the customer's name, email, phone or external id;
        # the longest goes first so PostgreSQL starts from the most selective trigram match.
        for word in sorted(words, key=len, reverse=True):
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
    *, customer_import: CustomerImport, limit: int | None = 200
) -> QuerySet[CustomerImportError]:
    """The rows an import refused, in file order (the first ``limit``; all with None)."""
    return customer_import.row_errors.order_by("row_number", "id")[:limit]


# ------------------------------------------------------------------------------------------------
# Journeys and the journey map
# ------------------------------------------------------------------------------------------------
def journey_get(*, journey_id: int) -> Journey | None:
    return Journey.objects.filter(pk=journey_id).first()


def journey_list(*, include_archived: bool = False) -> QuerySet[Journey]:
    qs = Journey.objects.annotate(
        stage_count=Count("stages", filter=Q(stages__archived_at__isnull=True), distinct=True),
        touchpoint_count=Count(
            "stages__touchpoints",
            filter=Q(stages__touchpoints__archived_at__isnull=True),
            distinct=True,
        ),
    )
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    return qs.order_by("archived_at", "name", "id")


@dataclass
class TouchpointCard:
    touchpoint: Touchpoint
    total: int
    series: list[int]

    @property
    def sparkline_points(self) -> str:
        """SVG polyline points on a 100 by 24 box (drawn server-side: no chart script needed)."""
        if not self.series:
            return ""
        top = max(self.series) or 1
        step = 100 / max(1, len(self.series) - 1)
        return " ".join(
            f"{i * step:.1f},{24 - (v / top) * 22 - 1:.1f}" for i, v in enumerate(self.series)
        )


@dataclass
class StageColumn:
    stage: Stage
    cards: list[TouchpointCard]


@dataclass
class JourneyMap:
    journey: Journey
    columns: list[StageColumn]
    start: dt.date
    end: dt.date


def journey_map(*, journey: Journey, days: int, today: dt.date | None = None) -> JourneyMap:
    """Stages as columns, touchpoints as cards with their interaction volume per day in the period.

    Volumes come from the daily rollup (``TouchpointDailyVolume``): one indexed query, whatever
    the size of the interaction log.
    """
    end = today or timezone.localdate(timezone.now(), dt.UTC)
    start = end - dt.timedelta(days=days - 1)
    stages = list(
        journey.stages.filter(archived_at__isnull=True)
        .order_by("position", "id")
        .prefetch_related(
            Prefetch(
                "touchpoints",
                queryset=Touchpoint.objects.filter(archived_at__isnull=True)
                .select_related("owner_team")
                .order_by("position", "id"),
            )
        )
    )
    ids = [t.pk for s in stages for t in s.touchpoints.all()]
    volumes: dict[int, dict[dt.date, int]] = defaultdict(dict)
    for touchpoint_id, day, count in TouchpointDailyVolume.objects.filter(
        touchpoint_id__in=ids, day__gte=start, day__lte=end
    ).values_list("touchpoint_id", "day", "count"):
        volumes[touchpoint_id][day] = count
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    columns = []
    for stage in stages:
        cards = []
        for touchpoint in stage.touchpoints.all():
            series = [volumes[touchpoint.pk].get(d, 0) for d in dates]
            cards.append(TouchpointCard(touchpoint=touchpoint, total=sum(series), series=series))
        columns.append(StageColumn(stage=stage, cards=cards))
    return JourneyMap(journey=journey, columns=columns, start=start, end=end)


def touchpoint_list(*, include_archived: bool = False) -> QuerySet[Touchpoint]:
    qs = Touchpoint.objects.select_related("stage__journey", "owner_team")
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    return qs.order_by("stage__journey__name", "stage__position", "position", "id")


# ------------------------------------------------------------------------------------------------
# The customer timeline
# ------------------------------------------------------------------------------------------------
TIMELINE_PAGE = 25


@dataclass
class TimelinePage:
    entries: list[Interaction]
    next_cursor: str | None


def encode_cursor(interaction: Interaction) -> str:
    return f"{interaction.occurred_at.timestamp():.6f}_{interaction.pk}"


def decode_cursor(cursor: str) -> tuple[dt.datetime, int] | None:
    try:
        stamp, pk = cursor.split("_", 1)
        return dt.datetime.fromtimestamp(float(stamp), tz=dt.UTC), int(pk)
    except (ValueError, OverflowError, OSError):
        return None


def timeline_page(
    *,
    customer_id: int,
    channel: str = "",
    kind: str = "",
    cursor: str = "",
    size: int = TIMELINE_PAGE,
) -> TimelinePage:
    """One page of a customer's interactions, newest first, keyset-paginated on
    (occurred_at, id): every page is an index range scan, however deep."""
    qs = Interaction.objects.filter(customer_id=customer_id).select_related("touchpoint")
    if channel:
        qs = qs.filter(channel=channel)
    if kind:
        qs = qs.filter(kind=kind)
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        moment, pk = position
        # "occurred_at <= t" bounds the index range; the OR breaks ties on the same instant.
        qs = qs.filter(Q(occurred_at__lte=moment) & (Q(occurred_at__lt=moment) | Q(id__lt=pk)))
    rows = list(qs.order_by("-occurred_at", "-id")[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    return TimelinePage(
        entries=rows, next_cursor=encode_cursor(rows[-1]) if has_more and rows else None
    )


def timeline_kinds(*, customer_id: int) -> list[str]:
    return list(
        Interaction.objects.filter(customer_id=customer_id)
        .values_list("kind", flat=True)
        .distinct()
        .order_by("kind")[:100]
    )


def ingestion_source_list() -> QuerySet[IngestionSource]:
    return IngestionSource.objects.order_by("revoked_at", "name")

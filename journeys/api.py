"""REST API of the journeys app: customers, interaction ingestion, timelines, touchpoints."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxm.api import StrictSerializer, bad_request
from cxm.core.services import idempotent_call
from journeys import selectors, services
from journeys.models import (
    CUSTOMER_LANGUAGES,
    Channel,
    Customer,
    Interaction,
    Touchpoint,
    TouchpointChannel,
)
from journeys.presenters import source_link
from journeys.selectors import CustomerFilter
from journeys.services import interactions

BULK_MAX = 1000


class CustomerOutput(serializers.ModelSerializer):
    lifecycle = serializers.CharField(read_only=True)

    class Meta:
        model = Customer
        fields = (
            "id",
            "external_id",
            "name",
            "email",
            "phone",
            "language",
            "preferred_channel",
            "timezone",
            "attributes",
            "became_customer_on",
            "churned_on",
            "lifecycle",
            "value",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class CustomerInput(StrictSerializer):
    """Documents the input; the rules themselves live in ``journeys.services.customer_clean``."""

    external_id = serializers.CharField(max_length=100, required=False, allow_null=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(
        required=False, allow_blank=True, help_text="Any common format; stored as E.164."
    )
    language = serializers.ChoiceField(choices=CUSTOMER_LANGUAGES, required=False, allow_blank=True)
    preferred_channel = serializers.ChoiceField(
        choices=Channel.choices, required=False, allow_blank=True
    )
    timezone = serializers.CharField(
        required=False, allow_blank=True, help_text="IANA name, e.g. Europe/Amsterdam"
    )
    attributes = serializers.DictField(required=False)
    became_customer_on = serializers.DateField(required=False, allow_null=True)
    churned_on = serializers.DateField(required=False, allow_null=True)
    value = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True
    )


def _object_body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"body": [_("Expected a JSON object.")]})
    return dict(request.data)


def _rethrow(exc: ValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else {"body": exc.messages}
    )


class CustomerListCreateApi(generics.ListAPIView):
    serializer_class = CustomerOutput
    filterset_class = CustomerFilter
    required_permissions = {"GET": ["journeys.view_customer"], "POST": ["journeys.add_customer"]}

    def get_queryset(self) -> Any:
        return Customer.objects.all()

    @extend_schema(request=CustomerInput, responses={201: CustomerOutput})
    def post(self, request: Request) -> Response:
        try:
            customer = services.customer_create(**_object_body(request))
        except ValidationError as exc:
            raise _rethrow(exc) from exc
        return Response(CustomerOutput(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailApi(APIView):
    required_permissions = {
        "GET": ["journeys.view_customer"],
        "PATCH": ["journeys.change_customer"],
        "PUT": ["journeys.change_customer"],
    }

    @extend_schema(responses=CustomerOutput)
    def get(self, request: Request, pk: int) -> Response:
        return Response(CustomerOutput(get_object_or_404(Customer, pk=pk)).data)

    @extend_schema(request=CustomerInput, responses=CustomerOutput)
    def patch(self, request: Request, pk: int) -> Response:
        customer = get_object_or_404(Customer, pk=pk)
        try:
            customer = services.customer_update(customer=customer, values=_object_body(request))
        except ValidationError as exc:
            raise _rethrow(exc) from exc
        return Response(CustomerOutput(customer).data)

    @extend_schema(request=CustomerInput, responses=CustomerOutput)
    def put(self, request: Request, pk: int) -> Response:
        return self.patch(request, pk)


class BulkResult(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "rejected"])
    id = serializers.IntegerField(allow_null=True)
    errors = serializers.ListField(child=serializers.DictField())  # type: ignore[assignment]


class CustomerBulkUpsertApi(APIView):
    """Create or update up to 1,000 customers; each one succeeds or fails on its own."""

    required_permissions = {"POST": ["journeys.add_customer", "journeys.change_customer"]}

    @extend_schema(
        request=inline_serializer(
            name="CustomerBulkInput", fields={"customers": CustomerInput(many=True)}
        ),
        responses=inline_serializer(
            name="CustomerBulkOutput",
            fields={
                "created": serializers.IntegerField(),
                "updated": serializers.IntegerField(),
                "unchanged": serializers.IntegerField(),
                "rejected": serializers.IntegerField(),
                "results": BulkResult(many=True),
            },
        ),
    )
    def post(self, request: Request) -> Response:
        data = request.data
        rows = data.get("customers") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            return bad_request("customers", _("Expected a list of customers under “customers”."))
        if not rows:
            return bad_request("customers", _("The list is empty."))
        if len(rows) > BULK_MAX:
            return bad_request(
                "customers",
                _("At most %(max)d customers per call; got %(got)d.")
                % {"max": BULK_MAX, "got": len(rows)},
                "too_many",
            )
        cleaned = [
            services.customer_clean(row)
            if isinstance(row, dict)
            else services.CleanRow(values={}, errors={"": _("Expected a JSON object.")})
            for row in rows
        ]
        results = services.customers_upsert(cleaned)
        counts = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
        body = []
        for result in results:
            counts[result.status] += 1
            body.append(
                {
                    "index": result.index,
                    "status": result.status,
                    "id": result.customer.pk if result.customer else None,
                    "errors": [
                        {
                            "field": f"customers[{result.index}].{name}"
                            if name
                            else f"customers[{result.index}]",
                            "code": "invalid",
                            "message": message,
                        }
                        for name, message in result.errors.items()
                    ],
                }
            )
        return Response({**counts, "results": body})


# ------------------------------------------------------------------------------------------------
# Interactions: ingestion, the timeline, touchpoints
# ------------------------------------------------------------------------------------------------
class InteractionEventInput(StrictSerializer):
    """One event. The rules live in ``journeys.services.interactions``; this documents them."""

    kind = serializers.RegexField(r"^[a-z0-9][a-z0-9_.-]{0,99}$", help_text="e.g. order.delivered")
    occurred_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601; default now; not in the future"
    )
    customer = inline_serializer(
        name="InteractionCustomer",
        fields={
            "external_id": serializers.CharField(required=False),
            "email": serializers.EmailField(required=False),
            "phone": serializers.CharField(required=False),
            "name": serializers.CharField(required=False),
        },
    )
    touchpoint = serializers.CharField(required=False, help_text="A touchpoint key")
    channel = serializers.ChoiceField(choices=TouchpointChannel.choices, required=False)
    summary = serializers.CharField(required=False, max_length=500)
    url = serializers.URLField(required=False, help_text="Link to the event in the sending system")
    data = serializers.DictField(required=False, help_text="Free data, at most 16 KB")  # type: ignore[assignment]
    idempotency_key = serializers.CharField(required=False, max_length=200)


class EventResultOutput(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "duplicate", "rejected"])
    id = serializers.IntegerField(allow_null=True)
    customer_id = serializers.IntegerField(allow_null=True)
    errors = serializers.ListField(child=serializers.DictField())  # type: ignore[assignment]


BatchOutput = inline_serializer(
    name="InteractionBatchOutput",
    fields={
        "created": serializers.IntegerField(),
        "duplicate": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "results": EventResultOutput(many=True),
    },
)


def ingest_body(body: Any, *, key_prefix: str | None) -> tuple[int, dict[str, Any]]:
    """Shared by the API and the signed webhook: one event (an object) or ``{"events": [...]}``."""
    if isinstance(body, dict) and "events" in body:
        events = body["events"]
        if set(body) - {"events"}:
            return 400, error_json("body", _("A batch has only the key “events”."))
        if not isinstance(events, list) or not events:
            return 400, error_json("events", _("Expected a non-empty list of events."))
        if len(events) > interactions.BATCH_MAX:
            return 400, error_json(
                "events",
                _("At most %(max)d events per batch; got %(got)d. Nothing was stored.")
                % {"max": interactions.BATCH_MAX, "got": len(events)},
                "too_many",
            )
        results = services.interactions_ingest(events=events, key_prefix=key_prefix)
        counts = {"created": 0, "duplicate": 0, "rejected": 0}
        for result in results:
            counts[result.status] += 1
        return 200, {
            **counts,
            "results": [r.as_json(prefix=f"events[{r.index}].") for r in results],
        }
    if not isinstance(body, dict):
        return 400, error_json(
            "body", _('Expected a JSON object: one event, or {"events": [...]}.')
        )
    result = services.interactions_ingest(events=[body], key_prefix=key_prefix)[0]
    if result.status == "rejected":
        errors = [
            {"field": e["field"] or "body", "code": "invalid", "message": e["message"]}
            for e in result.as_json()["errors"]
        ]
        return 400, {
            "detail": errors[0]["message"]
            if len(errors) == 1
            else _("The event has invalid fields."),
            "errors": errors,
        }
    return (201 if result.status == "created" else 200), result.as_json()


def error_json(field: str, message: str, code: str = "invalid") -> dict[str, Any]:
    return {"detail": message, "errors": [{"field": field, "code": code, "message": message}]}


class InteractionIngestApi(APIView):
    """Record one event, or a batch of up to 1,000 (``{"events": [...]}``).

    Send an ``Idempotency-Key`` header to make retries safe: a replay returns the original answer
    and stores nothing. Per-event ``idempotency_key`` values are absorbed as ``duplicate``.
    """

    required_permissions = {"POST": ["journeys.add_interaction"]}

    @extend_schema(
        request=InteractionEventInput,
        responses={201: EventResultOutput, 200: BatchOutput},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Makes a retry safe",
            )
        ],
    )
    def post(self, request: Request) -> Response:
        body = request.data
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 200:
            return bad_request("Idempotency-Key", _("At most 200 characters."))
        if not key:
            code, payload = ingest_body(body, key_prefix=None)
            return Response(payload, status=code)
        stored = idempotent_call(
            scope="interactions",
            key=key,
            owner_id=int(request.user.pk or 0),
            body=body,
            handler=lambda: ingest_body(body, key_prefix=f"u{request.user.pk}:{key}"),
        )
        response = Response(stored.body, status=stored.status_code)
        if stored.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class TimelineEntryOutput(serializers.ModelSerializer):
    touchpoint: serializers.SlugRelatedField[Touchpoint] = serializers.SlugRelatedField(
        slug_field="key", read_only=True
    )
    link = serializers.SerializerMethodField()

    class Meta:
        model = Interaction
        fields = (
            "id",
            "kind",
            "channel",
            "touchpoint",
            "occurred_at",
            "summary",
            "link",
            "data",
            "created_at",
        )
        read_only_fields = fields

    def get_link(self, obj: Interaction) -> str:
        return source_link(obj)


class TimelineApi(APIView):
    """A customer's interactions, newest first; ``cursor`` from ``next`` for the following page."""

    required_permissions = {"GET": ["journeys.view_interaction"]}

    @extend_schema(
        parameters=[
            OpenApiParameter("channel", str, enum=[c for c, _l in TouchpointChannel.choices]),
            OpenApiParameter("kind", str),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int, description="1 to 200, default 25"),
        ],
        responses=inline_serializer(
            name="TimelinePage",
            fields={
                "next": serializers.CharField(allow_null=True),
                "results": TimelineEntryOutput(many=True),
            },
        ),
    )
    def get(self, request: Request, pk: int) -> Response:
        get_object_or_404(Customer, pk=pk)
        channel = request.query_params.get("channel", "")
        if channel and channel not in dict(TouchpointChannel.choices):
            return bad_request("channel", _("Unknown channel."))
        cursor = request.query_params.get("cursor", "")
        if cursor and selectors.decode_cursor(cursor) is None:
            return bad_request("cursor", _("Invalid cursor."))
        size_param = request.query_params.get("page_size", "25")
        if not size_param.isdigit() or not 1 <= int(size_param) <= 200:
            return bad_request("page_size", _("Must be a whole number from 1 to 200."))
        page = selectors.timeline_page(
            customer_id=pk,
            channel=channel,
            kind=request.query_params.get("kind", "")[:100],
            cursor=cursor,
            size=int(size_param),
        )
        next_url = None
        if page.next_cursor:
            params = request.query_params.copy()
            params["cursor"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response(
            {"next": next_url, "results": TimelineEntryOutput(page.entries, many=True).data}
        )


class TouchpointOutput(serializers.ModelSerializer):
    journey = serializers.CharField(source="stage.journey.name", read_only=True)
    stage = serializers.CharField(source="stage.name", read_only=True)
    owner_team = serializers.CharField(source="owner_team.name", read_only=True, allow_null=True)

    class Meta:
        model = Touchpoint
        fields = ("id", "key", "name", "channel", "journey", "stage", "owner_team", "description")
        read_only_fields = fields


class TouchpointListApi(generics.ListAPIView):
    """The active touchpoints and their keys, for systems that post events."""

    serializer_class = TouchpointOutput
    required_permissions = {"GET": ["journeys.view_touchpoint"]}
    pagination_class = None

    def get_queryset(self) -> Any:
        return selectors.touchpoint_list()

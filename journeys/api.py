"""REST API for customers: list/filter, retrieve, create, update, and bulk upsert."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxm.api import StrictSerializer, bad_request
from journeys import services
from journeys.models import CUSTOMER_LANGUAGES, Channel, Customer
from journeys.selectors import CustomerFilter

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
                            "message": message,
                        }
                        for name, message in result.errors.items()
                    ],
                }
            )
        return Response({**counts, "results": body})

"""REST API of the inbox: the API channel for any other system."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxm.api import StrictSerializer
from inbox import services
from inbox.models import ChannelAccount, ChannelKind


class ApiMessageInput(StrictSerializer):
    channel_account = serializers.IntegerField(
        help_text="Id of an active channel account of kind “api”"
    )
    customer = inline_serializer(
        name="InboxCustomer",
        fields={
            "external_id": serializers.CharField(required=False),
            "email": serializers.EmailField(required=False),
            "phone": serializers.CharField(required=False),
            "name": serializers.CharField(required=False),
        },
    )
    subject = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    text = serializers.CharField(max_length=20_000)
    external_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        default="",
        help_text="Your id of the message: a retry with the same id is absorbed",
    )


class InboxMessageApi(APIView):
    """Post a customer's message from any other system into the shared inbox."""

    required_permissions = {"POST": ["inbox.add_message"]}

    @extend_schema(
        request=ApiMessageInput,
        responses={
            202: inline_serializer(
                name="InboxMessageAccepted",
                fields={"id": serializers.IntegerField(), "status": serializers.CharField()},
            )
        },
    )
    def post(self, request: Request) -> Response:
        form = ApiMessageInput(data=request.data)
        form.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(form.validated_data)
        account = ChannelAccount.objects.filter(
            pk=data["channel_account"], kind=ChannelKind.API, is_active=True
        ).first()
        if account is None:
            raise serializers.ValidationError(
                {"channel_account": [_("No active API channel account has this id.")]}
            )
        event, created = services.api_message_receive(
            account=account,
            customer=data["customer"],
            text=data["text"],
            subject=data["subject"],
            external_id=data["external_id"],
        )
        return Response(
            {"id": event.pk, "status": "queued" if created else "duplicate"},
            status=status.HTTP_202_ACCEPTED,
        )

"""REST API of the surveys app, read-only: surveys with their questions, responses with their
answers, the answers themselves, and the CSV export of a survey's responses.

Filter values are checked the way the response list page checks them
(``surveys.selectors.ResponseFilters.parse``), but where the page leaves a bad filter out and says
so, the API answers 400 naming the parameter: a script must never get other rows than it asked for.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from cxm.api import StrictSerializer
from cxm.errors import NotFound
from journeys.models import Touchpoint
from surveys import selectors
from surveys.models import Answer, Band, Invitation, Question, Response, Survey, SurveyChannel
from surveys.services import distribution as distribution_services

# Largest value of a BigAutoField: a larger "id" can match nothing and must not reach the database.
ID_MAX = 2**63 - 1

ErrorOutput = inline_serializer(
    name="ApiError",
    fields={
        "detail": serializers.CharField(),
        "errors": inline_serializer(
            name="ApiErrorItem",
            fields={
                "field": serializers.CharField(allow_null=True),
                "code": serializers.CharField(),
                "message": serializers.CharField(),
            },
            many=True,
        ),
    },
)


# ------------------------------------------------------------------------------------------------
# Query parameters
# ------------------------------------------------------------------------------------------------
def _id(raw: str) -> int | None:
    """A positive database id from a query parameter, or None. ``str.isdigit`` alone is not
    enough: it accepts "²", which ``int`` refuses."""
    if raw.isascii() and raw.isdigit() and 0 < int(raw) <= ID_MAX:
        return int(raw)
    return None


def _unknown(raw: str) -> str:
    return _("Unknown value “%(value)s”.") % {"value": raw[:50]}


def _invalid(errors: dict[str, str]) -> serializers.ValidationError:
    return serializers.ValidationError({name: [message] for name, message in errors.items()})


def _survey_param(params: Any, errors: dict[str, str], *, required: bool) -> Survey | None:
    raw = (params.get("survey") or "").strip()
    if not raw:
        if required:
            errors["survey"] = _("Choose a survey: give its id in “survey”.")
        return None
    survey_id = _id(raw)
    survey = Survey.objects.filter(pk=survey_id).first() if survey_id else None
    if survey is None:
        errors["survey"] = _("No survey has the id “%(value)s”.") % {"value": raw[:50]}
    return survey


def _response_filters(
    request: Request, *, survey_required: bool
) -> tuple[Survey | None, selectors.ResponseFilters]:
    """The survey and the response filters of the query string; a 400 naming every bad one."""
    params = request.query_params.copy()
    errors: dict[str, str] = {}
    survey = _survey_param(params, errors, required=survey_required)
    raw_customer = (params.get("customer") or "").strip()
    if raw_customer and _id(raw_customer) is None:
        # Checked here too: the selector turns "0" into no filter at all and "²" into a 500.
        errors["customer"] = _unknown(raw_customer)
        params.pop("customer")
    filters, filter_errors = selectors.ResponseFilters.parse(params, survey)
    errors.update(filter_errors)
    if filters.until == dt.date.max:
        # The selector adds a day to "until", which overflows on the last day there is.
        errors["until"] = _("Enter a date as YYYY-MM-DD.")
    if errors:
        raise _invalid(errors)
    return survey, filters


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------
class QuestionOutput(serializers.ModelSerializer):
    class Meta:
        model = Question
        fields = (
            "id",
            "key",
            "position",
            "type",
            "required",
            "metric",
            "scale_min",
            "scale_max",
            "good_end",
            "texts",
            "choices",
            "condition",
        )
        read_only_fields = fields


SURVEY_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "kind",
    "status",
    "default_language",
    "languages",
    "touchpoint",
    "display",
    "version",
    "completed_responses",
    "expires_at",
    "created_at",
    "updated_at",
    "activated_at",
    "closed_at",
)


class SurveyOutput(serializers.ModelSerializer):
    touchpoint: serializers.SlugRelatedField[Touchpoint] = serializers.SlugRelatedField(
        slug_field="key", read_only=True, allow_null=True
    )
    # No enum in the schema for "status" and "channel": other components already have enums of
    # those names, and a second choice set would rename theirs (drf-spectacular names enums by
    # field name) and break generated clients.
    status = serializers.CharField(read_only=True, help_text=", ".join(Survey.Status.values))
    completed_responses = serializers.IntegerField(source="completed", read_only=True)

    class Meta:
        model = Survey
        fields = SURVEY_FIELDS
        read_only_fields = fields


class SurveyDetailOutput(SurveyOutput):
    questions = QuestionOutput(many=True, read_only=True)

    class Meta:
        model = Survey
        fields = (*SURVEY_FIELDS, "texts", "thank_you_links", "questions")
        read_only_fields = fields


class ResponseAnswerOutput(serializers.ModelSerializer):
    question = serializers.CharField(source="question.key", read_only=True)

    class Meta:
        model = Answer
        fields = ("question", "number", "choices", "text")
        read_only_fields = fields


class ResponseOutput(serializers.ModelSerializer):
    touchpoint: serializers.SlugRelatedField[Touchpoint] = serializers.SlugRelatedField(
        slug_field="key", read_only=True, allow_null=True
    )
    channel = serializers.CharField(read_only=True, help_text=", ".join(SurveyChannel.values))
    answers = ResponseAnswerOutput(many=True, read_only=True, source="answer_list")

    class Meta:
        model = Response
        fields = (
            "id",
            "survey",
            "customer",
            "language",
            "channel",
            "touchpoint",
            "survey_version",
            "score",
            "band",
            "started_at",
            "completed_at",
            "answers",
        )
        read_only_fields = fields


class AnswerOutput(serializers.ModelSerializer):
    survey = serializers.IntegerField(source="question.survey_id", read_only=True)
    question = serializers.CharField(source="question.key", read_only=True)

    class Meta:
        model = Answer
        fields = (
            "id",
            "survey",
            "response",
            "question",
            "number",
            "choices",
            "text",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


# ------------------------------------------------------------------------------------------------
# Views
# ------------------------------------------------------------------------------------------------
BAD_REQUEST = {400: ErrorOutput}
NOT_FOUND = {404: ErrorOutput}
RESPONSE_FILTERS = [
    OpenApiParameter("since", OpenApiTypes.DATE, description="Started on or after this day"),
    OpenApiParameter("until", OpenApiTypes.DATE, description="Started on or before this day"),
    OpenApiParameter("band", str, enum=Band.values),
    OpenApiParameter(
        "language",
        str,
        description="A language code of the survey; without ``survey``, any language of cxm",
    ),
    OpenApiParameter("channel", str, enum=SurveyChannel.values),
    OpenApiParameter("state", str, enum=["complete", "partial"]),
    OpenApiParameter("customer", int, description="A customer id"),
]


class SurveyListApi(generics.ListAPIView):
    """Surveys, newest first."""

    serializer_class = SurveyOutput
    required_permissions = {"GET": ["surveys.view_survey"]}

    def get_queryset(self) -> QuerySet[Survey]:
        status = (self.request.query_params.get("status") or "").strip()
        if status and status not in Survey.Status.values:
            raise _invalid({"status": _unknown(status)})
        return selectors.survey_list(status=status)

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=Survey.Status.values)],
        responses={200: SurveyOutput(many=True), **BAD_REQUEST},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> ApiResponse:
        return super().get(request, *args, **kwargs)


class SurveyDetailApi(APIView):
    """A survey with its questions in order; texts per language code."""

    required_permissions = {"GET": ["surveys.view_survey"]}

    @extend_schema(responses={200: SurveyDetailOutput, **NOT_FOUND})
    def get(self, request: Request, pk: int) -> ApiResponse:
        survey = get_object_or_404(selectors.survey_list().prefetch_related("questions"), pk=pk)
        return ApiResponse(SurveyDetailOutput(survey).data)


class ResponseListApi(generics.ListAPIView):
    """Responses, newest first, each with its answers."""

    serializer_class = ResponseOutput
    required_permissions = {"GET": ["surveys.view_response"]}

    def get_queryset(self) -> QuerySet[Response]:
        survey, filters = _response_filters(self.request, survey_required=False)
        return selectors.response_list(survey=survey, filters=filters)

    @extend_schema(
        parameters=[OpenApiParameter("survey", int, description="A survey id"), *RESPONSE_FILTERS],
        responses={200: ResponseOutput(many=True), **BAD_REQUEST},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> ApiResponse:
        return super().get(request, *args, **kwargs)


class ResponseDetailApi(APIView):
    """One response with its answers."""

    required_permissions = {"GET": ["surveys.view_response"]}

    @extend_schema(responses={200: ResponseOutput, **NOT_FOUND})
    def get(self, request: Request, pk: int) -> ApiResponse:
        response = get_object_or_404(selectors.responses_with_answers(), pk=pk)
        return ApiResponse(ResponseOutput(response).data)


class ResponseExportApi(APIView):
    """A survey's responses as CSV, one column per question key, streamed however many there
    are. Takes the filters of the response list; ``survey`` is required."""

    required_permissions = {"GET": ["surveys.export_responses"]}

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # Success is CSV (a StreamingHttpResponse, no renderer involved) and an error is the
        # usual JSON body, whatever the Accept header asked for; "Accept: text/csv" is no 406.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        parameters=[
            OpenApiParameter("survey", int, required=True, description="A survey id"),
            *RESPONSE_FILTERS,
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR, **BAD_REQUEST},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        survey, filters = _response_filters(request, survey_required=True)
        assert survey is not None  # required above
        return selectors.responses_csv_download(survey=survey, filters=filters)


class AnswerListApi(generics.ListAPIView):
    """Answers, newest first; ``question`` is a question key of the given ``survey``."""

    serializer_class = AnswerOutput
    required_permissions = {"GET": ["surveys.view_answer"]}

    def get_queryset(self) -> QuerySet[Answer]:
        params = self.request.query_params
        errors: dict[str, str] = {}
        survey = _survey_param(params, errors, required=False)
        raw_response = (params.get("response") or "").strip()
        response_id = _id(raw_response) if raw_response else None
        if raw_response and response_id is None:
            errors["response"] = _unknown(raw_response)
        key = (params.get("question") or "").strip()
        question = None
        if key and survey is not None:
            question = survey.questions.filter(key=key).first()
            if question is None:
                errors["question"] = _("The survey has no question with the key “%(key)s”.") % {
                    "key": key[:50]
                }
        elif key and "survey" not in errors:
            errors["question"] = _("A question key needs a survey: give its id in “survey”.")
        if errors:
            raise _invalid(errors)
        return selectors.answer_list(survey=survey, response_id=response_id, question=question)

    @extend_schema(
        parameters=[
            OpenApiParameter("survey", int, description="A survey id"),
            OpenApiParameter("response", int, description="A response id"),
            OpenApiParameter("question", str, description="A question key; needs “survey”"),
        ],
        responses={200: AnswerOutput(many=True), **BAD_REQUEST},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> ApiResponse:
        return super().get(request, *args, **kwargs)


# ------------------------------------------------------------------------------------------------
# The trigger API: invite one customer
# ------------------------------------------------------------------------------------------------
class CustomerRef(StrictSerializer):
    id = serializers.IntegerField(required=False, min_value=1)
    external_id = serializers.CharField(required=False, max_length=100)
    email = serializers.EmailField(required=False)
    phone = serializers.CharField(required=False, max_length=40)


class InvitationInput(StrictSerializer):
    customer = CustomerRef()
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=["email", "sms", "whatsapp"]),
        required=False,
        allow_empty=False,
        help_text="In order of preference; default: the customer's preferred channel, then "
        "email, sms, whatsapp.",
    )
    touchpoint = serializers.SlugRelatedField(
        slug_field="key", queryset=Touchpoint.objects.all(), required=False
    )
    send_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    agent_name = serializers.CharField(required=False, max_length=100)
    conversation = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The inbox conversation the survey asks about: its team and agent are "
        "credited with the answer on the dashboards.",
    )


class InvitationOutput(serializers.ModelSerializer):
    link = serializers.SerializerMethodField()
    # Plain strings in the schema: other components already use the enum names "channel" and
    # "status" for other choices.
    channel = serializers.CharField(help_text="email, sms or whatsapp")
    status = serializers.CharField(help_text="queued (sent now) or planned (sent at send_at)")

    class Meta:
        model = Invitation
        fields = ("id", "survey", "customer", "channel", "status", "send_at", "expires_at", "link")
        read_only_fields = fields

    def get_link(self, invitation: Invitation) -> str:
        return settings.PUBLIC_BASE_URL + reverse("surveys:respond", args=[invitation.token])


class InvitationCreateApi(APIView):
    """Invite one customer to a survey — the call other systems make after an order or a ticket.

    The contact rules apply: a customer who is opted out, suppressed, unreachable on the given
    channels or invited recently gets a 409 whose error ``code`` names the reason
    (``opted_out``, ``suppressed``, ``no_address``, ``throttled``)."""

    required_permissions = {"POST": ["surveys.add_invitation"]}

    @extend_schema(
        request=InvitationInput,
        responses={201: InvitationOutput, **BAD_REQUEST, **NOT_FOUND, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, pk: int) -> ApiResponse:
        survey = get_object_or_404(Survey, pk=pk)
        data = InvitationInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        ref = values["customer"]
        if not ref:
            raise serializers.ValidationError(
                {"customer": [_("Name the customer by id, external_id, email or phone.")]}
            )
        customer = selectors.customer_by(
            id=ref.get("id"),
            external_id=ref.get("external_id"),
            email=ref.get("email"),
            phone=ref.get("phone"),
        )
        if customer is None:
            raise NotFound(_("No such customer."), field="customer")
        conversation_id = values.get("conversation")
        if conversation_id and not selectors.conversation_of_customer(
            conversation_id=conversation_id, customer=customer
        ):
            raise serializers.ValidationError(
                {"conversation": [_("No conversation with this id for this customer.")]}
            )
        invitation = distribution_services.invitation_request(
            survey=survey,
            customer=customer,
            channels=values.get("channels"),
            touchpoint=values.get("touchpoint"),
            send_at=values.get("send_at"),
            merge={"agent_name": values["agent_name"]} if values.get("agent_name") else None,
            conversation_id=conversation_id,
        )
        return ApiResponse(InvitationOutput(invitation).data, status=201)

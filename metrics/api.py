"""``/api/v1/metrics/…``: every dashboard figure with the dashboards' filters, and the user's
report subscriptions.

Each figure endpoint reads its filters from the query string the way the dashboards do
(``metrics.filters``), and calls one selector. Where a dashboard shows a bad filter's message
beside an empty state, the API answers 400 naming each bad parameter: a script must never get a
figure computed from other filters than it asked for. A user who may not see everyone's figures
(an agent) gets their own, whatever ``agent`` says; ``filters.agent`` in the answer shows it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxm.api import StrictSerializer
from cxm.errors import NotFound
from journeys import selectors as journey_selectors
from metrics import reports, selectors
from metrics.filters import CHANNELS, GRAINS, NAMES, PERIODS, Filters
from metrics.models import ReportSubscription
from surveys.api import ErrorOutput

VERBATIMS_MAX = 100


# ------------------------------------------------------------------------------------------------
# Query parameters
# ------------------------------------------------------------------------------------------------
def _invalid(errors: dict[str, str]) -> serializers.ValidationError:
    return serializers.ValidationError({name: [message] for name, message in errors.items()})


def _filters(request: Request, errors: dict[str, str] | None = None) -> Filters:
    """The dashboard filters of the query string; a 400 naming every bad one, and those of the
    endpoint's own parameters in ``errors``."""
    params = {name: request.query_params[name] for name in NAMES if name in request.query_params}
    f = reports.filters_read(params, user=request.user)  # type: ignore[arg-type]
    errors = {**(errors or {}), **f.errors}
    if errors:
        raise _invalid(errors)
    return f


def _id_param(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, int, description=what)


FILTER_PARAMETERS = [
    OpenApiParameter(
        "period",
        str,
        enum=[*PERIODS, "custom"],
        description="The last 7, 30, 90 or 365 days up to today (default 30d), or `custom` "
        "with `from` and `to` (at most three years). Giving `from` or `to` means `custom`.",
    ),
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day of a custom period"),
    OpenApiParameter(
        "to", OpenApiTypes.DATE, description="Last day of a custom period (up to today)"
    ),
    OpenApiParameter(
        "grain", str, enum=list(GRAINS), description="Points of the trend (default day)"
    ),
    _id_param("survey", "A survey id"),
    _id_param("journey", "A journey id: its touchpoints"),
    _id_param("stage", "A stage id: its touchpoints (in the journey, if given)"),
    _id_param("touchpoint", "A touchpoint id (in the journey and stage, if given)"),
    OpenApiParameter("channel", str, enum=list(CHANNELS)),
    _id_param("team", "A team id"),
    _id_param(
        "agent",
        "A user id. Users without `metrics.view_all_metrics` (agents) always get their own.",
    ),
    OpenApiParameter(
        "language",
        str,
        enum=[code for code, _name in settings.LANGUAGES],
        description="The customer's language",
    ),
    OpenApiParameter(
        "attribute",
        str,
        enum=list(settings.METRICS_ATTRIBUTES),
        description="A customer attribute (METRICS_ATTRIBUTES); needs `value`",
    ),
    OpenApiParameter("value", str, description="The value of `attribute`"),
]
BAD_REQUEST = {400: ErrorOutput}
NOT_FOUND = {404: ErrorOutput}


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------
class FiltersOutput(serializers.Serializer):
    """The filters the figures were computed with (an agent's own ``agent`` included)."""

    period = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField(help_text="Inclusive")
    grain = serializers.ChoiceField(choices=list(GRAINS))
    survey = serializers.IntegerField(allow_null=True)
    journey = serializers.IntegerField(allow_null=True)
    stage = serializers.IntegerField(allow_null=True)
    touchpoint = serializers.IntegerField(allow_null=True)
    channel = serializers.CharField()
    team = serializers.IntegerField(allow_null=True)
    agent = serializers.IntegerField(allow_null=True)
    language = serializers.CharField()
    attribute = serializers.CharField()
    value = serializers.CharField()


class FigureOutput(serializers.Serializer):
    key = serializers.ChoiceField(choices=list(selectors.DEFINITIONS))
    label = serializers.CharField()  # type: ignore[assignment]
    help = serializers.CharField()
    unit = serializers.ChoiceField(
        choices=["score", "percent", "duration"],
        help_text="score: −100…100; percent: 0…100; duration: seconds",
    )
    value = serializers.FloatField(
        allow_null=True, help_text="null when there is nothing to compute from"
    )
    n = serializers.IntegerField(help_text="How many answers, conversations or customers")
    margin = serializers.FloatField(
        allow_null=True, help_text="± points at 95 % confidence, for proportions"
    )
    median = serializers.FloatField(
        allow_null=True, help_text="Durations: the median (``value`` is the mean)"
    )
    mean_on_scale = serializers.FloatField(
        allow_null=True, help_text="CES: the mean answer, with the easy end high"
    )
    previous = serializers.FloatField(
        allow_null=True, help_text="The previous period of the same length (median for durations)"
    )
    change = serializers.FloatField(allow_null=True)
    small_sample = serializers.BooleanField(help_text="Fewer than 30: shown, but unreliable")
    note = serializers.CharField(help_text="Why a filter does not apply to this figure, if so")


class OverviewOutput(serializers.Serializer):
    filters = FiltersOutput()
    as_of = serializers.DateTimeField(
        allow_null=True, help_text="The figures include everything up to this time"
    )
    responses = serializers.IntegerField()
    figures = FigureOutput(many=True)


def _metric_fields(field: type[serializers.Field]) -> dict[str, serializers.Field]:
    kwargs: dict[str, Any] = {"allow_null": True} if field is serializers.FloatField else {}
    return {key: field(**kwargs) for key in selectors.DEFINITIONS}


TrendValues = type(
    "TrendValues",
    (serializers.Serializer,),
    {
        "__doc__": "Each metric's value (the median for durations); null without data.",
        **_metric_fields(serializers.FloatField),
    },
)
TrendCounts = type(
    "TrendCounts",
    (serializers.Serializer,),
    {"__doc__": "Each metric's sample size.", **_metric_fields(serializers.IntegerField)},
)


class TrendPointOutput(serializers.Serializer):
    start = serializers.DateField(help_text="First day of the day, week or month")
    values = TrendValues()
    counts = TrendCounts()


class TrendOutput(serializers.Serializer):
    filters = FiltersOutput()
    as_of = serializers.DateTimeField(allow_null=True)
    points = TrendPointOutput(many=True)


class BreakdownRowOutput(serializers.Serializer):
    key = serializers.JSONField(
        help_text="The channel or language code, or the touchpoint, team, agent or survey id; "
        '0 or "" for answers without one'
    )
    label = serializers.CharField()  # type: ignore[assignment]
    responses = serializers.IntegerField()
    figures = FigureOutput(many=True)


class BreakdownOutput(serializers.Serializer):
    filters = FiltersOutput()
    as_of = serializers.DateTimeField(allow_null=True)
    by = serializers.ChoiceField(choices=list(selectors.BREAKDOWNS))
    rows = BreakdownRowOutput(many=True)


class MapTouchpointOutput(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    channel = serializers.CharField()
    responses = serializers.IntegerField()
    figures = FigureOutput(many=True)


class MapStageOutput(serializers.Serializer):
    name = serializers.CharField()
    touchpoints = MapTouchpointOutput(many=True)


class JourneyRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class JourneyMapOutput(serializers.Serializer):
    filters = FiltersOutput()
    as_of = serializers.DateTimeField(allow_null=True)
    journey = JourneyRefOutput()
    stages = MapStageOutput(many=True)


class ScoreOutput(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField()
    margin = serializers.FloatField(allow_null=True)
    small_sample = serializers.BooleanField()


class IntentRowOutput(serializers.Serializer):
    reason = serializers.CharField(help_text="The choice key of the visit-reason question")
    label = serializers.CharField()  # type: ignore[assignment]
    visits = serializers.IntegerField()
    share = serializers.FloatField(help_text="% of the visits")
    fulfilled = ScoreOutput(help_text="% who got what they came for, of those who answered")


class VisitIntentOutput(serializers.Serializer):
    filters = FiltersOutput()
    as_of = serializers.DateTimeField(allow_null=True)
    reasons = IntentRowOutput(many=True)


class VerbatimOutput(serializers.Serializer):
    response_id = serializers.IntegerField()
    customer_id = serializers.IntegerField(allow_null=True)
    customer_name = serializers.CharField()
    survey_name = serializers.CharField()
    score = serializers.IntegerField(allow_null=True)
    band = serializers.CharField()
    text = serializers.CharField()
    completed_at = serializers.DateTimeField()
    agent_name = serializers.CharField()


class VerbatimsOutput(serializers.Serializer):
    filters = FiltersOutput()
    results = VerbatimOutput(many=True)


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------
class _FiguresApi(APIView):
    required_permissions = {"GET": ["metrics.view_dashboard"]}


class OverviewApi(_FiguresApi):
    """Every headline figure of the period, with the previous period's beside it."""

    @extend_schema(parameters=FILTER_PARAMETERS, responses={200: OverviewOutput, **BAD_REQUEST})
    def get(self, request: Request) -> Response:
        overview = selectors.overview(_filters(request))
        return Response(OverviewOutput(overview).data)


class TrendApi(_FiguresApi):
    """Each metric per day, week or month (``grain``) of the period."""

    @extend_schema(parameters=FILTER_PARAMETERS, responses={200: TrendOutput, **BAD_REQUEST})
    def get(self, request: Request) -> Response:
        f = _filters(request)
        body = {"filters": f, "as_of": selectors.as_of(), "points": selectors.trend(f)}
        return Response(TrendOutput(body).data)


class BreakdownApi(_FiguresApi):
    """The figures per channel, touchpoint, team, agent, language or survey, most answered
    first. Support times are given where conversations carry the dimension."""

    @extend_schema(
        parameters=[
            OpenApiParameter("by", str, OpenApiParameter.PATH, enum=list(selectors.BREAKDOWNS)),
            *FILTER_PARAMETERS,
        ],
        responses={200: BreakdownOutput, **BAD_REQUEST},
    )
    def get(self, request: Request, by: str) -> Response:
        errors: dict[str, str] = {}
        if by not in selectors.BREAKDOWNS:
            errors["by"] = _("Break down by one of: %(names)s.") % {
                "names": ", ".join(selectors.BREAKDOWNS)
            }
        f = _filters(request, errors)
        rows = [
            {
                "key": row.key,
                "label": row.label,
                "responses": row.responses,
                "figures": list(row.figures.values()),
            }
            for row in selectors.breakdown(f, by)
        ]
        body = {"filters": f, "as_of": selectors.as_of(), "by": by, "rows": rows}
        return Response(BreakdownOutput(body).data)


class JourneyMapApi(_FiguresApi):
    """A journey's stages and touchpoints in order, each touchpoint with its figures."""

    @extend_schema(
        parameters=FILTER_PARAMETERS,
        responses={200: JourneyMapOutput, **BAD_REQUEST, **NOT_FOUND},
    )
    def get(self, request: Request, journey_id: int) -> Response:
        journey = journey_selectors.journey_get(journey_id=journey_id)
        if journey is None:
            raise NotFound(_("There is no such journey."), field="journey_id")
        f = _filters(request)
        if f.journey is not None and f.journey != journey.pk:
            raise _invalid({"journey": _("This is not the journey of the map.")})
        stages = [
            {
                "name": stage.name,
                "touchpoints": [
                    {
                        "id": touchpoint.pk,
                        "key": touchpoint.key,
                        "name": touchpoint.name,
                        "channel": touchpoint.channel,
                        "responses": row.responses if row else 0,
                        "figures": list(row.figures.values()) if row else [],
                    }
                    for touchpoint, row in stage.touchpoints
                ],
            }
            for stage in selectors.journey_map(f, journey)
        ]
        body = {
            "filters": f,
            "as_of": selectors.as_of(),
            "journey": journey,
            "stages": stages,
        }
        return Response(JourneyMapOutput(body).data)


class VisitIntentApi(_FiguresApi):
    """The share of each visit reason, and how often the visit got what it came for."""

    @extend_schema(parameters=FILTER_PARAMETERS, responses={200: VisitIntentOutput, **BAD_REQUEST})
    def get(self, request: Request) -> Response:
        f = _filters(request)
        body = {"filters": f, "as_of": selectors.as_of(), "reasons": selectors.visit_intent(f)}
        return Response(VisitIntentOutput(body).data)


class VerbatimsApi(_FiguresApi):
    """The latest open-text answers of the period, newest first."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "band",
                str,
                enum=list(selectors.BANDS),
                description="Only answers of unhappy, neutral or happy customers",
            ),
            OpenApiParameter("limit", int, description=f"1 to {VERBATIMS_MAX} (default 20)"),
            *FILTER_PARAMETERS,
        ],
        responses={200: VerbatimsOutput, **BAD_REQUEST},
    )
    def get(self, request: Request) -> Response:
        errors: dict[str, str] = {}
        band = (request.query_params.get("band") or "").strip()
        if band and band not in selectors.BANDS:
            errors["band"] = _("Choose one of: %(names)s.") % {"names": ", ".join(selectors.BANDS)}
        raw_limit = (request.query_params.get("limit") or "20").strip()
        limit = int(raw_limit) if raw_limit.isascii() and raw_limit.isdigit() else 0
        if not 1 <= limit <= VERBATIMS_MAX:
            errors["limit"] = _("Give a number from 1 to %(max)d.") % {"max": VERBATIMS_MAX}
        f = _filters(request, errors)
        results = selectors.verbatims(f, band=band, limit=limit)
        return Response(VerbatimsOutput({"filters": f, "results": results}).data)


# ------------------------------------------------------------------------------------------------
# Report subscriptions
# ------------------------------------------------------------------------------------------------
class ReportSubscriptionOutput(serializers.ModelSerializer):
    class Meta:
        model = ReportSubscription
        fields = (
            "id",
            "dashboard",
            "frequency",
            "query",
            "next_send_at",
            "last_sent_at",
            "created_at",
        )
        read_only_fields = fields


class ReportSubscriptionInput(StrictSerializer):
    """The rules live in ``metrics.reports.report_subscribe``; this documents them."""

    dashboard = serializers.ChoiceField(choices=ReportSubscription.Dashboard.choices)
    frequency = serializers.ChoiceField(choices=ReportSubscription.Frequency.choices)
    query = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=True,
        help_text="The dashboard's filters as in its URL, e.g. `survey=3&channel=email`; the "
        "period is left out (the email covers the last full week or month)",
    )


class ReportSubscriptionListApi(generics.ListAPIView):
    """The signed-in user's report emails; POST subscribes (again: changes how often)."""

    serializer_class = ReportSubscriptionOutput
    required_permissions = {
        "GET": ["metrics.view_reportsubscription"],
        "POST": ["metrics.add_reportsubscription", "metrics.view_dashboard"],
    }

    def get_queryset(self) -> QuerySet[ReportSubscription]:
        if getattr(self, "swagger_fake_view", False):  # the schema is made without a user
            return ReportSubscription.objects.none()
        return ReportSubscription.objects.filter(user=self.request.user)  # type: ignore[misc]

    @extend_schema(
        request=ReportSubscriptionInput,
        responses={200: ReportSubscriptionOutput, 201: ReportSubscriptionOutput, **BAD_REQUEST},
    )
    def post(self, request: Request) -> Response:
        data = ReportSubscriptionInput(data=request.data)
        data.is_valid(raise_exception=True)
        subscription, created = reports.report_subscribe(
            user=request.user,  # type: ignore[arg-type]
            dashboard=data.validated_data["dashboard"],
            frequency=data.validated_data["frequency"],
            query=data.validated_data["query"],
        )
        return Response(
            ReportSubscriptionOutput(subscription).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ReportSubscriptionDetailApi(APIView):
    required_permissions = {
        "GET": ["metrics.view_reportsubscription"],
        "DELETE": ["metrics.delete_reportsubscription"],
    }

    def _get(self, request: Request, pk: int) -> ReportSubscription:
        subscription = reports.report_subscription_get_for_user(user=request.user, pk=pk)
        if subscription is None:
            raise Http404
        return subscription

    @extend_schema(responses={200: ReportSubscriptionOutput, **NOT_FOUND})
    def get(self, request: Request, pk: int) -> Response:
        return Response(ReportSubscriptionOutput(self._get(request, pk)).data)

    @extend_schema(responses={204: None, **NOT_FOUND})
    def delete(self, request: Request, pk: int) -> Response:
        reports.report_unsubscribe(subscription=self._get(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

"""The dashboard filters: read from a query string (the URL of a dashboard, the API, a report
subscription), checked, and turned into conditions on the rollups.

Every value is checked against what exists: an impossible period, an unknown survey or a
touchpoint outside the chosen journey gives an error naming the field, and the dashboards show
that message with an empty state rather than a number computed from half the filters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cxm.accounts.models import Team, User
from journeys.models import Journey, Stage, Touchpoint
from surveys.models import Survey

PERIODS = {
    "7d": (7, gettext_lazy("Last 7 days")),
    "30d": (30, gettext_lazy("Last 30 days")),
    "90d": (90, gettext_lazy("Last 90 days")),
    "365d": (365, gettext_lazy("Last 12 months")),
}
DEFAULT_PERIOD = "30d"
GRAINS = {
    "day": gettext_lazy("Day"),
    "week": gettext_lazy("Week"),
    "month": gettext_lazy("Month"),
}
MAX_DAYS = 3 * 366
EARLIEST = dt.date(2000, 1, 1)
# The channels a response or a conversation can come from, with their labels.
CHANNELS = {
    "email": gettext_lazy("Email"),
    "sms": gettext_lazy("SMS"),
    "whatsapp": gettext_lazy("WhatsApp"),
    "webchat": gettext_lazy("Web chat"),
    "webform": gettext_lazy("Web form"),
    "phone": gettext_lazy("Phone"),
    "link": gettext_lazy("Link"),
    "web": gettext_lazy("Web"),
    "api": gettext_lazy("API"),
}
# The query-string names, in the order a shared URL lists them.
NAMES = (
    "period",
    "from",
    "to",
    "grain",
    "survey",
    "journey",
    "stage",
    "touchpoint",
    "channel",
    "team",
    "agent",
    "language",
    "attribute",
    "value",
)


@dataclass(frozen=True)
class Filters:
    start: dt.date
    end: dt.date  # inclusive
    period: str = DEFAULT_PERIOD  # a key of PERIODS, or "custom"
    grain: str = "day"
    survey: int | None = None
    journey: int | None = None
    stage: int | None = None
    touchpoint: int | None = None
    channel: str = ""
    team: int | None = None
    agent: int | None = None
    language: str = ""
    attribute: str = ""
    value: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    # Touchpoints the journey/stage/touchpoint filters come to (None: no such filter).
    touchpoints: frozenset[int] | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def valid(self) -> bool:
        return not self.errors

    def previous(self) -> Filters:
        """The same filters over the period just before, of the same length."""
        return replace(
            self,
            start=self.start - dt.timedelta(days=self.days),
            end=self.start - dt.timedelta(days=1),
        )

    @property
    def sliced_by_journey(self) -> bool:
        return self.touchpoints is not None or self.survey is not None

    def params(self) -> dict[str, str]:
        """The query-string form (what a shared URL and a report subscription keep)."""
        out: dict[str, str] = {"period": self.period}
        if self.period == "custom":
            out.update({"from": self.start.isoformat(), "to": self.end.isoformat()})
        if self.grain != "day":
            out["grain"] = self.grain
        for name in ("survey", "journey", "stage", "touchpoint", "team", "agent"):
            if getattr(self, name) is not None:
                out[name] = str(getattr(self, name))
        for name in ("channel", "language", "attribute", "value"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out

    def query(self, **changes: str | None) -> str:
        params = self.params()
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return urlencode(params)

    # Conditions on the rollups ----------------------------------------------------------------
    def rollup_conditions(self, level: str) -> dict[str, Any]:
        """The rollup columns the filters fix, with their values (a frozenset: any of them):
        the slice and the language on every rollup (``level`` "customer"), the channel, team
        and agent too on the conversations (``"conversation"``), and the survey and
        touchpoints too on the responses and invitations (``"response"``)."""
        out: dict[str, Any] = {"attribute": self.attribute, "value": self.value}
        if self.language:
            out["language"] = self.language
        if level == "customer":
            return out
        if self.channel:
            out["channel"] = self.channel
        if self.team is not None:
            out["team_id"] = self.team
        if self.agent is not None:
            out["agent_id"] = self.agent
        if level == "conversation":
            return out
        if self.survey is not None:
            out["survey_id"] = self.survey
        if self.touchpoints is not None:
            out["touchpoint_id"] = self.touchpoints
        return out

    def raw_response_q(self, prefix: str = "") -> Q:
        """The same conditions on ``surveys.Response`` rows (for the latest comments)."""
        start = timezone.make_aware(dt.datetime.combine(self.start, dt.time.min))
        end = timezone.make_aware(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min))
        conditions: dict[str, Any] = {"completed_at__gte": start, "completed_at__lt": end}
        # The rollups' columns are the responses' own; the slice is the customer's attribute.
        for column, value in self.rollup_conditions("response").items():
            if column not in ("attribute", "value"):
                conditions[f"{column}__in" if isinstance(value, frozenset) else column] = value
        if self.attribute:
            conditions[f"customer__attributes__{self.attribute}"] = self.value
        return Q(**{prefix + key: value for key, value in conditions.items()})


def _int(params: Mapping[str, str], name: str, errors: dict[str, str]) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        errors[name] = _("Not a valid id.")
        return None
    return int(raw)


def _date(params: Mapping[str, str], name: str, errors: dict[str, str]) -> dt.date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        errors[name] = _("Enter a date.")
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("Enter a date like 2026-01-31.")
        return None
    if day < EARLIEST:
        errors[name] = _("Enter a date after 2000.")
        return None
    return day


def filters_parse(
    params: Mapping[str, str], *, user: User | None = None, today: dt.date | None = None
) -> Filters:
    """Filters from a query string; unknown or impossible values are listed in ``errors``.

    A user who may not see everyone's figures (an agent) always gets their own: the agent
    filter is theirs whatever the URL says."""
    today = today or timezone.localdate()
    errors: dict[str, str] = {}
    period = (params.get("period") or "").strip() or (
        "custom" if params.get("from") or params.get("to") else DEFAULT_PERIOD
    )
    start = end = today
    if period in PERIODS:
        start = today - dt.timedelta(days=PERIODS[period][0] - 1)
    elif period == "custom":
        first, last = _date(params, "from", errors), _date(params, "to", errors)
        if first and last:
            if first > last:
                errors["to"] = _("The end of the period is before its start.")
            elif (last - first).days + 1 > MAX_DAYS:
                errors["to"] = _("Choose a period of at most three years.")
            elif first > today:
                errors["from"] = _("The period starts in the future.")
            else:
                start, end = first, min(last, today)
    else:
        errors["period"] = _("Choose one of the periods offered.")
        period = DEFAULT_PERIOD
        start = today - dt.timedelta(days=PERIODS[period][0] - 1)
    grain = (params.get("grain") or "day").strip()
    if grain not in GRAINS:
        errors["grain"] = _("Choose day, week or month.")
        grain = "day"

    ids = {
        name: _int(params, name, errors)
        for name in ("survey", "journey", "stage", "touchpoint", "team", "agent")
    }
    if ids["survey"] is not None and not Survey.objects.filter(pk=ids["survey"]).exists():
        errors["survey"] = _("There is no such survey.")
    if ids["team"] is not None and not Team.objects.filter(pk=ids["team"]).exists():
        errors["team"] = _("There is no such team.")
    if ids["agent"] is not None and not User.objects.filter(pk=ids["agent"]).exists():
        errors["agent"] = _("There is no such agent.")
    touchpoints = _touchpoints(ids["journey"], ids["stage"], ids["touchpoint"], errors)

    channel = (params.get("channel") or "").strip()
    if channel and channel not in CHANNELS:
        errors["channel"] = _("There is no such channel.")
    language = (params.get("language") or "").strip()
    if language and language not in dict(settings.LANGUAGES):
        errors["language"] = _("There is no such language.")
    attribute = (params.get("attribute") or "").strip()
    value = (params.get("value") or "").strip()
    if attribute and attribute not in settings.METRICS_ATTRIBUTES:
        errors["attribute"] = _("Dashboards can filter on these attributes only: %(names)s.") % {
            "names": ", ".join(settings.METRICS_ATTRIBUTES)
        }
    elif attribute and not value:
        errors["value"] = _("Enter the value of the attribute.")
    elif value and not attribute:
        errors["attribute"] = _("Choose the attribute this value is for.")
    elif len(value) > 100:
        errors["value"] = _("Enter at most 100 characters.")
    elif not value.isprintable():
        errors["value"] = _("Enter text without control characters.")

    agent = ids["agent"]
    if user is not None and not user.has_perm("metrics.view_all_metrics"):
        agent = user.pk
    return Filters(
        start=start,
        end=end,
        period=period,
        grain=grain,
        survey=ids["survey"],
        journey=ids["journey"],
        stage=ids["stage"],
        touchpoint=ids["touchpoint"],
        channel=channel if "channel" not in errors else "",
        team=ids["team"],
        agent=agent,
        language=language if "language" not in errors else "",
        attribute=attribute if not errors.keys() & {"attribute", "value"} else "",
        value=value if not errors.keys() & {"attribute", "value"} else "",
        errors=errors,
        touchpoints=touchpoints,
    )


def _touchpoints(
    journey: int | None, stage: int | None, touchpoint: int | None, errors: dict[str, str]
) -> frozenset[int] | None:
    """The touchpoints the journey, stage and touchpoint filters leave (all must agree)."""
    if journey is None and stage is None and touchpoint is None:
        return None
    chosen = Touchpoint.objects.all()
    if journey is not None:
        if not Journey.objects.filter(pk=journey).exists():
            errors["journey"] = _("There is no such journey.")
        chosen = chosen.filter(stage__journey_id=journey)
    if stage is not None:
        found = Stage.objects.filter(pk=stage).values_list("journey_id", flat=True).first()
        if found is None:
            errors["stage"] = _("There is no such stage.")
        elif journey is not None and found != journey:
            errors["stage"] = _("This stage is not in the chosen journey.")
        chosen = chosen.filter(stage_id=stage)
    if touchpoint is not None:
        if not Touchpoint.objects.filter(pk=touchpoint).exists():
            errors["touchpoint"] = _("There is no such touchpoint.")
        elif not chosen.filter(pk=touchpoint).exists():
            errors["touchpoint"] = _("This touchpoint is not in the chosen journey or stage.")
        chosen = chosen.filter(pk=touchpoint)
    return frozenset(chosen.values_list("pk", flat=True))

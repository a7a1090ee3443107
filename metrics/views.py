"""The dashboards: overview, channels, touchpoints, agents (coaching), visit intent, comments.

Every dashboard reads its filters from the query string (so a URL can be shared), shows each
field's error with an empty state when a value is impossible (HTTP 400, never a figure computed
from half the filters), and serves each of its tables as CSV at the same URL with
``?format=csv&table=<name>``. Agents without ``metrics.view_all_metrics`` see their own figures:
``filters_parse`` makes the agent filter theirs whatever the URL says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from metrics import followup_selectors, presenters, selectors
from metrics.filters import CHANNELS, GRAINS, NAMES, PERIODS, Filters, filters_parse
from metrics.presenters import Table

# (key, url name, label): the sub-navigation, in order.
DASHBOARDS = [
    ("overview", "metrics:dashboard", gettext_lazy("Overview")),
    ("channels", "metrics:dashboard-channels", gettext_lazy("Channels")),
    ("touchpoints", "metrics:dashboard-touchpoints", gettext_lazy("Touchpoints")),
    ("agents", "metrics:dashboard-agents", gettext_lazy("Agents")),
    ("visits", "metrics:dashboard-visits", gettext_lazy("Visit intent")),
    ("comments", "metrics:dashboard-comments", gettext_lazy("Comments")),
]
TITLES = {key: label for key, _url, label in DASHBOARDS}
# Dashboards a report subscription can email (ReportSubscription.Dashboard).
SUBSCRIBABLE = {"overview", "channels", "touchpoints", "agents", "visits"}
COMMENT_LIMIT = 50
AGENT_COMMENTS = 3

Builder = Callable[[HttpRequest, Filters, selectors.FilterOptions], dict[str, Any]]


def _form_values(request: HttpRequest, f: Filters) -> dict[str, str]:
    """The filter bar's values as the user gave them (a wrong one stays visible beside its
    error); the defaults where nothing was given."""
    values = {name: (request.GET.get(name) or "").strip() for name in NAMES}
    values["period"] = values["period"] or f.period
    values["grain"] = values["grain"] or f.grain
    if not f.errors.keys() & {"from", "to"} and f.period == "custom":
        values["from"], values["to"] = f.start.isoformat(), f.end.isoformat()
    if f.agent is not None and not request.user.has_perm("metrics.view_all_metrics"):
        values["agent"] = str(f.agent)
    return values


def _period_text(f: Filters) -> str:
    previous = f.previous()
    return _("%(start)s – %(end)s, compared with %(prev_start)s – %(prev_end)s") % {
        "start": date_format(f.start, "j M Y"),
        "end": date_format(f.end, "j M Y"),
        "prev_start": date_format(previous.start, "j M Y"),
        "prev_end": date_format(previous.end, "j M Y"),
    }


def _dashboard(request: HttpRequest, *, key: str, build: Builder) -> HttpResponseBase:
    template = f"metrics/{key}.html"
    f = filters_parse(request.GET, user=request.user)  # type: ignore[arg-type]
    wants_csv = request.GET.get("format") == "csv"
    if wants_csv and not f.valid:
        lines = [_("The filters are not valid:")] + [
            f"{name}: {message}" for name, message in f.errors.items()
        ]
        return HttpResponse("\n".join(lines), status=400, content_type="text/plain; charset=utf-8")
    query = f.query()
    options = selectors.filter_options(user=request.user)  # type: ignore[arg-type]
    context: dict[str, Any] = {
        "dashboard": key,
        "title": str(TITLES[key]),
        "filters": f,
        "filters_query": query,
        "share_url": request.build_absolute_uri(f"{request.path}?{query}"),
        "fields": presenters.filter_fields(
            options=options,
            values=_form_values(request, f),
            errors=f.errors,
            periods=PERIODS,
            grains=GRAINS,
            channels=CHANNELS,
            languages=settings.LANGUAGES,
            attributes=settings.METRICS_ATTRIBUTES,
        ),
        "errors": f.errors,
        "subnav": [
            {"key": name, "url": f"{reverse(url)}?{query}", "label": label}
            for name, url, label in DASHBOARDS
        ],
        "subscribable": key in SUBSCRIBABLE,
        "period_text": _period_text(f),
        "as_of": selectors.as_of,  # called by the template, unless a page already has it
        "all_agents": options.all_agents,
        "tables": {},
    }
    context["error_list"] = [
        {"name": field.name, "label": field.label, "message": field.error}
        for _group, fields in context["fields"]
        for field in fields
        if field.error
    ]
    if not f.valid:
        return render(request, template, context, status=400)
    context.update(build(request, f, options))
    tables: dict[str, Table] = context["tables"]
    if wants_csv:
        table = tables.get(request.GET.get("table", ""))
        if table is None:
            raise Http404
        filename = f"cxm-{key}-{table.name}-{f.start.isoformat()}-{f.end.isoformat()}.csv"
        return presenters.csv_response(table, filename)
    csv_query = context.get("csv_query", query)
    for name, table in tables.items():
        table.csv_url = f"?{csv_query}&format=csv&table={name}"
    return render(request, template, context)


def _dashboard_view(key: str, build: Builder) -> Callable[[HttpRequest], HttpResponseBase]:
    """The page of one of ``DASHBOARDS``: titled with its label, rendered with
    ``metrics/<key>.html`` from what ``build`` adds to the shared context."""

    @permission_required("metrics.view_dashboard", raise_exception=True)
    def view(request: HttpRequest) -> HttpResponseBase:
        return _dashboard(request, key=key, build=build)

    return view


# ------------------------------------------------------------------------------------------------
# The pages
# ------------------------------------------------------------------------------------------------
def _overview(request: HttpRequest, f: Filters, options: selectors.FilterOptions) -> dict[str, Any]:
    data = selectors.overview(f)
    tables = {
        "trend": presenters.trend_table(selectors.trend(f), f.grain),
        "figures": presenters.figures_table(data.figures),
    }
    loop = None
    if request.user.has_perm("metrics.view_followup"):
        loop = followup_selectors.loop_metrics(f)
        tables["root_causes"] = presenters.root_causes_table(loop.root_causes, loop.resolved)
    return {
        "cards": [presenters.card(figure) for figure in data.figures],
        "responses": data.responses,
        "has_data": any(figure.n for figure in data.figures),
        "as_of": data.as_of,
        "loop": loop,
        "tables": tables,
    }


dashboard = _dashboard_view("overview", _overview)


def _channels(request: HttpRequest, f: Filters, options: selectors.FilterOptions) -> dict[str, Any]:
    rows = selectors.breakdown(f, "channel")
    table = presenters.breakdown_table(
        rows,
        name="channels",
        caption=_("Figures per channel"),
        by_label=_("Channel"),
        keys=("nps", "csat", "ces", "frt", "handling"),
        link=lambda row: f"?{f.query(channel=row.key)}" if row.key else "",
    )
    return {"tables": {"channels": table}, "rows": rows}


channels = _dashboard_view("channels", _channels)


def _touchpoints(
    request: HttpRequest, f: Filters, options: selectors.FilterOptions
) -> dict[str, Any]:
    journey = selectors.journey_for_map(f)
    stages = selectors.journey_map(f, journey) if journey else []
    rows = [row for row in selectors.breakdown(f, "touchpoint") if row.key]
    table = presenters.breakdown_table(
        rows,
        name="touchpoints",
        caption=_("Figures per touchpoint"),
        by_label=_("Touchpoint"),
        keys=("nps", "csat", "ces"),
    )
    return {
        "journey": journey,
        "columns": presenters.map_columns(stages),
        "legend": presenters.band_legend(),
        "other_journeys": [
            {"name": name, "url": f"?{f.query(journey=str(pk), stage=None, touchpoint=None)}"}
            for pk, name in options.journeys
            if not journey or pk != journey.pk
        ],
        "tables": {"touchpoints": table},
    }


touchpoints = _dashboard_view("touchpoints", _touchpoints)


def _agents(request: HttpRequest, f: Filters, options: selectors.FilterOptions) -> dict[str, Any]:
    rows = [row for row in selectors.breakdown(f, "agent") if row.key]
    rows.sort(key=lambda row: row.label.lower())
    all_agents = options.all_agents
    table = presenters.breakdown_table(
        rows,
        name="agents",
        caption=_("Figures per agent"),
        by_label=_("Agent"),
        keys=("csat", "nps", "frt", "handling"),
        link=(lambda row: f"?{f.query(agent=str(row.key))}") if all_agents else None,
        chart_keys=("csat", "nps"),
    )
    per_agent = AGENT_COMMENTS if f.agent is None else 10
    comments = selectors.verbatims_by_agent(
        f, agents=[row.key for row in rows], per_agent=per_agent
    )
    return {
        "tables": {"agents": table},
        "coaching": [
            {"agent": row.label, "id": row.key, "comments": comments.get(row.key, [])}
            for row in rows
        ],
    }


agents = _dashboard_view("agents", _agents)


def _visits(request: HttpRequest, f: Filters, options: selectors.FilterOptions) -> dict[str, Any]:
    rows = selectors.visit_intent(f)
    return {
        "tables": {"visits": presenters.intent_table(rows)},
        "visits": sum(r.visits for r in rows),
    }


visits = _dashboard_view("visits", _visits)


def _comments(request: HttpRequest, f: Filters, options: selectors.FilterOptions) -> dict[str, Any]:
    band = request.GET.get("band", "")
    band = band if band in selectors.BANDS else ""
    items = selectors.verbatims(f, band=band, limit=COMMENT_LIMIT)
    table = presenters.verbatims_table(items)
    query = f.query()
    return {
        "band": band,
        "bands": [
            {"key": "", "label": _("All"), "url": f"?{query}"},
            *[
                {"key": key, "label": label, "url": f"?{f.query(band=key)}"}
                for key, label in selectors.BANDS.items()
            ],
        ],
        "comments": items,
        "tables": {"comments": table},
        "csv_query": f.query(band=band or None),
    }


comments = _dashboard_view("comments", _comments)

"""Shaping the figures of ``metrics.selectors`` for the dashboard pages: numbers formatted for
the reader's language, cards, and tables that are shown as HTML, drawn as charts and downloaded
as CSV from the same rows, so the three never disagree.

Nothing here reads the database; the views hand in what the selectors returned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import StreamingHttpResponse
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cxm import csvfile
from metrics.selectors import DEFINITIONS, Figure, TrendPoint

# Lower is better for these; the change arrow is coloured (and worded) the other way round.
LOWER_IS_BETTER = frozenset({"frt", "handling", "churn"})
SAMPLE_WORDS: dict[str, Callable[[int], str]] = {
    "nps": lambda n: ngettext("%(n)s answer", "%(n)s answers", n) % {"n": _number(n)},
    "csat": lambda n: ngettext("%(n)s answer", "%(n)s answers", n) % {"n": _number(n)},
    "ces": lambda n: ngettext("%(n)s answer", "%(n)s answers", n) % {"n": _number(n)},
    "response_rate": lambda n: (
        ngettext("%(n)s invitation delivered", "%(n)s invitations delivered", n) % {"n": _number(n)}
    ),
    "frt": lambda n: ngettext("%(n)s conversation", "%(n)s conversations", n) % {"n": _number(n)},
    "handling": lambda n: (
        ngettext("%(n)s conversation", "%(n)s conversations", n) % {"n": _number(n)}
    ),
    "churn": lambda n: (
        ngettext("%(n)s customer at the start", "%(n)s customers at the start", n)
        % {"n": _number(n)}
    ),
    "retention": lambda n: (
        ngettext("%(n)s customer at the start", "%(n)s customers at the start", n)
        % {"n": _number(n)}
    ),
}
# Colour bands of the journey map: (good from, fair from) per score; below "fair" is poor.
BAND_LIMITS = {"nps": (30.0, 0.0), "csat": (80.0, 60.0), "ces": (70.0, 50.0)}
BAND_LABELS = {
    "good": gettext_lazy("Good"),
    "fair": gettext_lazy("Fair"),
    "poor": gettext_lazy("Poor"),
    "none": gettext_lazy("No answers"),
}
MINUS = "\u2212"


# ------------------------------------------------------------------------------------------------
# Numbers
# ------------------------------------------------------------------------------------------------
def _number(value: float, decimals: int = 0) -> str:
    text = number_format(round(value, decimals), decimal_pos=decimals, force_grouping=True)
    return MINUS + text[1:] if text.startswith("-") else text


def number(value: float | None, decimals: int | None = None) -> str:
    """A number in the reader's language; one decimal only when it is not a whole number."""
    if value is None:
        return "—"
    if decimals is None:
        decimals = 0 if round(value, 1) == round(value) else 1
    return _number(value, decimals)


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return _("%(value)s%%") % {"value": number(value)}


def duration(seconds: float | None) -> str:
    """A duration as a person says it: 45 s, 4 min 10 s, 2 h 5 min, 3 d 4 h."""
    if seconds is None:
        return "—"
    whole = round(abs(seconds))
    sign = MINUS if seconds < 0 and whole else ""
    if whole < 60:
        text = _("%(s)s s") % {"s": whole}
    elif whole < 3600:
        minutes, secs = divmod(whole, 60)
        text = (
            _("%(m)s min %(s)s s") % {"m": minutes, "s": secs}
            if secs and minutes < 10
            else _("%(m)s min") % {"m": round(whole / 60)}
        )
    elif whole < 86400:
        hours, rest = divmod(whole, 3600)
        minutes = rest // 60
        text = (
            _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
            if minutes
            else _("%(h)s h") % {"h": hours}
        )
    else:
        days, rest = divmod(whole, 86400)
        hours = rest // 3600
        text = (
            _("%(d)s d %(h)s h") % {"d": days, "h": hours} if hours else _("%(d)s d") % {"d": days}
        )
    return sign + text


def value_text(value: float | None, unit: str) -> str:
    if unit == "duration":
        return duration(value)
    if unit == "percent":
        return percent(value)
    return number(value)


def signed(value: float, unit: str) -> str:
    """A change with its sign: +12, −3.5 points, +2 min."""
    text = duration(abs(value)) if unit == "duration" else number(abs(value))
    if round(value, 1) == 0:
        return "±0" if unit != "duration" else "±" + duration(0)
    return ("+" if value > 0 else MINUS) + text


def csv_number(value: float | None, decimals: int = 2) -> float | int | str:
    """Plain machine-readable numbers in the CSV (a dot, no grouping), whatever the language."""
    if value is None:
        return ""
    rounded = round(float(value), decimals)
    return int(rounded) if rounded == int(rounded) else rounded


# ------------------------------------------------------------------------------------------------
# Cards of the overview
# ------------------------------------------------------------------------------------------------
@dataclass
class Card:
    key: str
    label: str
    help: str
    unit: str
    headline: str
    aside: str
    n: int
    sample: str
    margin: str
    small_sample: bool
    note: str
    previous: str
    change: str
    direction: str  # up, down, flat or "" (nothing to compare with)
    verdict: str  # better, worse, same or ""
    change_text: str  # the change in words, for everyone (not only screen readers)


def card(figure: Figure) -> Card:
    unit = figure.unit
    aside = ""
    if unit == "duration" and figure.value is not None:
        aside = _("median; mean %(value)s") % {"value": duration(figure.value)}
    elif figure.key == "ces" and figure.mean_on_scale is not None:
        aside = _("mean %(value)s on the scale") % {"value": number(figure.mean_on_scale, 1)}
    direction = verdict = change = change_text = ""
    previous = value_text(figure.previous, unit) if figure.previous is not None else ""
    if figure.change is not None:
        delta = figure.change
        flat = round(delta, 1) == 0
        direction = "flat" if flat else ("up" if delta > 0 else "down")
        better = (delta < 0) if figure.key in LOWER_IS_BETTER else (delta > 0)
        verdict = "same" if flat else ("better" if better else "worse")
        change = signed(delta, unit)
        words = {
            "same": _("No change on the previous period (%(previous)s)."),
            "better": _("%(change)s on the previous period (%(previous)s): better."),
            "worse": _("%(change)s on the previous period (%(previous)s): worse."),
        }
        change_text = words[verdict] % {"change": change, "previous": previous}
    return Card(
        key=figure.key,
        label=figure.label,
        help=figure.help,
        unit=unit,
        headline=value_text(figure.headline, unit),
        aside=aside,
        n=figure.n,
        sample=SAMPLE_WORDS[figure.key](figure.n),
        margin=(
            _("± %(margin)s") % {"margin": number(figure.margin, 1)}
            if figure.margin is not None and figure.n
            else ""
        ),
        small_sample=figure.small_sample,
        note=figure.note,
        previous=previous,
        change=change,
        direction=direction,
        verdict=verdict,
        change_text=change_text,
    )


def band(key: str, value: float | None) -> str:
    """good, fair, poor or none: the colour of a score on the journey map."""
    if value is None or key not in BAND_LIMITS:
        return "none"
    good, fair = BAND_LIMITS[key]
    return "good" if value >= good else ("fair" if value >= fair else "poor")


def band_legend() -> list[dict[str, str]]:
    """The thresholds of each colour, in words (colour is never the only cue)."""
    rows = []
    for name in ("good", "fair", "poor"):
        parts = []
        for key in ("nps", "csat", "ces"):
            good, fair = BAND_LIMITS[key]
            label = str(DEFINITIONS[key][0])
            if name == "good":
                limit = _("%(metric)s ≥ %(value)s") % {"metric": label, "value": number(good)}
            elif name == "fair":
                limit = _("%(metric)s %(low)s to %(high)s") % {
                    "metric": label,
                    "low": number(fair),
                    "high": number(good),
                }
            else:
                limit = _("%(metric)s < %(value)s") % {"metric": label, "value": number(fair)}
            parts.append(limit)
        rows.append({"band": name, "label": str(BAND_LABELS[name]), "limits": ", ".join(parts)})
    rows.append({"band": "none", "label": str(BAND_LABELS["none"]), "limits": ""})
    return rows


# ------------------------------------------------------------------------------------------------
# Tables: one source for the HTML table, the chart and the CSV download
# ------------------------------------------------------------------------------------------------
@dataclass
class Cell:
    text: str  # what the page shows
    csv: list[Any]  # what the CSV holds (one or more columns)
    detail: str = ""  # a second, smaller line: sample size and margin
    flag: str = ""  # "small sample", shown as a badge
    href: str = ""
    css: str = ""


@dataclass
class Column:
    label: str
    csv: list[str]
    numeric: bool = True


@dataclass
class Table:
    name: str
    caption: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    chart: dict[str, Any] | None = None
    csv_url: str = ""

    @property
    def chart_id(self) -> str:
        return f"{self.name}-chart-data"

    def csv_lines(self) -> Iterator[list[Any]]:
        """The header and the rows as CSV values (``cxm.csvfile.lines`` writes them)."""
        yield [h for column in self.columns for h in column.csv]
        for row in self.rows:
            yield [value for cell in row for value in cell.csv]


def csv_response(table: Table, filename: str) -> StreamingHttpResponse:
    return csvfile.download(csvfile.lines(table.csv_lines()), filename, excel_bom=True)


def _label_cell(text: str, csv_value: Any = None, href: str = "") -> Cell:
    return Cell(text=text, csv=[text if csv_value is None else csv_value], href=href)


def figure_cell(figure: Figure | None, key: str, *, with_margin: bool = True) -> Cell:
    """One metric in a table cell: the value, then n (and ± margin) below it."""
    unit = DEFINITIONS[key][2]
    if figure is None or figure.n == 0:
        csv_values: list[Any] = ["", 0]
        if unit == "duration":
            csv_values = ["", "", 0]
        elif with_margin:
            csv_values.append("")
        return Cell(text="—", csv=csv_values, css="empty")
    headline = figure.headline
    detail = "n = " + number(figure.n)
    if with_margin and figure.margin is not None:
        detail += " · ± " + number(figure.margin, 1)
    if unit == "duration":
        values: list[Any] = [csv_number(figure.median, 0), csv_number(figure.value, 0), figure.n]
        detail = _("mean %(value)s") % {"value": duration(figure.value)} + " · " + detail
    else:
        values = [csv_number(headline), figure.n]
        if with_margin:
            values.append(csv_number(figure.margin))
    return Cell(
        text=value_text(headline, unit),
        csv=values,
        detail=detail,
        flag=_("small sample") if figure.small_sample else "",
    )


def metric_column(key: str, *, with_margin: bool = True) -> Column:
    label = str(DEFINITIONS[key][0])
    unit = DEFINITIONS[key][2]
    if unit == "duration":
        return Column(
            _("%(metric)s (median)") % {"metric": label},
            [
                _("%(metric)s median (s)") % {"metric": label},
                _("%(metric)s mean (s)") % {"metric": label},
                _("%(metric)s n") % {"metric": label},
            ],
        )
    headers = [label, _("%(metric)s n") % {"metric": label}]
    if with_margin:
        headers.append(_("%(metric)s margin") % {"metric": label})
    return Column(label, headers)


def _chart_value(figure: Figure | None) -> float | None:
    if figure is None or figure.n == 0:
        return None
    value = figure.headline
    if value is None:
        return None
    if figure.unit == "duration":
        return round(value / 60, 1)
    return round(value, 1)


def _dataset(key: str, values: Sequence[float | None], counts: Sequence[int]) -> dict[str, Any]:
    unit = DEFINITIONS[key][2]
    label = str(DEFINITIONS[key][0])
    if unit == "duration":
        label = _("%(metric)s, median in minutes") % {"metric": label}
    return {"key": key, "label": label, "unit": unit, "data": list(values), "n": list(counts)}


def figures_table(figures: Iterable[Figure]) -> Table:
    """The overview's cards as a table (the CSV of the headline figures)."""
    table = Table(
        name="figures",
        caption=_("Headline figures"),
        columns=[
            Column(_("Metric"), [_("Metric")], numeric=False),
            Column(_("Value"), [_("Value"), _("Mean"), "n", _("Margin")]),
            Column(_("Previous period"), [_("Previous period")]),
            Column(_("Note"), [_("Note")], numeric=False),
        ],
    )
    for figure in figures:
        table.rows.append(
            [
                _label_cell(figure.label),
                Cell(
                    text=value_text(figure.headline, figure.unit),
                    csv=[
                        csv_number(figure.headline),
                        csv_number(
                            figure.value if figure.unit == "duration" else figure.mean_on_scale
                        ),
                        figure.n,
                        csv_number(figure.margin),
                    ],
                ),
                Cell(
                    text=value_text(figure.previous, figure.unit),
                    csv=[csv_number(figure.previous)],
                ),
                Cell(text=figure.note, csv=[figure.note]),
            ]
        )
    return table


TREND_KEYS = ("nps", "csat", "ces", "response_rate", "frt", "handling", "churn", "retention")


def period_label(start: dt.date, grain: str) -> str:
    if grain == "month":
        return date_format(start, "YEAR_MONTH_FORMAT")
    if grain == "week":
        return _("Week of %(day)s") % {"day": date_format(start, "j M")}
    return date_format(start, "j M")


def trend_table(points: Sequence[TrendPoint], grain: str) -> Table:
    table = Table(
        name="trend",
        caption=_("Each metric per %(grain)s")
        % {"grain": {"day": _("day"), "week": _("week"), "month": _("month")}[grain]},
        columns=[
            Column(_("Period"), [_("Period starting")], numeric=False),
            *[metric_column(key, with_margin=False) for key in TREND_KEYS],
        ],
    )
    datasets: dict[str, list[float | None]] = {key: [] for key in TREND_KEYS}
    counts: dict[str, list[int]] = {key: [] for key in TREND_KEYS}
    for point in points:
        row = [_label_cell(period_label(point.start, grain), point.start.isoformat())]
        for key in TREND_KEYS:
            value, n = point.values.get(key), point.counts.get(key, 0)
            unit = DEFINITIONS[key][2]
            figure = Figure(key, value, n, median=value if unit == "duration" else None)
            if unit == "duration":
                # A trend point carries the median only.
                row.append(
                    Cell(
                        text=duration(value) if n else "—",
                        csv=[csv_number(value, 0), "", n],
                        detail="n = " + number(n) if n else "",
                        css="" if n else "empty",
                    )
                )
            else:
                row.append(figure_cell(figure, key, with_margin=False))
            datasets[key].append(_chart_value(figure))
            counts[key].append(n)
        table.rows.append(row)
    if not any(any(counts[key]) for key in TREND_KEYS):
        table.rows = []  # nothing at all in the period: one "no figures" line, no empty chart
        return table
    table.chart = {
        "type": "line",
        "switch": True,
        "labels": [period_label(p.start, grain) for p in points],
        "datasets": [_dataset(key, datasets[key], counts[key]) for key in TREND_KEYS],
    }
    return table


def breakdown_table(
    rows: Sequence[Any],
    *,
    name: str,
    caption: str,
    by_label: str,
    keys: Sequence[str],
    link: Callable[[Any], str] | None = None,
    chart_keys: Sequence[str] = ("nps", "csat", "ces"),
) -> Table:
    """Rows of ``selectors.breakdown`` (one per channel, touchpoint, agent…) with the given
    metrics, and a bar chart of the scores."""
    table = Table(
        name=name,
        caption=caption,
        columns=[
            Column(by_label, [by_label], numeric=False),
            Column(_("Responses"), [_("Responses")]),
            *[metric_column(key) for key in keys],
        ],
    )
    for row in rows:
        table.rows.append(
            [
                _label_cell(row.label, href=link(row) if link else ""),
                Cell(text=number(row.responses), csv=[row.responses]),
                *[figure_cell(row.figure(key), key) for key in keys],
            ]
        )
    shown = [key for key in chart_keys if any(_chart_value(r.figure(key)) for r in rows)]
    if rows and shown:
        table.chart = {
            "type": "bar",
            "table_open": True,
            "labels": [row.label for row in rows],
            "datasets": [
                _dataset(
                    key,
                    [_chart_value(r.figure(key)) for r in rows],
                    [(r.figure(key).n if r.figure(key) else 0) for r in rows],
                )
                for key in shown
            ],
        }
    return table


def intent_table(rows: Sequence[Any]) -> Table:
    table = Table(
        name="visits",
        caption=_("Visits per main reason, and how many got what they came for"),
        columns=[
            Column(_("Main reason"), [_("Reason key"), _("Main reason")], numeric=False),
            Column(_("Visits"), [_("Visits")]),
            Column(_("Share"), [_("Share (%)")]),
            Column(
                _("Got what they came for"),
                [_("Fulfilment rate (%)"), _("Fulfilment n"), _("Fulfilment margin")],
            ),
        ],
    )
    for row in rows:
        rate = row.fulfilled
        table.rows.append(
            [
                Cell(text=row.label, csv=[row.reason, row.label]),
                Cell(text=number(row.visits), csv=[row.visits]),
                Cell(text=percent(row.share), csv=[csv_number(row.share)]),
                Cell(
                    text=percent(rate.value) if rate.n else "—",
                    csv=[csv_number(rate.value), rate.n, csv_number(rate.margin)],
                    detail=(
                        "n = "
                        + number(rate.n)
                        + (" · ± " + number(rate.margin, 1) if rate.margin is not None else "")
                    )
                    if rate.n
                    else _("nobody answered"),
                    flag=_("small sample") if 0 < rate.n < 30 else "",
                    css="" if rate.n else "empty",
                ),
            ]
        )
    if rows:
        table.chart = {
            "type": "bar",
            "table_open": True,
            "labels": [row.label for row in rows],
            "datasets": [
                {
                    "key": "share",
                    "label": _("Share of visits (%)"),
                    "unit": "percent",
                    "data": [round(row.share, 1) for row in rows],
                    "n": [row.visits for row in rows],
                },
                {
                    "key": "fulfilled",
                    "label": _("Got what they came for (%)"),
                    "unit": "percent",
                    "data": [
                        round(row.fulfilled.value, 1) if row.fulfilled.value is not None else None
                        for row in rows
                    ],
                    "n": [row.fulfilled.n for row in rows],
                },
            ],
        }
    return table


def verbatims_table(items: Sequence[Any]) -> Table:
    table = Table(
        name="comments",
        caption=_("Latest comments"),
        columns=[
            Column(_("Completed"), [_("Completed at")], numeric=False),
            Column(_("Customer"), [_("Customer id"), _("Customer")], numeric=False),
            Column(_("Survey"), [_("Survey")], numeric=False),
            Column(_("Score"), [_("Score"), _("Band")]),
            Column(_("Agent"), [_("Agent")], numeric=False),
            Column(_("Comment"), [_("Comment"), _("Response id")], numeric=False),
        ],
    )
    for item in items:
        table.rows.append(
            [
                Cell(text="", csv=[item.completed_at.isoformat()]),
                Cell(text=item.customer_name, csv=[item.customer_id or "", item.customer_name]),
                Cell(text=item.survey_name, csv=[item.survey_name]),
                Cell(text="", csv=["" if item.score is None else item.score, item.band]),
                Cell(text=item.agent_name, csv=[item.agent_name]),
                Cell(text=item.text, csv=[item.text, item.response_id]),
            ]
        )
    return table


# ------------------------------------------------------------------------------------------------
# The filter bar
# ------------------------------------------------------------------------------------------------
@dataclass
class Field:
    name: str
    label: str
    kind: str  # select, date or text
    value: str
    error: str = ""
    options: list[dict[str, Any]] = field(
        default_factory=list
    )  # {value, label} or {group, options}
    empty: str = ""  # the label of the "no filter" option
    help: str = ""
    disabled: bool = False


def _choices(pairs: Iterable[tuple[Any, Any]]) -> list[dict[str, Any]]:
    return [{"value": str(value), "label": str(label)} for value, label in pairs]


def _grouped(groups: Iterable[tuple[str, Iterable[tuple[Any, Any]]]]) -> list[dict[str, Any]]:
    return [{"group": name, "options": _choices(pairs)} for name, pairs in groups]


def filter_fields(
    *,
    options: Any,
    values: dict[str, str],
    errors: dict[str, str],
    periods: dict[str, Any],
    grains: dict[str, Any],
    channels: dict[str, Any],
    languages: Iterable[tuple[str, Any]],
    attributes: Iterable[str],
) -> list[tuple[str, list[Field]]]:
    """The filter bar's fields in three groups (when, where, who), with the values as given
    and each field's error next to it."""

    def make(name: str, label: str, kind: str = "select", **extra: Any) -> Field:
        return Field(name, label, kind, values.get(name, ""), errors.get(name, ""), **extra)

    when = [
        make(
            "period",
            _("Period"),
            options=[
                *_choices((key, label) for key, (_days, label) in periods.items()),
                {"value": "custom", "label": _("Custom period")},
            ],
        ),
        make("from", _("From"), "date", help=_("For a custom period")),
        make("to", _("To"), "date", help=_("For a custom period")),
        make("grain", _("Trend by"), options=_choices(grains.items())),
    ]
    where = [
        make("survey", _("Survey"), options=_choices(options.surveys), empty=_("All surveys")),
        make("journey", _("Journey"), options=_choices(options.journeys), empty=_("All journeys")),
        make("stage", _("Stage"), options=_grouped(options.stages), empty=_("All stages")),
        make(
            "touchpoint",
            _("Touchpoint"),
            options=_grouped(options.touchpoints),
            empty=_("All touchpoints"),
        ),
        make("channel", _("Channel"), options=_choices(channels.items()), empty=_("All channels")),
    ]
    who = [
        make("team", _("Team"), options=_choices(options.teams), empty=_("All teams")),
        make(
            "agent",
            _("Agent"),
            options=_choices(options.agents),
            empty="" if not options.all_agents else _("All agents"),
            disabled=not options.all_agents,
            help="" if options.all_agents else _("You see your own figures."),
        ),
        make(
            "language",
            _("Customer language"),
            options=_choices(languages),
            empty=_("All languages"),
        ),
        make(
            "attribute",
            _("Customer attribute"),
            options=_choices((name, name) for name in attributes),
            empty=_("Any attribute"),
        ),
        make("value", _("Attribute value"), "text", help=_("e.g. gold")),
    ]
    return [(_("When"), when), (_("What"), where), (_("Who"), who)]


# ------------------------------------------------------------------------------------------------
# The journey map, coloured by score
# ------------------------------------------------------------------------------------------------
@dataclass
class MapScore:
    key: str
    label: str
    text: str
    detail: str
    band: str
    small_sample: bool


@dataclass
class MapCard:
    touchpoint: Any
    band: str  # of the first score it has: NPS, else CSAT, else CES
    band_label: str
    responses: int
    scores: list[MapScore]


def map_columns(stages: Iterable[Any]) -> list[dict[str, Any]]:
    columns = []
    for stage in stages:
        cards = []
        for touchpoint, row in stage.touchpoints:
            scores = []
            for key in ("nps", "csat", "ces"):
                figure = row.figure(key) if row else None
                if figure is None or not figure.n:
                    continue
                scores.append(
                    MapScore(
                        key=key,
                        label=figure.label,
                        text=value_text(figure.value, figure.unit),
                        detail="n = "
                        + number(figure.n)
                        + (" · ± " + number(figure.margin, 1) if figure.margin is not None else ""),
                        band=band(key, figure.value),
                        small_sample=figure.small_sample,
                    )
                )
            main = scores[0].band if scores else "none"
            cards.append(
                MapCard(
                    touchpoint=touchpoint,
                    band=main,
                    band_label=str(BAND_LABELS[main]),
                    responses=row.responses if row else 0,
                    scores=scores,
                )
            )
        columns.append({"name": stage.name, "cards": cards})
    return columns


def root_causes_table(shares: Sequence[Any], resolved: int) -> Table:
    """The root causes of the follow-ups resolved in the period (close the loop)."""
    table = Table(
        name="root_causes",
        caption=_("Root causes of resolved follow-ups"),
        columns=[
            Column(_("Root cause"), [_("Root cause")], numeric=False),
            Column(_("Follow-ups"), [_("Follow-ups")]),
            Column(_("Share"), [_("Share (%)")]),
        ],
    )
    for share in shares:
        table.rows.append(
            [
                _label_cell(share.label),
                Cell(text=number(share.count), csv=[share.count]),
                Cell(text=percent(share.percent), csv=[csv_number(share.percent)]),
            ]
        )
    if shares:
        table.chart = {
            "type": "bar",
            "table_open": True,
            "labels": [share.label for share in shares],
            "datasets": [
                {
                    "key": "followups",
                    "label": _("Follow-ups"),
                    "unit": "count",
                    "data": [share.count for share in shares],
                    "n": [resolved for _share in shares],
                }
            ],
        }
    return table

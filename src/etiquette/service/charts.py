"""The report's charts as ECharts options, built here from the report and drawn in the browser
by static/report-charts.js with ECharts (fetched at set-up, served from /static/vendor/).

The options are plain JSON (the page carries them in a data attribute: the
Content-Security-Policy runs no inline script), laid out so that nothing overlaps: category
labels never collide (bars are horizontal where labels are long; the weekly axis shows every
label, turned when there are many), the legend sits above the plot area, never on a bar, and
each bar has a tooltip. No animation: a chart printed or exported is complete at once.
Two shapes cover the report: horizontal bars (a ranking, counts per rule) and paired columns
(incidents per week or month)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BAR, BAR_HIGHLIGHT, BAR_UNDECIDED, BAR_MUTED = "#5b7db1", "#c0392b", "#d68910", "#c9ced6"
FONT = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif"
ROW_PX, LEGEND_PX, AXIS_PX = 26, 36, 40


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    group: str = ""  # its legend entry (a key of the chart's `groups`); "" in a chart of one kind


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    option: dict[str, Any]  # an ECharts option, JSON-serialisable
    height: int  # px, to fit every row


def _base(legend: bool, top: int = 0, tooltip: str = "axis") -> dict[str, Any]:
    """`top`: room above the plot for value labels on top of the columns; `tooltip`: what a
    tooltip shows, the bar under the pointer ("item") or all bars of its category ("axis")."""
    return {
        "animation": False,
        "textStyle": {"fontFamily": FONT},
        # Drawn by the chart's own renderer: an HTML tooltip is markup with style attributes,
        # which the Content-Security-Policy refuses.
        "tooltip": {"trigger": tooltip, "axisPointer": {"type": "shadow"}, "confine": True,
                    "renderMode": "richText"},
        # containLabel: the plot shrinks to leave room for every axis label, whatever its length.
        "grid": {"left": 8, "right": 48, "bottom": 8, "top": (LEGEND_PX if legend else 12) + top,
                 "containLabel": True},
        **({"legend": {"top": 4, "left": "center", "itemGap": 16}} if legend else {}),
    }


def _value(value: float) -> float | dict[str, Any]:
    """A bar's value; a zero without its label (a row of 0s says nothing and crowds the axis)."""
    return value if value else {"value": value, "label": {"show": False}}


def hbars(bars: Sequence[Bar], *, title: str, chart_id: str, lo: float = 0.0,
          hi: float | None = None, groups: Mapping[str, str] | None = None,
          counts: bool = False) -> Chart | None:
    """Horizontal bars from `lo` to each value, first bar on top; `groups`: legend entry →
    colour, for bars of several kinds (only those present are listed); `counts`: whole
    numbers on the axis. None when empty."""
    if not bars:
        return None
    colours = dict(groups or {"": BAR})
    present = [g for g in colours if any(b.group == g for b in bars)]
    option = _base(legend=len(present) > 1, tooltip="item")
    option["yAxis"] = {"type": "category", "inverse": True, "data": [b.label for b in bars],
                       "axisTick": {"show": False},
                       "axisLabel": {"width": 220, "overflow": "truncate", "interval": 0}}
    option["xAxis"] = {"type": "value", "min": lo, "splitNumber": 5,
                       **({"max": hi} if hi is not None else {}),
                       **({"minInterval": 1} if counts else {})}
    # One series per kind, laid on the same row (barGap -100%): each bar has its kind's colour
    # and the legend names the kinds.
    option["series"] = [
        {"type": "bar", "name": g or title, "barGap": "-100%", "barMaxWidth": 18,
         "itemStyle": {"color": colours[g]},
         "label": {"show": True, "position": "right", "fontSize": 11},
         "data": [_value(b.value) if b.group == g else None for b in bars]}
        for g in present]
    legend_px = LEGEND_PX if len(present) > 1 else 12
    return Chart(chart_id, title, option, legend_px + ROW_PX * len(bars) + AXIS_PX)


def columns(groups: Sequence[tuple[str, float, float]], *, title: str, names: tuple[str, str],
            chart_id: str) -> Chart | None:
    """Paired columns per group: (label, first, second), e.g. all incidents and counted ones.
    Every label is shown; with many groups they are turned so that they never touch."""
    if not groups:
        return None
    option = _base(legend=True, top=16)
    option["xAxis"] = {"type": "category", "data": [g[0] for g in groups],
                       "axisTick": {"alignWithLabel": True},
                       "axisLabel": {"interval": 0, "rotate": 0 if len(groups) <= 6 else 40}}
    option["yAxis"] = {"type": "value", "minInterval": 1}
    values = ([g[1] for g in groups], [g[2] for g in groups])
    option["series"] = [
        {"type": "bar", "name": name, "barMaxWidth": 24, "itemStyle": {"color": colour},
         "label": {"show": True, "position": "top", "fontSize": 10},
         "data": [_value(v) for v in series]}
        for name, colour, series in zip(names, (BAR_MUTED, BAR), values, strict=True)]
    return Chart(chart_id, title, option, 300 if len(groups) <= 6 else 330)

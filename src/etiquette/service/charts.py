"""Report charts as inline SVG, drawn on the server: they need no script, print sharply, and
live inside the exported HTML file. Two shapes cover the report: horizontal bars (a ranking,
counts per rule) and paired columns (incidents per week)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

FONT = 'font-family="Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif"'
BAR, BAR_HIGHLIGHT, BAR_MUTED = "#5b7db1", "#c0392b", "#c9ced6"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    highlight: bool = False  # drawn in red (a red-flag window)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def _text_width(text: str) -> float:
    """Approximate width at 12 px: CJK characters are square, the rest about half."""
    return sum(12 if ord(c) > 0x2E80 else 7 for c in text)


def hbars(bars: Sequence[Bar], *, title: str, lo: float = 0.0, hi: float | None = None,
          chart_id: str = "") -> str:
    """Horizontal bars from `lo` to each value; an empty list gives a note instead."""
    if not bars:
        return f'<p class="muted">{escape(title)}：无数据</p>'
    hi = hi if hi is not None else max(b.value for b in bars) or 1.0
    if hi <= lo:
        hi = lo + 1
    label_w = min(260, max(_text_width(b.label) for b in bars) + 12)
    plot_w, row_h, top = 420.0, 22, 28
    width, height = label_w + plot_w + 60, top + row_h * len(bars) + 24
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
           f'id="{escape(chart_id)}" '
           f'viewBox="0 0 {width:.0f} {height}" width="{width:.0f}" height="{height}" {FONT} '
           f'font-size="12"><title>{escape(title)}</title>',
           f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, b in enumerate(bars):
        y = top + i * row_h
        share = max(0.0, min(1.0, (b.value - lo) / (hi - lo)))
        colour = BAR_HIGHLIGHT if b.highlight else BAR
        out.append(f'<text x="{label_w - 6:.0f}" y="{y + 15}" text-anchor="end">'
                   f'{escape(b.label)}</text>')
        out.append(f'<rect x="{label_w:.0f}" y="{y + 3}" width="{plot_w * share:.1f}" '
                   f'height="{row_h - 6}" '
                   f'fill="{colour}"><title>{escape(b.label)}：{_fmt(b.value)}</title></rect>')
        out.append(f'<text x="{label_w + plot_w * share + 4:.1f}" y="{y + 15}">'
                   f'{_fmt(b.value)}</text>')
    axis_y = top + row_h * len(bars) + 14
    out.append(f'<text x="{label_w:.0f}" y="{axis_y}" fill="#777">{_fmt(lo)}</text>')
    out.append(f'<text x="{label_w + plot_w:.0f}" y="{axis_y}" fill="#777" '
               f'text-anchor="end">{_fmt(hi)}</text>')
    out.append("</svg>")
    return "".join(out)


def columns(groups: Sequence[tuple[str, float, float]], *, title: str, names: tuple[str, str],
            chart_id: str = "") -> str:
    """Paired columns per group: (label, first, second), e.g. all incidents and counted ones."""
    if not groups:
        return f'<p class="muted">{escape(title)}：无数据</p>'
    top_value = max(max(a, b) for _, a, b in groups) or 1.0
    step = 10 ** max(0, math.floor(math.log10(top_value))) if top_value >= 1 else 1
    top_value = math.ceil(top_value / step) * step
    group_w, plot_h, left, top = 64, 160, 36, 40
    width, height = left + group_w * len(groups) + 10, top + plot_h + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
           f'id="{escape(chart_id)}" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" {FONT} '
           f'font-size="11">'
           f'<title>{escape(title)}</title>',
           f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{left}" y="24" width="10" height="10" fill="{BAR_MUTED}"/>'
           f'<text x="{left + 14}" y="33">{escape(names[0])}</text>',
           f'<rect x="{left + 90}" y="24" width="10" height="10" fill="{BAR}"/>'
           f'<text x="{left + 104}" y="33">{escape(names[1])}</text>',
           f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
           f'stroke="#999"/>',
           f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" fill="#777">'
           f'{_fmt(top_value)}</text>',
           f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" fill="#777">0</text>']
    for i, (label, a, b) in enumerate(groups):
        x = left + i * group_w + 8
        for j, (value, colour, name) in enumerate(((a, BAR_MUTED, names[0]), (b, BAR, names[1]))):
            h = plot_h * value / top_value
            out.append(f'<rect x="{x + j * 22}" y="{top + plot_h - h:.1f}" width="20" '
                       f'height="{h:.1f}" fill="{colour}">'
                       f'<title>{escape(label)} {escape(name)}：{_fmt(value)}</title></rect>')
            out.append(f'<text x="{x + j * 22 + 10}" y="{top + plot_h - h - 3:.1f}" '
                       f'text-anchor="middle">{_fmt(value)}</text>')
        out.append(f'<text x="{x + 21}" y="{top + plot_h + 16}" text-anchor="middle">'
                   f'{escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)

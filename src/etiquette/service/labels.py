"""Chinese names of the domain's codes, for pages, reports and exports (one place)."""

from __future__ import annotations

KIND_NAMES = {"forbidden_phrase": "禁用语", "missing_greeting": "缺迎声",
              "missing_farewell": "缺送声", "off_post": "离岗"}
SEVERITY_NAMES = {"minor": "一般", "major": "较重", "critical": "严重"}
STATUS_NAMES = {"pending": "待审核", "confirmed": "已确认", "dismissed": "已驳回", "appealed": "申诉中"}


def number(value: float | int | None) -> str:
    """A score or point count as a reader writes it: 100, 98.5, 96.67; — for none."""
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")

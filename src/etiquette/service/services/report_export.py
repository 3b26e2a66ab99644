"""A report as files: HTML that prints well (charts inline, no outside resource), CSV (one
table per file) and XLSX (a sheet per table). The same columns everywhere; a public report
has no staff table, so no export of it can carry a name."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from pydantic import BaseModel

from etiquette.service import charts, web_assets
from etiquette.service.labels import KIND_NAMES, SEVERITY_NAMES, number
from etiquette.service.schemas import ReportPublic
from etiquette.service.services.incidents import _cell

SERVICE_DIR = Path(__file__).resolve().parents[1]
REPORT_CSS = SERVICE_DIR / "static" / "report.css"
REPORT_CHARTS_JS = SERVICE_DIR / "static" / "report-charts.js"
TABLES = ("windows", "staff", "kinds", "rules", "time")

Column = tuple[str, Callable[[Any], Any]]


WINDOW_COLUMNS: list[Column] = [
    ("排名", lambda r: r.rank), ("中心", lambda r: r.center), ("窗口号", lambda r: r.number),
    ("进驻部门", lambda r: r.department), ("窗口编码", lambda r: r.window_id),
    ("得分", lambda r: r.score), ("上期得分", lambda r: r.previous_score),
    ("变化", lambda r: r.change), ("计分事件", lambda r: r.counted), ("扣分", lambda r: r.deducted),
    ("加分", lambda r: r.bonus),
    ("红旗窗口", lambda r: "是" if r.red_flag else "待定" if r.undecided else ""),
    ("不参评原因", lambda r: f"有{SEVERITY_NAMES[r.disqualified_by]}事件" if r.disqualified_by
     else r.undecided_reason or ""),
    ("评价数", lambda r: r.ratings), ("差评数", lambda r: r.poor),
    ("差评率", lambda r: f"{number(r.poor_rate * 100)}%" if r.poor_rate is not None else ""),
    ("评价与监测", lambda r: "不一致" if r.disagrees else ""),
]
STAFF_COLUMNS: list[Column] = [
    ("排名", lambda r: r.rank), ("工号", lambda r: r.employee_no), ("姓名", lambda r: r.name),
    ("得分", lambda r: r.score), ("上期得分", lambda r: r.previous_score),
    ("变化", lambda r: r.change), ("计分事件", lambda r: r.counted), ("扣分", lambda r: r.deducted),
    ("加分", lambda r: r.bonus),
]
COUNT_COLUMNS: dict[str, list[Column]] = {
    "kinds": [("类型", lambda r: r.name), ("计分事件", lambda r: r.counted),
              ("全部事件", lambda r: r.total), ("扣分", lambda r: r.points)],
    "rules": [("规则编号", lambda r: r.key), ("规则", lambda r: r.name),
              ("计分事件", lambda r: r.counted), ("全部事件", lambda r: r.total),
              ("扣分", lambda r: r.points)],
    "time": [("时段", lambda r: r.name), ("起始日", lambda r: r.key),
             ("计分事件", lambda r: r.counted), ("全部事件", lambda r: r.total)],
}
SHEET_NAMES = {"windows": "窗口排名", "staff": "人员排名", "kinds": "按类型", "rules": "按规则",
               "time": "按时段"}


def table(report: ReportPublic, name: str) -> tuple[list[str], list[list[Any]]]:
    """A table of the report by name: its header and rows. Raises ValueError for a name not
    in TABLES, or 'staff' of a public report."""
    rows: list[BaseModel]
    if name == "windows":
        columns, rows = WINDOW_COLUMNS, list(report.windows)
    elif name == "staff":
        if report.public:
            raise ValueError("a public report has no staff table")
        columns, rows = STAFF_COLUMNS, list(report.staff)
    elif name in COUNT_COLUMNS:
        columns = COUNT_COLUMNS[name]
        by_name = {"kinds": report.by_kind, "rules": report.by_rule, "time": report.by_time}
        rows = list(by_name[name])
    else:
        raise ValueError(f"unknown table {name!r}; expected one of: {', '.join(TABLES)}")
    return [h for h, _ in columns], [[get(r) for _, get in columns] for r in rows]


def title(report: ReportPublic) -> str:
    where = report.center or "全部中心"
    return f"{where} {report.label}服务礼仪考核{'（公开）' if report.public else ''}"


def local_time(report: ReportPublic, at: datetime | None,
               fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A time as the report tells it: in its zone (the display zone), as every page does."""
    return at.astimezone(ZoneInfo(report.timezone)).strftime(fmt) if at else "—"


def to_csv(report: ReportPublic, name: str = "windows") -> str:
    header, rows = table(report, name)
    out = io.StringIO()
    out.write("\ufeff")  # spreadsheet programs then read the Chinese as UTF-8
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) if isinstance(v, str) else number(v) if v is not None else ""
                         for v in row])
    return out.getvalue()


def _xlsx(value: Any) -> Any:
    """A cell's value: text that no formula runs and no control character breaks (a name typed
    with one would make the whole workbook unsavable)."""
    if not isinstance(value, str):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", _cell(value)) or None


def to_xlsx(report: ReportPublic) -> bytes:
    book = Workbook()
    about = book.active
    about.title = "说明"
    about.append([_xlsx(title(report))])
    about["A1"].font = Font(bold=True, size=14)
    about.append(["期间", report.period])
    about.append(["红旗窗口评选", report.red_flag_rule])
    about.append(["排名", report.rank_rule])
    about.append(["评分方案", _xlsx("；".join(f"{s.month}：第 {s.version_id} 版（{s.version}）"
                                         for s in report.schemes))])
    about.append(["事件总数", report.incidents])
    about.append(["计分事件", report.counted])
    about.append(["待审核（未计分）", report.pending])
    about.append(["表扬（加分）", report.commendations])
    about.append(["好差评", report.ratings])
    about.append(["评价与监测不一致", report.agreement_rule])
    about.append([f"生成时间（{report.timezone}）", local_time(report, report.generated_at)])
    about.column_dimensions["A"].width = 18
    about.column_dimensions["B"].width = 80
    red = PatternFill("solid", fgColor="F8D7D3")
    for name in TABLES:
        if name == "staff" and report.public:
            continue
        header, rows = table(report, name)
        sheet = book.create_sheet(SHEET_NAMES[name])
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_xlsx(v) for v in row])
            if name == "windows" and row[header.index("红旗窗口")] == "是":
                for cell in sheet[sheet.max_row]:
                    cell.fill = red
        for i, h in enumerate(header):
            sheet.column_dimensions[chr(ord("A") + i)].width = max(10, len(h) * 2 + 4)
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def report_charts(report: ReportPublic) -> dict[str, charts.Chart | None]:
    """The three charts: score ranking (red flags in red, 待定 in amber), incidents per week
    (per month for a year), per rule."""
    scores = [r.score for r in report.windows]
    lo = max(0.0, (min(scores) // 10) * 10 - 10) if scores else 0.0
    hi = max([100.0, *scores])
    kinds = {"红旗窗口": charts.BAR_HIGHLIGHT, "待定": charts.BAR_UNDECIDED, "其他窗口": charts.BAR}
    ranking = charts.hbars(
        [charts.Bar(f"{r.number} {r.department}".strip(), r.score,
                    "红旗窗口" if r.red_flag else "待定" if r.undecided else "其他窗口")
         for r in report.windows[:40]],
        title="窗口得分排名", lo=lo, hi=hi, groups=kinds, chart_id="chart-ranking")
    time = charts.columns([(r.name, r.total, r.counted) for r in report.by_time],
                          title="各时段事件数" if report.kind != "year" else "各月事件数",
                          names=("全部事件", "计分事件"), chart_id="chart-time")
    rules = charts.hbars([charts.Bar(f"{r.key} {r.name}", r.counted) for r in report.by_rule
                          if r.counted][:30], title="各规则计分事件数", chart_id="chart-rules",
                         counts=True)
    return {"ranking": ranking, "time": time, "rules": rules}


_env = Environment(loader=FileSystemLoader(SERVICE_DIR / "templates"),
                   autoescape=select_autoescape(["html"]))
_env.globals.update(KIND_NAMES=KIND_NAMES, SEVERITY_NAMES=SEVERITY_NAMES)
_env.filters["num"] = number


def to_html(report: ReportPublic) -> str:
    """A standalone page that fetches nothing: styles inline, and the charts drawn by ECharts
    inlined with the script that draws them (about 1.1 MB); the tables carry the same numbers
    where scripts do not run, or ECharts was not fetched at set-up."""
    echarts = web_assets.installed(web_assets.ECHARTS)
    scripts = [p.read_text(encoding="utf-8").replace("</script", "<\\/script")
               for p in (echarts, REPORT_CHARTS_JS)] if echarts else []
    return _env.get_template("report_export.html").render(
        report=report, title=title(report), charts=report_charts(report),
        css=REPORT_CSS.read_text(encoding="utf-8"), scripts=scripts, export=True,
        local=lambda at, fmt="%Y-%m-%d %H:%M:%S": local_time(report, at, fmt))

"""Reports as files and pages: the exports open (XLSX read back with openpyxl, HTML parsed,
CSV read), the public variant carries no staff name anywhere, the `etiquette report` command
gives what the API gives, and the 考核报表 page shows it to those who may read it."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from factories.report_data import (
    CRITICAL,
    STAFF_NAMES,
    ScoredCenter,
    add,
    make_center,
    march_2025,
    report,
)
from service.conftest import LiveService

WINDOW_HEADER = ["排名", "中心", "窗口号", "进驻部门", "窗口编码", "得分", "上期得分", "变化",
                 "计分事件", "扣分", "加分", "红旗窗口", "不参评原因", "评价数", "差评数", "差评率",
                 "评价与监测"]


@pytest.fixture(scope="module")
def march(service: LiveService) -> ScoredCenter:
    return march_2025(service)


def export(api: LiveService, c: ScoredCenter, fmt: str, public: bool = False,
           period: str = "2025-03", **params: str) -> bytes:
    r = api.client("supervisor").get(f"/api/v1/reports/{period}/export", params={
        "format": fmt, "center_id": c.id, "public": str(public).lower(), **params})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].startswith(
        f"attachment; filename=\"etiquette-report-{period}")
    return r.content


class Tables(HTMLParser):
    """The tables of a page by id, as rows of cell texts; and what the page would fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.charts: dict[str, Any] = {}  # id → ECharts option
        self.fetches: list[str] = []
        self.scripts = 0
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        if a.get("data-chart"):
            self.charts[a.get("id") or ""] = json.loads(a["data-chart"] or "")
        if a.get("src") or (tag == "link" and a.get("href")) or tag == "iframe":
            self.fetches.append(f"{tag} {a}")
        if tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Tables:
    t = Tables()
    t.feed(html)
    return t


def test_html_export_is_one_printable_file(api: LiveService, march: ScoredCenter) -> None:
    html = export(api, march, "html").decode("utf-8")
    page = parse(html)
    # Styles inline, the charts' options with ECharts and the script that draws them (a
    # browser test draws them): it prints and opens anywhere, offline.
    assert page.fetches == [] and page.scripts == 2 and "echarts" in html
    assert "@media print" in html and "@page" in html
    assert list(page.charts) == ["chart-ranking", "chart-time", "chart-rules"]
    ranking = page.charts["chart-ranking"]
    assert ranking["yAxis"]["data"] == ["03 公安局", "04 税务局", "02 人社局", "01 市场监督管理局"]
    assert [s["name"] for s in ranking["series"]] == ["红旗窗口", "其他窗口"]
    ranking = page.tables["window-ranking"]
    assert ranking[0][:5] == ["排名", "中心", "窗口号", "进驻部门", "得分"]
    assert [(r[2], r[4], r[10]) for r in ranking[1:]] == [
        ("03", "100", "红旗"), ("04", "98", "红旗"), ("02", "97", "有严重事件"), ("01", "90", "")]
    assert [r[2] for r in page.tables["staff-ranking"][1:]] == [
        "孙浩然", "李雨桐", "钱思琪", "赵明远"]
    assert ["F1-1 禁用语：不知道", "3", "5", "7"] in page.tables["by-rule"]
    assert f"{march.name} 2025年3月服务礼仪考核" in html


def test_xlsx_export_reads_back(api: LiveService, march: ScoredCenter) -> None:
    book = openpyxl.load_workbook(io.BytesIO(export(api, march, "xlsx")))
    assert book.sheetnames == ["说明", "窗口排名", "人员排名", "按类型", "按规则", "按时段"]
    rows = list(book["窗口排名"].iter_rows(values_only=True))
    assert list(rows[0]) == WINDOW_HEADER
    assert [(r[0], r[2], r[5], r[6], r[7], r[11]) for r in rows[1:]] == [
        (1, "03", 100, 100, 0, "是"), (2, "04", 98, 100, -2, "是"), (3, "02", 97, 100, -3, None),
        (4, "01", 90, 98, -8, None)]
    staff = list(book["人员排名"].iter_rows(values_only=True))
    assert [(r[2], r[3]) for r in staff[1:]] == [("孙浩然", 100), ("李雨桐", 98), ("钱思琪", 97),
                                                 ("赵明远", 90)]
    about = {r[0]: r[1] for r in book["说明"].iter_rows(values_only=True) if r[0]}
    assert about["期间"] == "2025-03" and "第 1 版" in about["评分方案"]


def test_csv_export_one_table_per_file(api: LiveService, march: ScoredCenter) -> None:
    text = export(api, march, "csv").decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == WINDOW_HEADER and [r[2] for r in rows[1:]] == ["03", "04", "02", "01"]
    time_csv = export(api, march, "csv", table="time").decode().lstrip("\ufeff")
    weeks = list(csv.reader(io.StringIO(time_csv)))
    assert weeks[0] == ["时段", "起始日", "计分事件", "全部事件"] and len(weeks) == 7


def _all_text(api: LiveService, c: ScoredCenter, public: bool) -> str:
    """Everything a reader of the report gets: JSON, HTML, every CSV table, every XLSX cell."""
    parts = [json.dumps(report(api, c, public=public), ensure_ascii=False),
             export(api, c, "html", public).decode()]
    for table in ("windows", "kinds", "rules", "time") + (() if public else ("staff",)):
        parts.append(export(api, c, "csv", public, table=table).decode())
    book = openpyxl.load_workbook(io.BytesIO(export(api, c, "xlsx", public)))
    parts += [str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row]
    return "\n".join(parts)


def test_the_public_variant_has_no_staff_names(api: LiveService, march: ScoredCenter) -> None:
    internal = _all_text(api, march, public=False)
    assert all(name in internal for name in STAFF_NAMES.values())
    public = _all_text(api, march, public=True)
    for personal in (*STAFF_NAMES.values(), *march.employee_nos.values(), "工号", "姓名"):
        assert personal not in public
    rep = report(api, march, public=True)
    assert rep["public"] is True and rep["staff"] == []
    assert [w["score"] for w in rep["windows"]] == [100, 98, 97, 90]  # the same scores
    # There is no staff table to export from a public report.
    r = api.client("supervisor").get("/api/v1/reports/2025-03/export", params={
        "format": "csv", "table": "staff", "public": "true", "center_id": march.id})
    assert r.status_code == 422


def test_bad_periods_and_centers(api: LiveService, march: ScoredCenter) -> None:
    sup = api.client("supervisor")
    for period in ("2025-13", "2025-Q5", "25-03", "2025-3"):
        assert sup.get(f"/api/v1/reports/{period}").status_code == 422
    assert sup.get("/api/v1/reports/2999-01").status_code == 422  # not begun
    assert sup.get("/api/v1/reports/2025-03", params={"center_id": 999_999}).status_code == 404


def _cli(live: LiveService, *args: str,
         script: str = "etiquette") -> subprocess.CompletedProcess[str]:
    db = (["--database-url", live.settings.database_url] if live.settings.database_url
          else ["--data-dir", str(live.settings.data_dir)])
    command = ([str(Path(sys.executable).parent / "etiquette")] if script == "etiquette"
               else [sys.executable, "-m", "etiquette.service"])
    return subprocess.run([*command, "report", *args, *db], capture_output=True, text=True,
                          timeout=300, check=False)


def test_the_report_command_reads_the_services_database(api: LiveService, march: ScoredCenter,
                                                        tmp_path: Path) -> None:
    since = datetime.now(UTC)
    done = _cli(api, "--month", "2025-03", "--center", march.code, "--format", "json")
    assert done.returncode == 0, done.stderr
    from_cli = json.loads(done.stdout)
    from_api = report(api, march)
    assert from_cli["windows"] == from_api["windows"] and from_cli["staff"] == from_api["staff"]
    assert from_cli["red_flags"] == from_api["red_flags"]

    out = tmp_path / "march.xlsx"
    done = _cli(api, "--month", "2025-03", "--center", march.code, "--public", "--format", "xlsx",
                "--out", str(out), script="module")
    assert done.returncode == 0, done.stderr
    book = openpyxl.load_workbook(out)
    assert "人员排名" not in book.sheetnames and book["窗口排名"]["C2"].value == "03"

    table = _cli(api, "--quarter", "2025-Q1", "--center", march.code, script="module")
    assert table.returncode == 0, table.stderr
    assert "红旗窗口" in table.stdout and "赵明远" in table.stdout and "96" in table.stdout
    _said_in_the_display_zone(api, table.stdout, since)

    bad = _cli(api, "--month", "2025-03", "--center", "no-such-center", script="module")
    assert bad.returncode == 2 and "no-such-center" in bad.stderr


GENERATED = re.compile(r"生成于 (\d{4}-\d\d-\d\d \d\d:\d\d)（([\w/+-]+) 时间）")


def _said_in_the_display_zone(live: LiveService, text: str, since: datetime) -> None:
    """The generation time `text` states is in the display zone, named, and is the time it was
    generated there (between `since` and now): the report's readers go by the center's clock."""
    found = GENERATED.search(text)
    assert found, text[-2000:]
    zone = live.settings.display_timezone
    assert found[2] == zone
    at = datetime.strptime(found[1], "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(zone))
    assert since.replace(second=0, microsecond=0) <= at <= datetime.now(UTC)


def test_the_generation_time_is_the_display_zones(api: LiveService, march: ScoredCenter) -> None:
    """The page's footer, the HTML and XLSX exports say when the report was made in the zone
    every page uses, not in UTC (`etiquette report`: test_the_report_command_reads_...)."""
    since = datetime.now(UTC)
    page = api.client("supervisor").get("/reports",
                                        params={"period": "2025-03", "center_id": march.id})
    _said_in_the_display_zone(api, page.text, since)
    _said_in_the_display_zone(api, export(api, march, "html").decode(), since)
    book = openpyxl.load_workbook(io.BytesIO(export(api, march, "xlsx")))
    about = {r[0]: r[1] for r in book["说明"].iter_rows(values_only=True) if r[0]}
    zone = api.settings.display_timezone
    at = datetime.strptime(about[f"生成时间（{zone}）"], "%Y-%m-%d %H:%M:%S")
    assert since.replace(microsecond=0) <= at.replace(tzinfo=ZoneInfo(zone)) <= datetime.now(UTC)


def test_the_report_page(api: LiveService, march: ScoredCenter) -> None:
    page = api.client("supervisor").get("/reports",
                                        params={"period": "2025-03", "center_id": march.id})
    assert page.status_code == 200
    tables = parse(page.text)
    assert [r[2] for r in tables.tables["window-ranking"][1:]] == ["03", "04", "02", "01"]
    assert list(tables.charts) == ["chart-ranking", "chart-time", "chart-rules"]
    assert 'id="export-xlsx"' in page.text
    public = api.client("auditor").get("/reports", params={"period": "2025-03",
                                                           "center_id": march.id, "public": "1"})
    assert public.status_code == 200 and "staff-ranking" not in public.text
    assert all(name not in public.text for name in STAFF_NAMES.values())
    assert api.client("staff1").get("/reports").status_code == 403
    anonymous = api.client(None).get("/reports", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_a_window_whose_critical_incident_awaits_review_is_undecided(api: LiveService) -> None:
    """Issue 18: such a window was shown as a 100-point 红旗 window. It is 待定 with the reason,
    everywhere the report goes; four windows at 100 share rank 1 (并列), and the rule saying
    so is stated. Dismissed, the incident bars nothing and the window is a red flag."""
    c = make_center(api)
    iid = add(api, c, "b1", "b", "2025-05-12T10:00:00+08:00", status="pending", **CRITICAL)
    rep = report(api, c, period="2025-05")
    rows = {w["window_id"]: w for w in rep["windows"]}
    b = rows[c.windows["b"]]
    assert b["score"] == 100 and b["red_flag"] is False and b["undecided"] is True
    assert b["undecided_reason"] == "有 1 条严重事件待审核，审核后确定是否评为红旗窗口"
    assert [w["window_id"] for w in rep["undecided"]] == [c.windows["b"]]
    assert sorted(w["number"] for w in rep["red_flags"]) == ["01", "03", "04"]
    assert all(w["rank"] == 1 and w["tied"] for w in rep["windows"])
    assert "并列" in rep["rank_rule"] and "待定" in rep["red_flag_rule"]

    page = parse(api.client("supervisor").get(
        "/reports", params={"period": "2025-05", "center_id": c.id}).text)
    ranking = {r[2]: r for r in page.tables["window-ranking"][1:]}
    assert ranking["02"][0] == "1（并列）" and ranking["02"][10] == "待定"
    assert ranking["01"][10] == "红旗"
    xlsx = openpyxl.load_workbook(io.BytesIO(export(api, c, "xlsx", period="2025-05")))
    row = next(r for r in xlsx["窗口排名"].iter_rows(values_only=True) if r[2] == "02")
    assert row[11:13] == ("待定", b["undecided_reason"])

    assert api.client("supervisor").post(f"/api/v1/incidents/{iid}/review", json={
        "action": "dismiss", "reason": "识别错误"}).status_code == 200
    after = report(api, c, period="2025-05")
    assert sorted(w["number"] for w in after["red_flags"]) == ["01", "02", "03", "04"]
    assert after["undecided"] == []

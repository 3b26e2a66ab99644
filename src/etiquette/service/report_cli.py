"""`etiquette report`: a month's (quarter's, year's) scores, ranking and red-flag windows from
the service's database, printed or exported, exactly as the 考核报表 page shows them.

It reads the database itself (the --data-dir / --database-url of `etiquette serve`), so it works
where the service runs, without a login, as an operator at the console (audit actor
system:cli); it applies pending migrations first, as `etiquette serve` would. A data directory
or SQLite database that is not there is refused (exit 2), nothing created: a mistyped path must
not print an empty report as if the month had no incidents.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from etiquette.service.cli import DatabaseUrl, DataDir, _settings

if TYPE_CHECKING:
    from etiquette.service.core.config import Settings
    from etiquette.service.schemas import ReportPublic


class Format(StrEnum):
    TABLE = "table"
    HTML = "html"
    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"


def report(
    month: Annotated[str | None, typer.Option(help="月份，如 2026-11（默认本月）")] = None,
    quarter: Annotated[str | None, typer.Option(help="季度，如 2026-Q4（各月得分的平均）")] = None,
    year: Annotated[str | None, typer.Option(help="年度，如 2026（各月得分的平均）")] = None,
    center: Annotated[str | None, typer.Option(help="只看一个中心（中心编码，默认全部）")] = None,
    public: Annotated[bool, typer.Option(
        "--public", help="公开版：不含工作人员姓名等个人信息")] = False,
    format: Annotated[Format, typer.Option(  # noqa: A002
        "--format", "-f", help="table（终端表格）、html、csv、xlsx、json")] = Format.TABLE,
    table: Annotated[str, typer.Option(
        help="csv：导出哪张表（windows、staff、kinds、rules、time）")] = "windows",
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="写入文件（xlsx 必须指定）")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """考核报表：窗口与工作人员得分排名、与上期对比、红旗窗口、按类型/规则/时段的事件统计。"""
    from sqlalchemy.exc import OperationalError

    from etiquette.core.scoring import Period
    from etiquette.service.core.db import make_engine, make_sessionmaker
    from etiquette.service.crud import master
    from etiquette.service.errors import ServiceError
    from etiquette.service.main import prestart
    from etiquette.service.services import report_export, reports
    from etiquette.service.services import scoring as scoring_service
    from etiquette.service.services.access import SYSTEM_CLI

    given = [p for p in (month, quarter, year) if p]
    if len(given) > 1:
        _fail("--month、--quarter、--year 只能指定一个")
    if format == Format.XLSX and out is None:
        _fail("xlsx 是二进制文件，请用 --out 指定文件名")
    if given:
        try:
            Period.parse(given[0])
        except ValueError as e:
            _fail(str(e))
    settings = _settings(data_dir, database_url)
    _check_database(settings)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        prestart(settings, engine, create_data_dir=False)
        with make_sessionmaker(engine)() as session:
            center_id = None
            if center:
                row = master.center_by_code(session=session, code=center)
                if row is None:
                    _fail(f"没有编码为 {center} 的中心")
                center_id = row.id
            text = given[0] if given else str(scoring_service.current_month(settings))
            try:
                period = reports.parse_period(text)
                result = reports.build(session=session, settings=settings, principal=SYSTEM_CLI,
                                       period=period, center_id=center_id, public=public)
            except ServiceError as e:
                _fail(e.detail)
    except OperationalError as e:
        _fail(f"无法连接数据库：{e.orig}")
    finally:
        engine.dispose()

    if format == Format.TABLE:
        _print_table(result)
        return
    if format == Format.XLSX:
        body: str | bytes = report_export.to_xlsx(result)
    elif format == Format.HTML:
        body = report_export.to_html(result)
    elif format == Format.JSON:
        body = result.model_dump_json(indent=2)
    else:
        try:
            body = report_export.to_csv(result, table)
        except ValueError as e:
            _fail(f"{e}")
    if out is None:
        sys.stdout.write(body if isinstance(body, str) else body.decode())
        return
    if isinstance(body, str):
        out.write_text(body, encoding="utf-8")
    else:
        out.write_bytes(body)
    typer.echo(f"已写入 {out}", err=True)


def _check_database(settings: Settings) -> None:
    """Refuses (exit 2) a data directory or SQLite database file that does not exist."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.sqlalchemy_url)
    if not url.drivername.startswith("sqlite"):
        return  # a server database: whether it exists, connecting tells
    if settings.database_url is None and not settings.data_dir.is_dir():
        _fail(f"数据目录不存在：{settings.data_dir}（请用 --data-dir 指定 etiquette serve "
              "使用的数据目录）")
    path = Path(url.database or "")
    if not url.database or url.database == ":memory:" or not path.is_file():
        _fail(f"数据库不存在：{path if url.database else settings.sqlalchemy_url}"
              "（还没有用 etiquette serve 启动过服务，或数据目录、--database-url 写错了）")


def _fail(message: str) -> NoReturn:
    typer.echo(f"错误：{message}", err=True)
    raise typer.Exit(2)


def _print_table(report: ReportPublic) -> None:
    from rich.console import Console
    from rich.table import Table

    from etiquette.service.services.report_export import local_time, title
    from etiquette.service.services.report_export import table as report_table

    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(f"[bold]{title(report)}[/bold]", highlight=False)
    console.print(f"事件 {report.incidents} 条，计分 {report.counted} 条，"
                  f"待审核 {report.pending} 条；评分方案 "
                  + "；".join(f"{s.month} 第 {s.version_id} 版" for s in report.schemes)
                  + f"；生成于 {local_time(report, report.generated_at, '%Y-%m-%d %H:%M')}"
                  f"（{report.timezone} 时间）", highlight=False)
    flags = "、".join(f"{r.center} {r.number} 号窗口（{r.score} 分）" for r in report.red_flags)
    console.print(f"红旗窗口（{report.red_flag_rule}）：" + (flags or "无"), highlight=False)
    for r in report.undecided:
        console.print(f"待定：{r.center} {r.number} 号窗口（{r.score} 分），{r.undecided_reason}",
                      highlight=False)
    for name, caption in (("windows", "窗口得分排名"), ("staff", "工作人员得分排名"),
                          ("rules", "按规则"), ("time", "按时段")):
        if name == "staff" and report.public:
            continue
        header, rows = report_table(report, name)
        t = Table(title=caption, title_justify="left")
        for h in header:
            t.add_column(h)
        for row in rows:
            t.add_row(*("—" if v is None else str(v) for v in row))
        console.print(t)

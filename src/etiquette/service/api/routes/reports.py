"""Reports of a month, quarter or year: as JSON, and exported as HTML, CSV or XLSX."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from etiquette.service.api.deps import CurrentUser, SessionDep, SettingsDep
from etiquette.service.errors import Invalid
from etiquette.service.schemas import MAX_ID, PERIOD_PATTERN, ReportPublic, error_responses
from etiquette.service.services import report_export, reports
from etiquette.service.services.access import Principal

router = APIRouter(prefix="/reports", tags=["reports"])
ERRORS = error_responses(401, 403, 404, 422)
PeriodPath = Annotated[str, Path(pattern=PERIOD_PATTERN, description="a month 2026-11, a quarter "
                                                                      "2026-Q4 or a year 2026")]
CenterId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="one center (default all)")]
Public = Annotated[bool, Query(description="the variant to publish: no staff, no personal data")]


class ExportFormat(StrEnum):
    HTML = "html"
    CSV = "csv"
    XLSX = "xlsx"


class Table(StrEnum):
    WINDOWS = "windows"
    STAFF = "staff"
    KINDS = "kinds"
    RULES = "rules"
    TIME = "time"


MEDIA_TYPES = {
    ExportFormat.HTML: "text/html; charset=utf-8",
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _build(session: SessionDep, settings: SettingsDep, principal: Principal, period: str,
           center_id: int | None, public: bool) -> ReportPublic:
    return reports.build(session=session, settings=settings, principal=principal,
                         period=reports.parse_period(period), center_id=center_id, public=public)


@router.get("/{period}", response_model=ReportPublic, responses=ERRORS)
def get_report(period: PeriodPath, session: SessionDep, settings: SettingsDep,
               principal: CurrentUser, center_id: CenterId = None,
               public: Public = False) -> ReportPublic:
    """Window and staff scores with ranking and change against the previous period, red-flag
    windows, incidents by kind, rule and week (supervisors, admins, auditors)."""
    return _build(session, settings, principal, period, center_id, public)


@router.get("/{period}/export", response_class=Response, responses={
    200: {"content": {t: {"schema": {"type": "string"}} for t in MEDIA_TYPES.values()},
          "description": "the report as a file"}, **ERRORS})
def export_report(period: PeriodPath, session: SessionDep, settings: SettingsDep,
                  principal: CurrentUser, format: ExportFormat = ExportFormat.HTML,  # noqa: A002
                  table: Annotated[Table, Query(description="CSV: which table")] = Table.WINDOWS,
                  center_id: CenterId = None, public: Public = False) -> Response:
    """The report as a printable HTML file, a CSV table or an XLSX workbook."""
    report = _build(session, settings, principal, period, center_id, public)
    if format == ExportFormat.HTML:
        body: str | bytes = report_export.to_html(report)
    elif format == ExportFormat.XLSX:
        body = report_export.to_xlsx(report)
    else:
        try:
            body = report_export.to_csv(report, table.value)
        except ValueError as e:
            raise Invalid("公开版没有工作人员表 (a public report has no staff table)") from e
    name = f"etiquette-report-{report.period}{'-public' if public else ''}"
    if format == ExportFormat.CSV:
        name += f"-{table.value}"
    disposition = f'attachment; filename="{name}.{format.value}"'
    return Response(body, media_type=MEDIA_TYPES[format],
                    headers={"Content-Disposition": disposition})

"""The report of a month, quarter or year (scores, ranking, red-flag windows), with its
exports; the public version leaves out what is not to be published."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from etiquette.service.api.deps import SessionDep, SettingsDep
from etiquette.service.crud import master as crud_master
from etiquette.service.errors import Invalid
from etiquette.service.models import Center
from etiquette.service.services import report_export, reports
from etiquette.service.services import scoring as scoring_service
from etiquette.service.services.access import Permission
from etiquette.service.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)


@router.get("/reports", response_class=HTMLResponse)
def report_page(request: Request, session: SessionDep, settings: SettingsDep, principal: PageUser,
                period: Annotated[str | None, Query(max_length=10)] = None,
                center_id: Annotated[str | None, Query(max_length=12)] = None,
                public: Annotated[str | None, Query(max_length=5)] = None) -> Response:
    """The report of a month, quarter or year (default: the current month), with its exports."""
    principal.require(Permission.REPORTS_READ)
    chosen = reports.parse_period(period or str(scoring_service.current_month(settings)))
    try:
        center = int(center_id) if center_id else None
    except ValueError as e:
        raise Invalid("中心编号有误") from e
    is_public = public in ("1", "true", "on")
    report = reports.build(session=session, settings=settings, principal=principal, period=chosen,
                           center_id=center, public=is_public)
    query = {k: v for k, v in (("center_id", center_id),
                               ("public", "true" if is_public else None)) if v}
    centers, _ = crud_master.list_rows(session=session, model=Center, limit=500)
    return render(request, "report.html", {
        "principal": principal, "report": report, "title": report_export.title(report),
        "charts": report_export.report_charts(report),
        "centers": [c for c in centers if principal.sees_center(c.id)], "center_id": center,
        "export_base": f"/api/v1/reports/{report.period}/export", "q": urlencode(query)})

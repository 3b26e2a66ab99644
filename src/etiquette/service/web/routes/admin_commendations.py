"""表扬记录 (supervisors and admins record and withdraw; auditors read): the commendations of a
month, quarter or year, each earning its window the scoring scheme's bonus points. The same
services as /api/v1/commendations."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from etiquette.service.api.deps import SessionDep, SettingsDep
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import master as crud
from etiquette.service.errors import ServiceError
from etiquette.service.models import Staff, Window
from etiquette.service.schemas import MAX_ID, PERIOD_PATTERN, CommendationCreate
from etiquette.service.services import commendations, reports
from etiquette.service.services import scoring as scoring_service
from etiquette.service.services.access import Permission, Principal
from etiquette.service.web.admin_forms import checked, local_time, optional_int, service_error
from etiquette.service.web.pages import PageUser, check_csrf, render

router = APIRouter(include_in_schema=False)
Token = Annotated[str, Form(max_length=100)]
Period = Annotated[str | None, Query(pattern=PERIOD_PATTERN)]


def _page(request: Request, session: Session, settings: Settings, principal: Principal,
          period: str | None, *, values: dict[str, Any] | None = None,
          errors: dict[str, str] | None = None, saved: str | None = None,
          status_code: int = 200) -> HTMLResponse:
    principal.require(Permission.REPORTS_READ)
    zone = ZoneInfo(settings.display_timezone)
    chosen = reports.parse_period(period or str(scoring_service.current_month(settings)))
    rows = commendations.between(session=session, principal=principal, start=chosen.start(zone),
                                 end=chosen.end(zone), center_id=None)
    windows, _ = crud.list_rows(session=session, model=Window, limit=2000)
    staff, _ = crud.list_rows(session=session, model=Staff, limit=2000)
    return render(request, "admin_commendations.html", {
        "principal": principal, "period": str(chosen), "rows": rows,
        "windows": [w for w in windows if w.active and principal.sees_center(w.center_id)],
        "staff": [s for s in staff if s.active and principal.sees_center(s.center_id)],
        "values": values or {"at": utcnow().astimezone(zone).strftime("%Y-%m-%dT%H:%M")},
        "errors": errors or {}, "saved": saved,
        "can_edit": principal.can(Permission.COMMENDATIONS_WRITE)}, status_code=status_code)


@router.get("/commendations", response_class=HTMLResponse)
def commendations_page(request: Request, session: SessionDep, settings: SettingsDep,
                       principal: PageUser, period: Period = None,
                       saved: Annotated[str | None, Query(pattern="^(added|withdrawn)$")] = None
                       ) -> Response:
    """The commendations of a month, quarter or year (default: the current month)."""
    return _page(request, session, settings, principal, period, saved=saved)


@router.post("/commendations", response_class=HTMLResponse)
def commendations_add(request: Request, session: SessionDep, settings: SettingsDep,
                      principal: PageUser, csrf_token: Token,
                      window_pk: Annotated[str, Form(max_length=20)],
                      at: Annotated[str, Form(max_length=40)],
                      reason: Annotated[str, Form(max_length=2000)],
                      staff_id: Annotated[str, Form(max_length=20)] = "") -> Response:
    """Record a commendation; `at` is the display time zone's wall time, its month the one it
    counts in."""
    principal.require(Permission.COMMENDATIONS_WRITE)
    check_csrf(principal, csrf_token)
    zone = ZoneInfo(settings.display_timezone)
    values = {"window_pk": optional_int(window_pk), "staff_id": optional_int(staff_id),
              "at": at, "reason": reason}
    body = checked(CommendationCreate, {**values, "at": local_time(at, zone)})
    if isinstance(body, dict):
        return _page(request, session, settings, principal, None, values=values, errors=body,
                     status_code=422)
    try:
        commendations.create(session=session, principal=principal, body=body)
    except ServiceError as e:
        return _page(request, session, settings, principal, None, values=values,
                     errors=service_error(e), status_code=e.status_code)
    month = body.at.astimezone(zone).strftime("%Y-%m")
    return RedirectResponse(f"/commendations?period={month}&saved=added", status_code=303)


@router.post("/commendations/{commendation_id}/withdraw")
def commendations_withdraw(commendation_id: Annotated[int, FastPath(ge=1, le=MAX_ID)],
                           session: SessionDep, principal: PageUser, csrf_token: Token,
                           period: Annotated[str, Form(pattern=PERIOD_PATTERN)]) -> Response:
    """Withdraw a commendation recorded by mistake (audited)."""
    principal.require(Permission.COMMENDATIONS_WRITE)
    check_csrf(principal, csrf_token)
    commendations.delete(session=session, principal=principal, commendation_id=commendation_id)
    return RedirectResponse(f"/commendations?period={period}&saved=withdrawn", status_code=303)

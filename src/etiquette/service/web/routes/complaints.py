"""投诉处理 (supervisors and admins register, assign and answer; auditors read; staff read
those about themselves) and 好差评 (the evaluation device's ratings, for those who read
reports). The same services as /api/v1/complaints and /api/v1/ratings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from etiquette.service.api.deps import SessionDep, SettingsDep
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit
from etiquette.service.crud import master as crud
from etiquette.service.errors import ServiceError
from etiquette.service.labels import COMPLAINT_CHANNEL_NAMES, COMPLAINT_STATUS_NAMES
from etiquette.service.models import Window
from etiquette.service.schemas import (
    MAX_ID,
    PERIOD_PATTERN,
    ComplaintAssign,
    ComplaintCreate,
    ComplaintReply,
    ComplaintStatus,
)
from etiquette.service.services import audit_text, complaints, ratings, reports
from etiquette.service.services import scoring as scoring_service
from etiquette.service.services.access import Permission, Principal
from etiquette.service.web.admin_forms import checked, local_time, optional_int, service_error
from etiquette.service.web.pages import PageUser, check_csrf, render

router = APIRouter(include_in_schema=False)
Token = Annotated[str, Form(max_length=100)]
ComplaintId = Annotated[int, FastPath(ge=1, le=MAX_ID)]
B = TypeVar("B", ComplaintAssign, ComplaintReply)


def _list_page(request: Request, session: Session, settings: Settings, principal: Principal,
               status: ComplaintStatus | None, *, values: dict[str, Any] | None = None,
               errors: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    rows, count = complaints.listed(session=session, principal=principal, status=status,
                                    limit=200)
    now = utcnow()
    zone = ZoneInfo(settings.display_timezone)
    windows, _ = crud.list_rows(session=session, model=Window, limit=2000)
    return render(request, "complaints.html", {
        "principal": principal, "rows": [complaints.to_public(principal, r, now) for r in rows],
        "count": count, "status": status.value if status else "",
        "statuses": COMPLAINT_STATUS_NAMES, "channels": COMPLAINT_CHANNEL_NAMES,
        "windows": [w for w in windows if w.active and principal.sees_center(w.center_id)],
        "values": values or {"at": now.astimezone(zone).strftime("%Y-%m-%dT%H:%M")},
        "errors": errors or {}, "reply_days": settings.complaint_reply_days,
        "can_edit": principal.can(Permission.COMPLAINTS_WRITE)}, status_code=status_code)


@router.get("/complaints", response_class=HTMLResponse)
def complaints_page(request: Request, session: SessionDep, settings: SettingsDep,
                    principal: PageUser,
                    status: Annotated[ComplaintStatus | None, Query()] = None) -> Response:
    """The complaints, newest first, overdue ones marked; the form to register one."""
    return _list_page(request, session, settings, principal, status)


@router.post("/complaints", response_class=HTMLResponse)
def complaints_add(request: Request, session: SessionDep, settings: SettingsDep,
                   principal: PageUser, csrf_token: Token,
                   window_pk: Annotated[str, Form(max_length=20)],
                   channel: Annotated[str, Form(max_length=20)],
                   at: Annotated[str, Form(max_length=40)],
                   text: Annotated[str, Form(max_length=2000)],
                   contact: Annotated[str, Form(max_length=200)] = "",
                   deadline: Annotated[str, Form(max_length=40)] = "") -> Response:
    """Register a complaint; `at` and `deadline` (empty: the default) are the display time
    zone's wall time."""
    principal.require(Permission.COMPLAINTS_WRITE)
    check_csrf(principal, csrf_token)
    zone = ZoneInfo(settings.display_timezone)
    values = {"window_pk": optional_int(window_pk), "channel": channel, "at": at, "text": text,
              "contact": contact or None, "deadline": deadline or None}
    body = checked(ComplaintCreate, {**values, "at": local_time(at, zone),
                                     "deadline": local_time(deadline, zone) if deadline else None})
    if isinstance(body, dict):
        return _list_page(request, session, settings, principal, None, values=values,
                          errors=body, status_code=422)
    try:
        row = complaints.create(session=session, settings=settings, principal=principal,
                                body=body)
    except ServiceError as e:
        return _list_page(request, session, settings, principal, None, values=values,
                          errors=service_error(e), status_code=e.status_code)
    return RedirectResponse(f"/complaints/{row.id}?saved=created", status_code=303)


def _detail_page(request: Request, session: Session, settings: Settings, principal: Principal,
                 complaint_id: int, *, errors: dict[str, str] | None = None,
                 saved: str | None = None, status_code: int = 200) -> HTMLResponse:
    row = complaints.get(session=session, principal=principal, complaint_id=complaint_id)
    zone = ZoneInfo(settings.display_timezone)
    can_edit = principal.can(Permission.COMPLAINTS_WRITE)
    # The history holds the complainant's contact: for those who read every complaint.
    entries, _ = audit.list_entries(session=session, target_type="complaint",
                                    target_id=str(row.id), limit=100
                                    ) if principal.can(Permission.COMPLAINTS_READ_ALL) else ([], 0)
    return render(request, "complaint.html", {
        "principal": principal,
        "c": complaints.to_public(principal, row, utcnow(), complaints.sessions_of(
            session=session, settings=settings, row=row)),
        "history": audit_text.lines(session, reversed(entries), zone),
        "handlers": complaints.handlers(session=session, center_id=row.center_id)
        if can_edit else [],
        "match_min": round(settings.complaint_match_s / 60), "can_edit": can_edit,
        "errors": errors or {}, "saved": saved}, status_code=status_code)


@router.get("/complaints/{complaint_id}", response_class=HTMLResponse)
def complaint_page(request: Request, complaint_id: ComplaintId, session: SessionDep,
                   settings: SettingsDep, principal: PageUser,
                   saved: Annotated[str | None, Query(pattern="^(created|assigned|replied)$")]
                   = None) -> Response:
    """One complaint: what was said, the sessions at its window around its time (their clip,
    transcript and incidents on their pages), its handler, deadline, reply and history."""
    return _detail_page(request, session, settings, principal, complaint_id, saved=saved)


@router.post("/complaints/{complaint_id}/assign", response_class=HTMLResponse)
def complaint_assign(request: Request, complaint_id: ComplaintId, session: SessionDep,
                     settings: SettingsDep, principal: PageUser, csrf_token: Token,
                     handler_id: Annotated[str, Form(max_length=20)]) -> Response:
    principal.require(Permission.COMPLAINTS_WRITE)
    check_csrf(principal, csrf_token)
    body = checked(ComplaintAssign, {"handler_id": optional_int(handler_id)})
    return _act(request, session, settings, principal, complaint_id, body, "assigned",
                lambda b: complaints.assign(session=session, principal=principal,
                                            complaint_id=complaint_id, body=b))


@router.post("/complaints/{complaint_id}/reply", response_class=HTMLResponse)
def complaint_reply(request: Request, complaint_id: ComplaintId, session: SessionDep,
                    settings: SettingsDep, principal: PageUser, csrf_token: Token,
                    reply: Annotated[str, Form(max_length=2000)]) -> Response:
    principal.require(Permission.COMPLAINTS_WRITE)
    check_csrf(principal, csrf_token)
    body = checked(ComplaintReply, {"reply": reply})
    return _act(request, session, settings, principal, complaint_id, body, "replied",
                lambda b: complaints.reply(session=session, principal=principal,
                                           complaint_id=complaint_id, body=b))


def _act(request: Request, session: Session, settings: Settings, principal: Principal,
         complaint_id: int, body: B | dict[str, str], saved: str,
         action: Callable[[B], object]) -> Response:
    """Run a form's action on its checked body; a refusal is shown beside its field."""
    if isinstance(body, dict):
        return _detail_page(request, session, settings, principal, complaint_id, errors=body,
                            status_code=422)
    try:
        action(body)
    except ServiceError as e:
        if e.status_code == 404:
            raise
        return _detail_page(request, session, settings, principal, complaint_id,
                            errors=service_error(e), status_code=e.status_code)
    return RedirectResponse(f"/complaints/{complaint_id}?saved={saved}", status_code=303)


@router.get("/ratings", response_class=HTMLResponse)
def ratings_page(request: Request, session: SessionDep, settings: SettingsDep,
                 principal: PageUser,
                 period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
                 attached: Annotated[bool | None, Query()] = None) -> Response:
    """The ratings of a month, quarter or year (default: the current month), newest first;
    those that rate no known session said so."""
    zone = ZoneInfo(settings.display_timezone)
    chosen = reports.parse_period(period or str(scoring_service.current_month(settings)))
    rows, count = ratings.listed(session=session, settings=settings, principal=principal,
                                 start=chosen.start(zone), end=chosen.end(zone),
                                 attached=attached, limit=500)
    return render(request, "ratings.html", {
        "principal": principal, "period": str(chosen), "attached": attached,
        "rows": [ratings.to_public(r) for r in rows], "count": count})

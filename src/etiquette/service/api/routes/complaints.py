"""Complaints: registered, given a handler, answered (supervisors, admins); read by auditors,
and by staff those about themselves. The same services as the workbench's 投诉 pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from sqlalchemy.orm import Session

from etiquette.service.api.deps import CurrentUser, SessionDep, SettingsDep
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.schemas import (
    MAX_ID,
    ComplaintAssign,
    ComplaintCreate,
    ComplaintPublic,
    ComplaintReply,
    ComplaintsPublic,
    ComplaintStatus,
    error_responses,
)
from etiquette.service.services import complaints
from etiquette.service.services.access import Principal

router = APIRouter(prefix="/complaints", tags=["complaints"])
ERRORS = error_responses(401, 403, 404, 422)
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("", response_model=ComplaintsPublic, responses=ERRORS)
def list_complaints(session: SessionDep, principal: CurrentUser,
                    status: Annotated[ComplaintStatus | None, Query()] = None,  # noqa: A002
                    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> ComplaintsPublic:
    """The complaints the reader may see, newest first; `overdue`: unanswered past the deadline."""
    rows, count = complaints.listed(session=session, principal=principal, status=status,
                                    offset=offset, limit=limit)
    now = utcnow()
    return ComplaintsPublic(data=[complaints.to_public(principal, r, now) for r in rows],
                            count=count)


@router.post("", response_model=ComplaintPublic, status_code=status.HTTP_201_CREATED,
             responses=ERRORS)
def create_complaint(body: ComplaintCreate, session: SessionDep, settings: SettingsDep,
                     principal: CurrentUser) -> ComplaintPublic:
    """Register a complaint (supervisors, admins); its deadline is `complaint_reply_days` from
    now. Audited."""
    row = complaints.create(session=session, settings=settings, principal=principal, body=body)
    return _read(session, settings, row.id, principal)


@router.get("/{id}", response_model=ComplaintPublic, responses=ERRORS)
def read_complaint(id: Id, session: SessionDep, settings: SettingsDep,  # noqa: A002
                   principal: CurrentUser) -> ComplaintPublic:
    """One complaint with the sessions at its window around its time (their pages hold the
    clip, the transcript and the incidents)."""
    return _read(session, settings, id, principal)


@router.post("/{id}/assign", response_model=ComplaintPublic,
             responses=error_responses(401, 403, 404, 409, 422))
def assign_complaint(id: Id, body: ComplaintAssign, session: SessionDep,  # noqa: A002
                     settings: SettingsDep, principal: CurrentUser) -> ComplaintPublic:
    """Give it a handler, a supervisor or admin of its center (then 处理中). Audited."""
    complaints.assign(session=session, principal=principal, complaint_id=id, body=body)
    return _read(session, settings, id, principal)


@router.post("/{id}/reply", response_model=ComplaintPublic,
             responses=error_responses(401, 403, 404, 409, 422))
def reply_complaint(id: Id, body: ComplaintReply, session: SessionDep,  # noqa: A002
                    settings: SettingsDep, principal: CurrentUser) -> ComplaintPublic:
    """Answer it (then 已答复; answered once). Audited."""
    complaints.reply(session=session, principal=principal, complaint_id=id, body=body)
    return _read(session, settings, id, principal)


def _read(session: Session, settings: Settings, complaint_id: int,
          principal: Principal) -> ComplaintPublic:
    row = complaints.get(session=session, principal=principal, complaint_id=complaint_id)
    return complaints.to_public(principal, row, utcnow(), complaints.sessions_of(
        session=session, settings=settings, row=row))

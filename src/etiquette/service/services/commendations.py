"""Commendations: what a supervisor records to earn a window (and its staff member) the
scheme's bonus points. Each is audited, like every other change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit, master
from etiquette.service.crud import scoring as crud
from etiquette.service.errors import Invalid, NotFound
from etiquette.service.models import Commendation, Staff, Window
from etiquette.service.schemas import CommendationCreate, CommendationPublic
from etiquette.service.services.access import Permission, Principal


def to_public(row: Commendation) -> CommendationPublic:
    return CommendationPublic(id=row.id, window_pk=row.window_pk, window_number=row.window.number,
                              center=row.window.center.name, staff_id=row.staff_id,
                              staff_name=row.staff.name if row.staff else None, at=row.at,
                              reason=row.reason, created_at=row.created_at,
                              created_by=row.created_by)


def _snapshot(row: Commendation) -> dict[str, object]:
    return {"window_pk": row.window_pk, "staff_id": row.staff_id, "at": row.at,
            "reason": row.reason}


def create(*, session: Session, principal: Principal, body: CommendationCreate) -> Commendation:
    principal.require(Permission.COMMENDATIONS_WRITE)
    window = session.get(Window, body.window_pk)
    if window is None or not principal.sees_center(window.center_id):
        raise Invalid(f"所选窗口不存在 (window_pk {body.window_pk} does not exist)",
                      field="window_pk")
    staff_id = body.staff_id
    if staff_id is not None and session.get(Staff, staff_id) is None:
        raise Invalid(f"所选工作人员不存在 (staff_id {staff_id} does not exist)",
                      field="staff_id")
    if staff_id is None:
        staff_id = master.staff_on_duty(session=session, window_pk=body.window_pk, at=body.at)
    row = Commendation(window_pk=body.window_pk, staff_id=staff_id, at=body.at, reason=body.reason,
                       created_at=utcnow(), created_by=principal.label,
                       user_id=principal.user.id if principal.user else None)
    return audit.created(session=session, actor=principal, target_type="commendation", row=row,
                         after=_snapshot)


def delete(*, session: Session, principal: Principal, commendation_id: int) -> None:
    principal.require(Permission.COMMENDATIONS_WRITE)
    row = session.get(Commendation, commendation_id)
    if row is None or not principal.sees_center(row.window.center_id):
        raise NotFound(f"no commendation {commendation_id}")
    audit.record(session=session, actor=principal, action="commendation.delete",
                 target_type="commendation", target_id=str(row.id), before=_snapshot(row))
    session.delete(row)
    session.commit()


def between(*, session: Session, principal: Principal, start: datetime, end: datetime,
            center_id: int | None) -> list[Commendation]:
    """The commendations of [start, end) of one center or (None) every center the principal
    sees."""
    principal.require(Permission.REPORTS_READ)
    if center_id is not None and not principal.sees_center(center_id):
        return []
    return crud.commendations_between(
        session=session, start=start, end=end,
        center_ids=frozenset({center_id}) if center_id is not None else principal.centers)

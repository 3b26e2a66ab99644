"""Complaints (§九(四): 现场、电话、网络投诉 registered, handled, answered): registered by a
supervisor about a window at a time, given a handler and a deadline (`complaint_reply_days`
after registering), answered; each step audited. A complaint is read with the service sessions
at its window around its time, so that its handler hears and reads what happened.

Who sees what is as for incidents: supervisors and admins of the center handle them, auditors
read them, staff read only those about themselves; one of another center is "not found".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit, master
from etiquette.service.crud import feedback as crud
from etiquette.service.crud import sessions as session_crud
from etiquette.service.errors import Conflict, Invalid, NotFound
from etiquette.service.labels import COMPLAINT_CHANNEL_NAMES, COMPLAINT_STATUS_NAMES
from etiquette.service.models import Complaint, User, Window
from etiquette.service.schemas import (
    ComplaintAssign,
    ComplaintChannel,
    ComplaintCreate,
    ComplaintPublic,
    ComplaintReply,
    ComplaintStatus,
    Role,
    SessionMatch,
)
from etiquette.service.services.access import (
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    user_principal,
)

P = Permission


def status_of(row: Complaint, now: datetime) -> ComplaintStatus:
    """Its status as read at `now`: overdue once the deadline passed unanswered."""
    if row.status != ComplaintStatus.ANSWERED and row.deadline < now:
        return ComplaintStatus.OVERDUE
    return ComplaintStatus(row.status)


def to_public(reader: Principal, row: Complaint, now: datetime,
              sessions: list[SessionMatch] | None = None) -> ComplaintPublic:
    """The complaint as `reader` sees it: the complainant's contact only for those who read
    every complaint of the center, not for the staff member complained of."""
    status = status_of(row, now)
    handler = row.handler
    return ComplaintPublic(
        id=row.id, center_id=row.center_id, center=row.window.center.name,
        window_pk=row.window_pk, window_number=row.window.number, staff_id=row.staff_id,
        staff_name=row.staff.name if row.staff else None, channel=ComplaintChannel(row.channel),
        channel_name=COMPLAINT_CHANNEL_NAMES[row.channel], at=row.at, text=row.text,
        contact=row.contact if reader.can(P.COMPLAINTS_READ_ALL) else None, status=status,
        status_name=COMPLAINT_STATUS_NAMES[status],
        overdue=status == ComplaintStatus.OVERDUE, handler_id=row.handler_id,
        handler_name=(handler.display_name or handler.username) if handler else None,
        deadline=row.deadline, reply=row.reply, replied_at=row.replied_at,
        created_at=row.created_at, created_by=row.created_by, sessions=sessions or [])


def may_see(principal: Principal, row: Complaint) -> bool:
    if principal.can(P.COMPLAINTS_READ_ALL):
        return principal.sees_center(row.center_id)
    return (principal.can(P.COMPLAINTS_READ_OWN) and principal.staff_id is not None
            and row.staff_id == principal.staff_id)


def get(*, session: Session, principal: Principal, complaint_id: int) -> Complaint:
    """Raises NotFound: no such complaint, or one the principal may not see."""
    principal.require(P.COMPLAINTS_READ_ALL, P.COMPLAINTS_READ_OWN)
    row = session.get(Complaint, complaint_id)
    if row is None or not may_see(principal, row):
        raise NotFound(f"投诉不存在 (no complaint {complaint_id})")
    return row


def sessions_of(*, session: Session, settings: Settings, row: Complaint) -> list[SessionMatch]:
    """The service sessions at the complaint's window around its time, nearest first."""
    found = crud.sessions_around(session=session, window_pk=row.window_pk, at=row.at,
                                 within=timedelta(seconds=settings.complaint_match_s))
    counts = session_crud.incident_counts(session=session, session_ids=[s.id for s in found])
    return [SessionMatch(id=s.id, start_at=s.start_at, end_at=s.end_at, ticket=s.ticket,
                         staff_name=s.staff.name if s.staff else None,
                         url=f"/sessions/{s.id}", incidents=counts.get(s.id, 0)) for s in found]


def listed(*, session: Session, principal: Principal, status: ComplaintStatus | None = None,
           offset: int = 0, limit: int = 100) -> tuple[list[Complaint], int]:
    """The complaints the principal may see, newest first; `status` overdue: those past their
    deadline unanswered, pending or handling: those not (yet) overdue."""
    principal.require(P.COMPLAINTS_READ_ALL, P.COMPLAINTS_READ_OWN)
    own = not principal.can(P.COMPLAINTS_READ_ALL)
    staff_id = (principal.staff_id if principal.staff_id is not None else -1) if own else None
    now = utcnow()
    if status == ComplaintStatus.OVERDUE:
        return crud.list_complaints(session=session, center_ids=principal.centers,
                                    staff_id=staff_id, overdue_at=now, offset=offset, limit=limit)
    rows, _ = crud.list_complaints(session=session, center_ids=principal.centers,
                                   staff_id=staff_id, status=status.value if status else None,
                                   limit=10_000)
    if status is not None:
        rows = [r for r in rows if status_of(r, now) == status]
    return rows[offset:offset + limit], len(rows)


def _snapshot(row: Complaint) -> dict[str, object]:
    return {"window_pk": row.window_pk, "staff_id": row.staff_id, "channel": row.channel,
            "at": row.at, "text": row.text, "contact": row.contact, "deadline": row.deadline}


def create(*, session: Session, settings: Settings, principal: Principal,
           body: ComplaintCreate) -> Complaint:
    """Register a complaint; the staff member is whoever staffed the window at its time.
    Raises Invalid: no such window (or one of a center the principal does not see)."""
    principal.require(P.COMPLAINTS_WRITE)
    window = session.get(Window, body.window_pk)
    if window is None or not principal.sees_center(window.center_id):
        raise Invalid(f"所选窗口不存在 (window_pk {body.window_pk} does not exist)",
                      field="window_pk")
    now = utcnow()
    row = Complaint(center_id=window.center_id, window_pk=window.id,
                    staff_id=master.staff_on_duty(session=session, window_pk=window.id,
                                                  at=body.at),
                    channel=body.channel.value, at=body.at, text=body.text,
                    contact=body.contact or None, status=ComplaintStatus.PENDING.value,
                    deadline=body.deadline or now + timedelta(days=settings.complaint_reply_days),
                    created_at=now, created_by=principal.label,
                    user_id=principal.user.id if principal.user else None)
    return audit.created(session=session, actor=principal, target_type="complaint", row=row,
                         after=_snapshot)


def handlers(*, session: Session, center_id: int) -> list[User]:
    """Who may handle a complaint of a center: active supervisors and admins who see it."""
    roles = [r for r, perms in ROLE_PERMISSIONS.items() if P.COMPLAINTS_WRITE in perms]
    users = [u for u in master.list_rows(session=session, model=User, limit=10_000)[0]
             if u.active and Role(u.role) in roles]
    return [u for u in users if user_principal(u).sees_center(center_id)]


def assign(*, session: Session, principal: Principal, complaint_id: int,
           body: ComplaintAssign) -> Complaint:
    """Give the complaint a handler (it is then 处理中). Raises NotFound, Conflict (answered
    already), Invalid (the handler may not handle this center's complaints)."""
    principal.require(P.COMPLAINTS_WRITE)
    row = get(session=session, principal=principal, complaint_id=complaint_id)
    if row.status == ComplaintStatus.ANSWERED:
        raise Conflict("投诉已答复，不能再指定处理人 (the complaint is answered)")
    if body.handler_id not in {u.id for u in handlers(session=session, center_id=row.center_id)}:
        raise Invalid("所选处理人不能处理本中心的投诉 (the handler must be an active supervisor "
                      "or admin of the complaint's center)", field="handler_id")
    before = {"handler_id": row.handler_id}
    row.handler_id, row.status = body.handler_id, ComplaintStatus.HANDLING.value
    audit.record(session=session, actor=principal, action="complaint.assign",
                 target_type="complaint", target_id=str(row.id), before=before,
                 after={"handler_id": row.handler_id})
    session.commit()
    return row


def reply(*, session: Session, principal: Principal, complaint_id: int,
          body: ComplaintReply) -> Complaint:
    """Answer the complaint (then 已答复). Raises NotFound, Conflict (answered already)."""
    principal.require(P.COMPLAINTS_WRITE)
    row = get(session=session, principal=principal, complaint_id=complaint_id)
    if row.status == ComplaintStatus.ANSWERED:
        raise Conflict("投诉已答复 (the complaint is answered already)")
    row.reply, row.replied_at = body.reply, utcnow()
    row.status = ComplaintStatus.ANSWERED.value
    if row.handler_id is None and principal.user is not None:
        row.handler_id = principal.user.id  # who answers it handled it
    audit.record(session=session, actor=principal, action="complaint.reply",
                 target_type="complaint", target_id=str(row.id),
                 after={"reply": row.reply, "handler_id": row.handler_id})
    session.commit()
    return row

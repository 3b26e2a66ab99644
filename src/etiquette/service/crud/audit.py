"""The audit log: appended in the caller's transaction, read by auditors and admins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, String, and_, cast, false, func, or_, select
from sqlalchemy.orm import Session

from etiquette.service.core.db import utcnow
from etiquette.service.models import (
    AuditEntry,
    Center,
    Commendation,
    Complaint,
    Incident,
    Rating,
    ServiceSession,
    Staff,
    User,
    Window,
)
from etiquette.service.services.access import Principal


def record(*, session: Session, actor: Principal, action: str, target_type: str, target_id: str,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> AuditEntry:
    entry = AuditEntry(at=utcnow(), actor=actor.label,
                       user_id=actor.user.id if actor.user else None,
                       api_key_id=actor.api_key.id if actor.api_key else None, action=action,
                       target_type=target_type, target_id=str(target_id),
                       before=_jsonable(before), after=_jsonable(after))
    session.add(entry)
    return entry


class _Created(Protocol):
    @property
    def id(self) -> int: ...


C = TypeVar("C", bound=_Created)


def created(*, session: Session, actor: Principal, target_type: str, row: C,
            after: Callable[[C], dict[str, Any]]) -> C:
    """`row` added and committed together with the entry of its creation
    (`<target_type>.create`, `after(row)` once the row has its id)."""
    session.add(row)
    session.flush()
    record(session=session, actor=actor, action=f"{target_type}.create", target_type=target_type,
           target_id=str(row.id), after=after(row))
    session.commit()
    return row


def of_centers(center_ids: frozenset[int]) -> ColumnElement[bool]:
    """Entries about what belongs to these centers: their incidents, service sessions, ratings,
    complaints and commendations. The rest of the log (users, keys, master data, rules, scoring,
    webhooks, logins) is the province's, read by those the centers do not limit."""
    ids = sorted(center_ids)
    if not ids:
        return false()
    owned: list[tuple[str, Select[Any]]] = [
        ("incident", select(Incident.id).where(Incident.center_id.in_(ids))),
        ("session", select(ServiceSession.id).where(ServiceSession.center_id.in_(ids))),
        ("rating", select(Rating.id).where(Rating.center_id.in_(ids))),
        ("complaint", select(cast(Complaint.id, String)).where(Complaint.center_id.in_(ids))),
        ("commendation", select(cast(Commendation.id, String))
         .join(Window, Window.id == Commendation.window_pk).where(Window.center_id.in_(ids)))]
    return or_(*(and_(AuditEntry.target_type == kind, AuditEntry.target_id.in_(query))
                 for kind, query in owned))


def list_entries(*, session: Session, target_type: str | None = None, target_id: str | None = None,
                 action: str | None = None, actor: str | None = None,
                 date_from: datetime | None = None, date_to: datetime | None = None,
                 offset: int = 0, limit: int = 100,
                 center_ids: frozenset[int] | None = None) -> tuple[list[AuditEntry], int]:
    """`center_ids`: only the entries of those centers (`of_centers`; None: the whole log)."""
    query = select(AuditEntry)
    if center_ids is not None:
        query = query.where(of_centers(center_ids))
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id:
        query = query.where(AuditEntry.target_id == target_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if date_from:
        query = query.where(AuditEntry.at >= date_from)
    if date_to:
        query = query.where(AuditEntry.at < date_to)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                           .offset(offset).limit(limit)).all()
    return list(rows), count


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return str(value)


def user_names(*, session: Session, ids: set[int]) -> dict[int, str]:
    """The names the audit log's readers know its users by (display name, else login)."""
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.username)
                           .where(User.id.in_(ids))).all()
    return {r.id: r.display_name or r.username for r in rows}


def record_names(*, session: Session, staff: set[int], centers: set[int],
                 windows: set[int]) -> dict[str, dict[int, str]]:
    """The names of the master data the audit log names by id, by target type: a staff member
    by name and 工号, a center by name, a window by its center and number. One query each."""
    names: dict[str, dict[int, str]] = {"staff": {}, "center": {}, "window": {}}
    if staff:
        names["staff"] = {r.id: f"{r.name}（{r.employee_no}）" for r in session.execute(
            select(Staff.id, Staff.name, Staff.employee_no).where(Staff.id.in_(staff)))}
    if centers:
        names["center"] = {r.id: r.name for r in session.execute(
            select(Center.id, Center.name).where(Center.id.in_(centers)))}
    if windows:
        names["window"] = {r.id: f"{r.name} {r.number} 号窗口" for r in session.execute(
            select(Window.id, Window.number, Center.name).join(Center)
            .where(Window.id.in_(windows)))}
    return names

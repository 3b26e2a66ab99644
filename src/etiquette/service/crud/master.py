"""Centers, windows, staff and who staffed which window when."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, inspect, or_, select
from sqlalchemy.orm import Session

from etiquette.service.models import Assignment, Base, Center, Incident, Staff, User, Window

M = TypeVar("M", bound=Base)


def get(*, session: Session, model: type[M], id: int) -> M | None:
    return session.get(model, id)


def list_rows(*, session: Session, model: type[M], offset: int = 0, limit: int = 100,
              **where: Any) -> tuple[list[M], int]:
    query = select(model)
    for column, value in where.items():
        if value is not None:
            query = query.where(getattr(model, column) == value)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    by_key = inspect(model).primary_key
    rows = session.scalars(query.order_by(*by_key).offset(offset).limit(limit)).all()
    return list(rows), count


def create(*, session: Session, model: type[M], values: dict[str, Any]) -> M:
    row = model(**values)
    session.add(row)
    session.flush()
    return row


def update(*, row: M, values: dict[str, Any]) -> M:
    for key, value in values.items():
        setattr(row, key, value)
    return row


def center_by_code(*, session: Session, code: str) -> Center | None:
    return session.scalars(select(Center).where(Center.code == code)).first()


def staff_by_employee_no(*, session: Session, employee_no: str) -> Staff | None:
    return session.scalars(select(Staff).where(Staff.employee_no == employee_no)).first()


def window_by_code(*, session: Session, code: str, center_id: int | None) -> Window | None:
    """The window a pipeline means by `code`: within its center when the key has one, else the
    only window of that code anywhere (a code used by two centers then matches none)."""
    query = select(Window).where(Window.code == code)
    if center_id is not None:
        return session.scalars(query.where(Window.center_id == center_id)).first()
    rows = session.scalars(query.limit(2)).all()
    return rows[0] if len(rows) == 1 else None


def staff_on_duty(*, session: Session, window_pk: int, at: datetime) -> int | None:
    """Who staffed the window at `at` (the latest assignment that covers it)."""
    return session.scalars(
        select(Assignment.staff_id).where(
            Assignment.window_pk == window_pk, Assignment.start_at <= at,
            or_(Assignment.end_at.is_(None), Assignment.end_at > at))
        .order_by(Assignment.start_at.desc()).limit(1)).first()


def current_assignments(*, session: Session, at: datetime) -> list[Assignment]:
    """The assignments that cover `at`: who staffs which window then."""
    return list(session.scalars(
        select(Assignment).where(Assignment.start_at <= at,
                                 or_(Assignment.end_at.is_(None), Assignment.end_at > at))
        .order_by(Assignment.start_at)).all())


def overlapping_assignment(*, session: Session, window_pk: int, start_at: datetime,
                           end_at: datetime | None,
                           exclude_id: int | None = None) -> Assignment | None:
    query = select(Assignment).where(Assignment.window_pk == window_pk,
                                     or_(Assignment.end_at.is_(None), Assignment.end_at > start_at))
    if end_at is not None:
        query = query.where(Assignment.start_at < end_at)
    if exclude_id is not None:
        query = query.where(Assignment.id != exclude_id)
    return session.scalars(query.limit(1)).first()


def assignment_by_start(*, session: Session, staff_id: int, window_pk: int,
                        start_at: datetime) -> Assignment | None:
    return session.scalars(select(Assignment).where(
        Assignment.staff_id == staff_id, Assignment.window_pk == window_pk,
        Assignment.start_at == start_at)).first()


def references(*, session: Session, model: type[Base], id: int) -> list[str]:
    """What still points at a row, in words, so that deleting it would break history."""
    found: list[str] = []

    def count(query: Any) -> int:
        return session.scalar(select(func.count()).select_from(query.subquery())) or 0

    if model is Center:
        if count(select(Window.id).where(Window.center_id == id)):
            found.append("windows")
        if count(select(Staff.id).where(Staff.center_id == id)):
            found.append("staff")
        if count(select(Incident.id).where(Incident.center_id == id)):
            found.append("incidents")
    elif model is Window:
        if count(select(Assignment.id).where(Assignment.window_pk == id)):
            found.append("assignments")
        if count(select(Incident.id).where(Incident.window_pk == id)):
            found.append("incidents")
    elif model is Staff:
        if count(select(Assignment.id).where(Assignment.staff_id == id)):
            found.append("assignments")
        if count(select(Incident.id).where(Incident.staff_id == id)):
            found.append("incidents")
        if count(select(User.id).where(User.staff_id == id)):
            found.append("users")
    return found

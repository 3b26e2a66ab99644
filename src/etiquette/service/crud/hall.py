"""Queries of the hall (大厅态势): windows and their latest beats, today's incidents, who is on
duty. Each is one query for all windows, as the hall is recomputed every few seconds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from etiquette.service.models import Assignment, Center, Incident, Staff, Window, WindowHeartbeat


def windows(*, session: Session) -> list[Window]:
    """Every active window with its center, in the order the hall shows them."""
    return list(session.scalars(
        select(Window).join(Center).where(Window.active.is_(True))
        .options(selectinload(Window.center))
        .order_by(Center.name, Center.id, Window.number, Window.code)).all())


def beats(*, session: Session) -> dict[int, WindowHeartbeat]:
    return {b.window_pk: b for b in session.scalars(select(WindowHeartbeat)).all()}


def beat(*, session: Session, window_pk: int) -> WindowHeartbeat | None:
    return session.get(WindowHeartbeat, window_pk)


def counts(*, session: Session, start: datetime, end: datetime) -> dict[int, dict[str, int]]:
    """Incidents that happened in [start, end) by window and kind."""
    rows = session.execute(
        select(Incident.window_pk, Incident.kind, func.count())
        .where(Incident.at >= start, Incident.at < end, Incident.window_pk.is_not(None))
        .group_by(Incident.window_pk, Incident.kind)).all()
    found: dict[int, dict[str, int]] = {}
    for window_pk, kind, n in rows:
        if window_pk is not None:  # excluded by the query; typed as possibly None
            found.setdefault(window_pk, {})[kind] = n
    return found


def latest(*, session: Session, start: datetime, end: datetime) -> dict[int, Incident]:
    """Each window's latest incident that happened in [start, end)."""
    last = (select(Incident.window_pk, func.max(Incident.at).label("at"))
            .where(Incident.at >= start, Incident.at < end, Incident.window_pk.is_not(None))
            .group_by(Incident.window_pk).subquery())
    rows = session.scalars(select(Incident).join(
        last, (Incident.window_pk == last.c.window_pk) & (Incident.at == last.c.at))
        .order_by(Incident.id)).all()
    return {i.window_pk: i for i in rows if i.window_pk is not None}


def on_duty(*, session: Session, at: datetime) -> dict[int, str]:
    """The name of who staffs each window at `at`."""
    rows = session.execute(
        select(Assignment.window_pk, Staff.name).join(Staff, Staff.id == Assignment.staff_id)
        .where(Assignment.start_at <= at,
               or_(Assignment.end_at.is_(None), Assignment.end_at > at))
        .order_by(Assignment.start_at)).all()
    return {window_pk: name for window_pk, name in rows}


def code_elsewhere(*, session: Session, code: str, center_id: int) -> bool:
    """Whether a window of another center than `center_id` has this code."""
    found = session.scalar(select(Window.id).where(Window.code == code,
                                                   Window.center_id != center_id).limit(1))
    return found is not None

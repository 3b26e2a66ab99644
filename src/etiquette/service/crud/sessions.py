"""Service sessions: queries with the list's filters and the readers' visibility, inserts, and the
links between sessions and their incidents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from etiquette.service.crud.incidents import Visibility
from etiquette.service.models import Incident, ServiceSession, Window


@dataclass(frozen=True)
class SessionFilter:
    center_id: int | None = None
    window_id: str | None = None  # the window's code or its number (01)
    staff_id: int | None = None
    date_from: datetime | None = None  # inclusive, on start_at
    date_to: datetime | None = None  # exclusive


def _visible(query: Select[ServiceSession], visible: Visibility) -> Select[ServiceSession]:
    if visible.staff_id is not None:
        query = query.where(ServiceSession.staff_id == visible.staff_id)
    if visible.center_ids is not None:
        query = query.where(ServiceSession.center_id.in_(sorted(visible.center_ids)))
    return query


def _filtered(flt: SessionFilter, visible: Visibility) -> Select[ServiceSession]:
    query = _visible(select(ServiceSession), visible)
    if flt.center_id is not None:
        query = query.where(ServiceSession.center_id == flt.center_id)
    if flt.window_id:
        numbered = select(Window.id).where(Window.number == flt.window_id)
        query = query.where(or_(ServiceSession.window_id == flt.window_id,
                                ServiceSession.window_pk.in_(numbered)))
    if flt.staff_id is not None:
        query = query.where(ServiceSession.staff_id == flt.staff_id)
    if flt.date_from:
        query = query.where(ServiceSession.start_at >= flt.date_from)
    if flt.date_to:
        query = query.where(ServiceSession.start_at < flt.date_to)
    return query


def list_sessions(*, session: Session, flt: SessionFilter, visible: Visibility,
                  offset: int = 0, limit: int = 50) -> list[ServiceSession]:
    query = (_filtered(flt, visible)
             .options(selectinload(ServiceSession.window), selectinload(ServiceSession.staff),
                      selectinload(ServiceSession.center))
             .order_by(ServiceSession.start_at.desc(), ServiceSession.id)
             .offset(offset).limit(limit))
    return list(session.scalars(query))


def count_sessions(*, session: Session, flt: SessionFilter, visible: Visibility) -> int:
    return session.scalar(select(func.count()).select_from(
        _filtered(flt, visible).subquery())) or 0


def get_session(*, session: Session, session_id: str,
                visible: Visibility | None = None) -> ServiceSession | None:
    """The session of this id, if `visible` (None: whoever asks) lets its reader see it."""
    query = select(ServiceSession).where(ServiceSession.id == session_id)
    return session.scalars(_visible(query, visible) if visible else query).first()


def add_session(*, session: Session, row: ServiceSession) -> ServiceSession:
    session.add(row)
    session.flush()
    return row


def incident_counts(*, session: Session, session_ids: list[str]) -> dict[str, int]:
    rows = session.execute(select(Incident.session_id, func.count()).where(
        Incident.session_id.in_(session_ids)).group_by(Incident.session_id))
    return {sid: n for sid, n in rows if sid is not None}


def incidents_of(*, session: Session, session_id: str, visible: Visibility) -> list[Incident]:
    query = select(Incident).where(Incident.session_id == session_id)
    if visible.staff_id is not None:
        query = query.where(Incident.staff_id == visible.staff_id)
    if visible.center_ids is not None:
        query = query.where(Incident.center_id.in_(sorted(visible.center_ids)))
    query = query.options(selectinload(Incident.evidence), selectinload(Incident.window),
                          selectinload(Incident.staff), selectinload(Incident.center))
    return list(session.scalars(query.order_by(Incident.offset_s, Incident.id)))


def link_incidents(*, session: Session, row: ServiceSession, incident_ids: list[str]) -> None:
    """Point the session's incidents at it: those its record names, and those of its window
    whose time falls within it (sent by a pipeline that names none), where not linked yet."""
    same_window = (Incident.window_pk == row.window_pk if row.window_pk is not None
                   else Incident.window_id == row.window_id)
    session.execute(
        update(Incident)
        .where(Incident.session_id.is_(None), Incident.center_id == row.center_id
               if row.center_id is not None else Incident.center_id.is_(None),
               or_(Incident.id.in_(incident_ids),
                   same_window & (Incident.at >= row.start_at) & (Incident.at <= row.end_at)))
        .values(session_id=row.id).execution_options(synchronize_session=False))


def covering(*, session: Session, window_pk: int | None, window_id: str,
             center_id: int | None, at: datetime) -> str | None:
    """The id of the session of this window (of this center) in progress at `at`, if any."""
    query = select(ServiceSession.id).where(ServiceSession.start_at <= at,
                                            ServiceSession.end_at >= at)
    if window_pk is not None:
        query = query.where(ServiceSession.window_pk == window_pk)
    else:
        query = query.where(ServiceSession.window_id == window_id,
                            ServiceSession.center_id == center_id
                            if center_id is not None else ServiceSession.center_id.is_(None))
    return session.scalars(query.order_by(ServiceSession.start_at.desc()).limit(1)).first()

"""Ratings (好差评) and complaints: the rows, the service sessions they are about, and the
ratings a report counts per window."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from etiquette.service.models import Complaint, Rating, ServiceSession, Window

# A ticket number is called again on another day: a session far older than the rating is
# never the one its ticket names.
TICKET_SPAN = timedelta(hours=12)


def get_rating(*, session: Session, rating_id: str) -> Rating | None:
    return session.get(Rating, rating_id)


def rated_session(*, session: Session, window_pk: int, at: datetime, ticket: str | None,
                  gap: timedelta) -> ServiceSession | None:
    """The session a rating at `window_pk` at `at` rates: the one of its ticket where both have
    one; else the one whose span holds `at`, or the last that ended at most `gap` before it,
    unless that session was another ticket's."""
    at_window = select(ServiceSession).where(ServiceSession.window_pk == window_pk)
    if ticket is not None:
        found = session.scalars(at_window.where(
            ServiceSession.ticket == ticket, ServiceSession.start_at <= at,
            ServiceSession.start_at > at - TICKET_SPAN)
            .order_by(ServiceSession.start_at.desc()).limit(1)).first()
        if found is not None:
            return found
        at_window = at_window.where(or_(ServiceSession.ticket.is_(None),
                                        ServiceSession.ticket == ticket))
    return session.scalars(at_window.where(
        ServiceSession.start_at <= at, ServiceSession.end_at >= at - gap)
        .order_by(ServiceSession.start_at.desc()).limit(1)).first()


def ratings_of(*, session: Session, session_id: str,
               center_ids: Collection[int] | None) -> list[Rating]:
    """The ratings that rate a session, in time order; `center_ids` None: every center's."""
    query = select(Rating).where(Rating.session_id == session_id)
    if center_ids is not None:
        query = query.where(Rating.center_id.in_(sorted(center_ids)))
    return list(session.scalars(query.options(selectinload(Rating.window)
                                              .selectinload(Window.center))
                                .order_by(Rating.at, Rating.id)))


def ratings_near(*, session: Session, window_pk: int, start: datetime,
                 end: datetime) -> list[Rating]:
    """The ratings at a window whose time falls in [start, end]."""
    return list(session.scalars(select(Rating).where(
        Rating.window_pk == window_pk, Rating.at >= start, Rating.at <= end)))


def list_ratings(*, session: Session, center_ids: Collection[int] | None,
                 window_pk: int | None = None, start: datetime | None = None,
                 end: datetime | None = None, attached: bool | None = None, offset: int = 0,
                 limit: int = 100) -> tuple[list[Rating], int]:
    """Newest first; `center_ids` None: every center's."""
    query = select(Rating)
    if center_ids is not None:
        query = query.where(Rating.center_id.in_(sorted(center_ids)))
    if window_pk is not None:
        query = query.where(Rating.window_pk == window_pk)
    if start is not None:
        query = query.where(Rating.at >= start)
    if end is not None:
        query = query.where(Rating.at < end)
    if attached is not None:
        query = query.where(Rating.session_id.is_not(None) if attached
                            else Rating.session_id.is_(None))
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.options(selectinload(Rating.window).selectinload(Window.center))
                           .order_by(Rating.at.desc(), Rating.id).offset(offset).limit(limit))
    return list(rows), count


@dataclass(frozen=True)
class RatingCount:
    ratings: int
    poor: int


def rating_counts(*, session: Session, start: datetime, end: datetime, poor: Collection[str],
                  center_ids: Collection[int] | None) -> dict[int, RatingCount]:
    """Ratings of [start, end) per window: all of them, and those of the `poor` levels."""
    query = (select(Rating.window_pk, func.count(),
                    func.sum(case((Rating.level.in_(sorted(poor)), 1), else_=0)))
             .where(Rating.at >= start, Rating.at < end).group_by(Rating.window_pk))
    if center_ids is not None:
        query = query.where(Rating.center_id.in_(sorted(center_ids)))
    return {pk: RatingCount(int(n), int(p or 0)) for pk, n, p in session.execute(query).all()}


def sessions_around(*, session: Session, window_pk: int, at: datetime,
                    within: timedelta) -> list[ServiceSession]:
    """The sessions at a window that overlap `at` ± `within`, nearest first."""
    rows = session.scalars(
        select(ServiceSession)
        .where(ServiceSession.window_pk == window_pk, ServiceSession.start_at < at + within,
               ServiceSession.end_at > at - within)
        .options(selectinload(ServiceSession.staff))
        .order_by(ServiceSession.start_at).limit(50)).all()
    return sorted(rows, key=lambda s: _distance(s, at))


def complaints_around(*, session: Session, window_pk: int, start: datetime, end: datetime,
                      within: timedelta) -> list[Complaint]:
    """The complaints at a window that find a session of [start, end] (sessions_around's
    converse: their time within `within` of it), in time order."""
    return list(session.scalars(
        select(Complaint)
        .where(Complaint.window_pk == window_pk, Complaint.at < end + within,
               Complaint.at > start - within)
        .options(selectinload(Complaint.window).selectinload(Window.center),
                 selectinload(Complaint.staff))
        .order_by(Complaint.at, Complaint.id)))


def _distance(s: ServiceSession, at: datetime) -> timedelta:
    if s.start_at <= at <= s.end_at:
        return timedelta(0)
    return min(abs(s.start_at - at), abs(s.end_at - at))


def list_complaints(*, session: Session, center_ids: Collection[int] | None,
                    staff_id: int | None = None, status: str | None = None,
                    overdue_at: datetime | None = None, offset: int = 0,
                    limit: int = 100) -> tuple[list[Complaint], int]:
    """Newest first. `staff_id`: only those about this person; `overdue_at`: only those not
    answered by their deadline at that time."""
    query = select(Complaint)
    if center_ids is not None:
        query = query.where(Complaint.center_id.in_(sorted(center_ids)))
    if staff_id is not None:
        query = query.where(Complaint.staff_id == staff_id)
    if status is not None:
        query = query.where(Complaint.status == status)
    if overdue_at is not None:
        query = query.where(Complaint.status != "answered", Complaint.deadline < overdue_at)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(selectinload(Complaint.window).selectinload(Window.center),
                      selectinload(Complaint.staff), selectinload(Complaint.handler))
        .order_by(Complaint.created_at.desc(), Complaint.id.desc()).offset(offset).limit(limit))
    return list(rows), count

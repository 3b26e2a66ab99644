"""Scoring scheme versions; the incidents and subjects a period is scored over."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, or_, select
from sqlalchemy.orm import Session, selectinload

from etiquette.service.models import (
    Assignment,
    Center,
    Commendation,
    Incident,
    ScoringVersion,
    Staff,
    Window,
)


def current(*, session: Session) -> ScoringVersion | None:
    """The newest version (by id): what a new edit starts from."""
    return session.scalars(
        select(ScoringVersion).order_by(ScoringVersion.id.desc()).limit(1)).first()


def in_force(*, session: Session, month: str) -> ScoringVersion | None:
    """The version that scores `month` ("YYYY-MM"): latest effective_from not after it."""
    return session.scalars(select(ScoringVersion).where(ScoringVersion.effective_from <= month)
                           .order_by(ScoringVersion.effective_from.desc(), ScoringVersion.id.desc())
                           .limit(1)).first()


def get(*, session: Session, version_id: int) -> ScoringVersion | None:
    return session.get(ScoringVersion, version_id)


def list_versions(*, session: Session, offset: int = 0, limit: int = 100
                  ) -> tuple[list[ScoringVersion], int]:
    count = session.scalar(select(func.count()).select_from(ScoringVersion)) or 0
    rows = session.scalars(select(ScoringVersion).order_by(ScoringVersion.id.desc())
                           .offset(offset).limit(limit)).all()
    return list(rows), count


def add(*, session: Session, version: ScoringVersion) -> ScoringVersion:
    session.add(version)
    session.flush()
    return version


@dataclass(frozen=True)
class IncidentFacts:
    """What a report needs of one incident (no transcript, no evidence)."""

    id: str
    when: datetime
    kind: str
    rule_id: str
    rule_name: str
    severity: str
    deduction: float
    status: str
    window_pk: int | None
    staff_id: int | None
    center_id: int | None


def incidents_between(*, session: Session, start: datetime, end: datetime,
                      center_ids: Collection[int] | None = None) -> list[IncidentFacts]:
    """`center_ids`: only those centers' incidents (None: every center's)."""
    when = func.coalesce(Incident.at, Incident.received_at)
    query = select(Incident.id, Incident.at, Incident.received_at, Incident.kind, Incident.rule_id,
                   Incident.rule_name, Incident.severity, Incident.deduction, Incident.status,
                   Incident.window_pk, Incident.staff_id, Incident.center_id
                   ).where(when >= start, when < end)
    if center_ids is not None:
        query = query.where(Incident.center_id.in_(sorted(center_ids)))
    return [_facts(r) for r in session.execute(query.order_by(when, Incident.id)).all()]


def _facts(r: Row[*tuple[Any, ...]]) -> IncidentFacts:
    return IncidentFacts(r.id, r.at or r.received_at, r.kind, r.rule_id, r.rule_name, r.severity,
                         r.deduction, r.status, r.window_pk, r.staff_id, r.center_id)


def windows(*, session: Session, center_ids: Collection[int] | None,
            with_pks: set[int]) -> list[Window]:
    """The windows a report ranks: the active ones, and any other that had an incident."""
    query = select(Window).where(
        or_(Window.active.is_(True), Window.id.in_(sorted(with_pks) or [-1])))
    if center_ids is not None:
        query = query.where(Window.center_id.in_(sorted(center_ids)))
    return list(session.scalars(query.order_by(Window.center_id, Window.number, Window.id)).all())


def staff(*, session: Session, center_ids: Collection[int] | None, start: datetime, end: datetime,
          with_ids: set[int]) -> list[Staff]:
    """The people a report ranks: those assigned to a window during the period, and any other
    that had an incident in it."""
    assigned = select(Assignment.staff_id).where(
        Assignment.start_at < end, or_(Assignment.end_at.is_(None), Assignment.end_at > start))
    query = select(Staff).where(or_(Staff.id.in_(assigned), Staff.id.in_(sorted(with_ids) or [-1])))
    if center_ids is not None:
        query = query.where(Staff.center_id.in_(sorted(center_ids)))
    return list(session.scalars(query.order_by(Staff.employee_no)).all())


def centers(*, session: Session) -> dict[int, Center]:
    return {c.id: c for c in session.scalars(select(Center)).all()}


def commendations_between(*, session: Session, start: datetime, end: datetime,
                          center_ids: Collection[int] | None = None) -> list[Commendation]:
    query = select(Commendation).where(Commendation.at >= start, Commendation.at < end)
    if center_ids is not None:
        query = query.join(Window, Window.id == Commendation.window_pk).where(
            Window.center_id.in_(sorted(center_ids)))
    return list(session.scalars(
        query.options(selectinload(Commendation.window).selectinload(Window.center),
                      selectinload(Commendation.staff))
        .order_by(Commendation.at, Commendation.id)))

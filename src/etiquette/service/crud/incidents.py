"""Incidents and their evidence rows: queries with the reviewer's filters, inserts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, selectinload

from etiquette.service.models import Evidence, Incident, Window


@dataclass(frozen=True)
class IncidentFilter:
    center_id: int | None = None
    window_id: str | None = None
    staff_id: int | None = None
    kind: str | None = None
    rule_id: str | None = None
    status: str | None = None
    date_from: datetime | None = None  # inclusive, on `at` (or received_at where at is unknown)
    date_to: datetime | None = None  # exclusive


def _when() -> ColumnElement[datetime]:
    return func.coalesce(Incident.at, Incident.received_at)


def _filtered(flt: IncidentFilter, only_staff_id: int | None) -> Select[Incident]:
    query = select(Incident)
    if only_staff_id is not None:
        query = query.where(Incident.staff_id == only_staff_id)
    if flt.center_id is not None:
        query = query.where(Incident.center_id == flt.center_id)
    if flt.window_id:
        query = query.where(Incident.window_id == flt.window_id)
    if flt.staff_id is not None:
        query = query.where(Incident.staff_id == flt.staff_id)
    if flt.kind:
        query = query.where(Incident.kind == flt.kind)
    if flt.rule_id:
        query = query.where(Incident.rule_id == flt.rule_id)
    if flt.status:
        query = query.where(Incident.status == flt.status)
    if flt.date_from:
        query = query.where(_when() >= flt.date_from)
    if flt.date_to:
        query = query.where(_when() < flt.date_to)
    return query


def _loaded(query: Select[Incident]) -> Select[Incident]:
    return query.options(selectinload(Incident.evidence),
                         selectinload(Incident.window).selectinload(Window.center),
                         selectinload(Incident.staff), selectinload(Incident.center))


def list_incidents(*, session: Session, flt: IncidentFilter, only_staff_id: int | None = None,
                   offset: int = 0, limit: int = 50, oldest_first: bool = False
                   ) -> tuple[list[Incident], int]:
    """A page of incidents and the total; `only_staff_id` restricts to one person's own."""
    query = _filtered(flt, only_staff_id)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = _when().asc() if oldest_first else _when().desc()
    rows = session.scalars(_loaded(query).order_by(order, Incident.id).offset(offset)
                           .limit(limit)).all()
    return list(rows), count


def iter_incidents(*, session: Session, flt: IncidentFilter, only_staff_id: int | None = None,
                   batch: int = 500) -> list[Incident]:
    rows = session.scalars(_loaded(_filtered(flt, only_staff_id)).order_by(_when(), Incident.id)
                           .execution_options(yield_per=batch)).all()
    return list(rows)


def get_incident(*, session: Session, incident_id: str) -> Incident | None:
    return session.scalars(_loaded(select(Incident).where(Incident.id == incident_id))).first()


def next_in_queue(*, session: Session, flt: IncidentFilter, after: Incident,
                  only_staff_id: int | None = None) -> Incident | None:
    """The incident after `after` in the oldest-first order of the list, for a reviewer moving
    on."""
    when = after.at or after.received_at
    query = _filtered(flt, only_staff_id).where(
        (_when() > when) | ((_when() == when) & (Incident.id > after.id)))
    return session.scalars(query.order_by(_when().asc(), Incident.id).limit(1)).first()


def add_incident(*, session: Session, incident: Incident, evidence: list[Evidence]) -> Incident:
    session.add(incident)
    for e in evidence:
        e.incident_id = incident.id
        session.add(e)
    return incident


def live_evidence_with_sha(*, session: Session, sha256: str) -> int:
    return session.scalar(select(func.count()).select_from(Evidence).where(
        Evidence.sha256 == sha256, Evidence.purged_at.is_(None))) or 0


def referenced_shas(*, session: Session) -> set[str]:
    return set(session.scalars(select(Evidence.sha256).where(Evidence.purged_at.is_(None))).all())

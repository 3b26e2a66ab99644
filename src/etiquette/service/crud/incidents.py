"""Incidents and their evidence rows: queries with the reviewer's filters, search and sort
orders, inserts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    column,
    false,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.orm import Session, selectinload

from etiquette.service.models import Evidence, Incident, Window

# The full-text index of transcript, staff and window (migration 0010): an FTS5 trigram table
# on SQLite, a table with a pg_trgm index on PostgreSQL, kept in sync by triggers.
SEARCH = table("incident_search", column("incident_id"), column("body"))
TRIGRAM = 3  # the shortest text a trigram index finds by itself
MAX_TERMS = 8


class IncidentSort(StrEnum):
    """The list's orders; "-" is descending. Ties go newest first, then by id."""

    NEWEST = "-time"
    OLDEST = "time"
    SEVERITY_HIGH = "-severity"
    SEVERITY_LOW = "severity"
    WINDOW = "window"
    WINDOW_DESC = "-window"
    APPEALED = "-appealed"  # the latest appeal first: the appeals inbox


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
    q: str | None = None  # words of the transcript, the staff's name or number, the window


@dataclass(frozen=True)
class Visibility:
    """The incidents a reader may see at all, whatever they filter (services.incidents.scope):
    one staff member's own, those of some centers; None: no such limit."""

    staff_id: int | None = None
    center_ids: frozenset[int] | None = None


EVERY = Visibility()


def _when() -> ColumnElement[datetime]:
    return func.coalesce(Incident.at, Incident.received_at)


def _window_shown() -> ColumnElement[str]:
    """The window as the list shows it: its number, or its code where it has none."""
    number = select(Window.number).where(Window.id == Incident.window_pk).scalar_subquery()
    return func.coalesce(number, Incident.window_id)


def _matches(dialect: str, term: str) -> ColumnElement[bool]:
    """Incidents whose search text holds `term`, through the backend's trigram index."""
    if dialect == "sqlite" and len(term) >= TRIGRAM:
        phrase = '"' + term.replace('"', '""') + '"'  # an FTS5 string: no query syntax
        hits = select(SEARCH.c.incident_id).where(literal_column("incident_search").op("MATCH")(
            phrase))
    else:
        # Shorter than a trigram (a two-character name) on SQLite: LIKE scans the search
        # table. PostgreSQL's pg_trgm index serves ILIKE of three characters or more.
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        hits = select(SEARCH.c.incident_id).where(SEARCH.c.body.ilike(pattern, escape="\\"))
    return Incident.id.in_(hits)


def search_terms(q: str) -> list[str]:
    """The words of a search (separated by spaces), each of which an incident must hold."""
    return q.split()[:MAX_TERMS]


def _filtered(flt: IncidentFilter, visible: Visibility, dialect: str = "sqlite"
              ) -> Select[Incident]:
    query = select(Incident)
    if visible.staff_id is not None:
        query = query.where(Incident.staff_id == visible.staff_id)
    if visible.center_ids is not None:
        query = query.where(Incident.center_id.in_(sorted(visible.center_ids)))
    if flt.center_id is not None:
        query = query.where(Incident.center_id == flt.center_id)
    if flt.window_id:
        # The window's code, or its number (01) or department as the list shows them.
        shown = select(Window.id).where(or_(Window.number == flt.window_id,
                                            Window.department == flt.window_id))
        query = query.where(or_(Incident.window_id == flt.window_id,
                                Incident.window_pk.in_(shown)))
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
    if flt.q is not None:
        terms = search_terms(flt.q)
        query = query.where(and_(*(_matches(dialect, t) for t in terms)) if terms else false())
    return query


def _order(sort: IncidentSort) -> list[tuple[ColumnElement[Any], bool]]:
    """The sort keys of `sort`, each with whether it descends; the id breaks the last ties."""
    severity = case((Incident.severity == "critical", 3), (Incident.severity == "major", 2),
                    else_=1)
    keys: dict[IncidentSort, list[tuple[ColumnElement[Any], bool]]] = {
        IncidentSort.NEWEST: [(_when(), True)],
        IncidentSort.OLDEST: [(_when(), False)],
        IncidentSort.SEVERITY_HIGH: [(severity, True), (_when(), True)],
        IncidentSort.SEVERITY_LOW: [(severity, False), (_when(), True)],
        IncidentSort.WINDOW: [(_window_shown(), False), (_when(), True)],
        IncidentSort.WINDOW_DESC: [(_window_shown(), True), (_when(), True)],
        IncidentSort.APPEALED: [(func.coalesce(Incident.appealed_at, _when()), True)],
    }
    return [*keys[sort], (Incident.id.expression, False)]


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _loaded(query: Select[Incident]) -> Select[Incident]:
    return query.options(selectinload(Incident.evidence),
                         selectinload(Incident.window).selectinload(Window.center),
                         selectinload(Incident.staff), selectinload(Incident.center))


def list_incidents(*, session: Session, flt: IncidentFilter, visible: Visibility = EVERY,
                   offset: int = 0, limit: int = 50,
                   sort: IncidentSort = IncidentSort.NEWEST) -> tuple[list[Incident], int]:
    """A page of the incidents `visible` to a reader, and their total."""
    query = _filtered(flt, visible, _dialect(session))
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = [key.desc() if desc else key.asc() for key, desc in _order(sort)]
    rows = session.scalars(_loaded(query).order_by(*order).offset(offset).limit(limit)).all()
    return list(rows), count


def count_incidents(*, session: Session, flt: IncidentFilter, visible: Visibility = EVERY,
                    received_after: datetime | None = None) -> int:
    query = _filtered(flt, visible, _dialect(session))
    if received_after is not None:
        query = query.where(Incident.received_at > received_after)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def iter_incidents(*, session: Session, flt: IncidentFilter, visible: Visibility = EVERY,
                   batch: int = 500) -> list[Incident]:
    rows = session.scalars(_loaded(_filtered(flt, visible, _dialect(session)))
                           .order_by(_when(), Incident.id)
                           .execution_options(yield_per=batch)).all()
    return list(rows)


def get_incident(*, session: Session, incident_id: str) -> Incident | None:
    return session.scalars(_loaded(select(Incident).where(Incident.id == incident_id))).first()


def next_in_queue(*, session: Session, flt: IncidentFilter, after: Incident,
                  visible: Visibility = EVERY,
                  sort: IncidentSort = IncidentSort.NEWEST) -> Incident | None:
    """The incident after `after` in the list's order, for a reviewer moving on."""
    keys = _order(sort)
    values = session.execute(select(*(k for k, _ in keys)).where(Incident.id == after.id)).one()
    # Past `after` in the order: equal on the first keys, then beyond it on the next one.
    beyond = or_(*(and_(*(keys[j][0] == values[j] for j in range(i)),
                        keys[i][0] < values[i] if keys[i][1] else keys[i][0] > values[i])
                   for i in range(len(keys))))
    query = _filtered(flt, visible, _dialect(session)).where(beyond)
    order = [key.desc() if desc else key.asc() for key, desc in keys]
    return session.scalars(query.order_by(*order).limit(1)).first()


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

"""Personal data: evidence is kept only as long as the retention setting says.

An incident's evidence expires `retention_days[kind]` after it happened, except while staff
may still appeal it (confirmed, not yet appealed, inside the appeal window) or an appeal
waits for its decision. Purging deletes the files, keeps the rows (marked purged) and the
incident itself, and writes an audit entry per incident. Evidence files that no row refers
to (an upload whose transaction failed) are swept after a grace period. Each run also
forgets the login throttle's rows that hold nothing any more (throttle.purge).

A service session's record holds what both sides said: `session_words_retention_days` after it
ended its utterances' text is erased and the rest kept (window, staff, times, talk time, checks,
ticket, the timeline's bars), as reports, ratings and complaints count and link sessions, not
words. A session stays whole while a complaint that finds it (complaints.sessions_of: its
window, within complaint_match_s of its time) is unanswered, or while one of its incidents is
held for an appeal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from etiquette.core.records import IncidentKind
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit, feedback
from etiquette.service.crud import incidents as crud
from etiquette.service.crud import users as crud_users
from etiquette.service.evidence_store import EvidenceStore
from etiquette.service.models import Evidence, Incident, ServiceSession, Staff
from etiquette.service.schemas import ComplaintStatus, ReviewStatus
from etiquette.service.services import throttle
from etiquette.service.services.access import SYSTEM_RETENTION, Principal
from etiquette.service.services.jobs import PeriodicJob

logger = logging.getLogger("etiquette.service.retention")


@dataclass
class PurgeReport:
    incidents: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)  # whose words were erased
    files_deleted: int = 0
    orphans_deleted: int = 0
    temporaries_deleted: int = 0  # half-written files of a process killed mid-write
    throttles_deleted: int = 0  # login throttle rows that held nothing any more


def expires_at(incident: Incident, settings: Settings) -> datetime:
    days = settings.retention_days.get(IncidentKind(incident.kind),
                                       max(settings.retention_days.values()))
    return (incident.at or incident.received_at) + timedelta(days=days)


def held_for_appeal(incident: Incident, settings: Settings, now: datetime) -> bool:
    if incident.status == ReviewStatus.APPEALED:
        return True
    if (incident.status == ReviewStatus.CONFIRMED and incident.appealed_at is None
            and incident.reviewed_at is not None):
        return now < incident.reviewed_at + timedelta(days=settings.appeal_window_days)
    return False


def purge_expired(*, session: Session, store: EvidenceStore, settings: Settings,
                  now: datetime | None = None, actor: Principal = SYSTEM_RETENTION) -> PurgeReport:
    now = now or utcnow()
    report = PurgeReport()
    shortest = min(settings.retention_days.values())
    when = func.coalesce(Incident.at, Incident.received_at)
    candidates = session.scalars(
        select(Incident).where(Incident.evidence_purged_at.is_(None),
                               when < now - timedelta(days=shortest),
                               Incident.evidence.any(Evidence.purged_at.is_(None)))).all()
    doomed: set[str] = set()
    for incident in candidates:
        if now < expires_at(incident, settings) or held_for_appeal(incident, settings, now):
            continue
        roles = []
        for e in incident.evidence:
            if e.purged_at is None:
                e.purged_at = now
                doomed.add(e.sha256)
                roles.append(e.role)
        incident.evidence_purged_at = now
        audit.record(session=session, actor=actor, action="evidence.purge", target_type="incident",
                     target_id=incident.id, before={"evidence": sorted(roles)},
                     after={"evidence_purged_at": now, "status": incident.status})
        report.incidents.append(incident.id)
    report.sessions = purge_session_words(session=session, settings=settings, now=now,
                                          actor=actor)
    crud_users.delete_expired_sessions(session=session, now=now)
    report.throttles_deleted = throttle.purge(session=session, settings=settings, now=now,
                                              actor=actor)
    session.commit()
    keep = _referenced(session)
    for sha in doomed - keep:
        report.files_deleted += store.delete(sha)
    for sha in list(store.files(older_than_s=settings.orphan_grace_s)):
        if sha not in keep and store.delete(sha):
            report.orphans_deleted += 1
    for tmp in list(store.temporaries(older_than_s=settings.orphan_grace_s)):
        tmp.unlink(missing_ok=True)
        report.temporaries_deleted += 1
    if report.temporaries_deleted:
        logger.info("retention: removed %d evidence file(s) left half-written",
                    report.temporaries_deleted)
    if report.throttles_deleted:
        logger.info("retention: forgot %d login throttle row(s)", report.throttles_deleted)
    if report.sessions:
        logger.info("retention: erased the words of %d service session(s)", len(report.sessions))
    if report.incidents or report.orphans_deleted:
        logger.info("retention: purged evidence of %d incident(s), %d file(s); %d orphan(s)",
                    len(report.incidents), report.files_deleted, report.orphans_deleted)
    return report


def session_held(session: Session, settings: Settings, row: ServiceSession,
                 now: datetime) -> bool:
    """Whether an unanswered complaint or an incident held for appeal still needs the session's
    words."""
    if row.window_pk is not None and any(
            c.status != ComplaintStatus.ANSWERED for c in feedback.complaints_around(
                session=session, window_pk=row.window_pk, start=row.start_at, end=row.end_at,
                within=timedelta(seconds=settings.complaint_match_s))):
        return True
    incidents = session.scalars(select(Incident).where(Incident.session_id == row.id)).all()
    return any(held_for_appeal(i, settings, now) for i in incidents)


def purge_session_words(*, session: Session, settings: Settings, now: datetime,
                        actor: Principal) -> list[str]:
    """Erase the utterances' text of the sessions past their retention (in the caller's
    transaction); returns their ids."""
    cutoff = now - timedelta(days=settings.session_words_retention_days)
    expired = session.scalars(select(ServiceSession).where(
        ServiceSession.words_purged_at.is_(None), ServiceSession.end_at < cutoff)).all()
    purged = []
    for row in expired:
        if session_held(session, settings, row, now):
            continue
        said = sum(1 for t in row.turns if t.get("text"))
        row.turns = [{**t, "text": None} for t in row.turns]
        row.words_purged_at = now
        audit.record(session=session, actor=actor, action="session.words_purge",
                     target_type="session", target_id=row.id, before={"words": said},
                     after={"words_purged_at": now})
        purged.append(row.id)
    return purged


def _referenced(session: Session) -> set[str]:
    shas = crud.referenced_shas(session=session)
    shas |= {s for s in session.scalars(select(Staff.photo_sha256)).all() if s}
    return shas


class RetentionJob(PeriodicJob):
    """Runs the purge every `retention_interval_s` (at start when one is due) until stopped,
    once per round across the service's processes (etiquette.service.services.jobs)."""

    def __init__(self, factory: sessionmaker[Session], store: EvidenceStore,
                 settings: Settings) -> None:
        super().__init__("retention", factory, settings.retention_interval_s,
                         lambda session: purge_expired(session=session, store=store,
                                                       settings=settings))

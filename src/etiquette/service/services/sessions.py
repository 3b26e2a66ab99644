"""Service sessions (issue 19 item 3): a pipeline's session record stored once, linked with its
incidents, and read as the incidents are (the same visibility: a center's supervisors see its
sessions, staff their own).

The staff member is resolved as for an incident: whoever was on duty at the window when the
session began. Incidents and their session may arrive in either order (a live site sends the
session when it is judged at its end, after most of its incidents; an outbox retries): the
session's ingest links the incidents it names and those of its window within its time, and an
incident's ingest (services/ingest.py) links it to the session of its window in progress then.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from etiquette.core.session_records import CheckState
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit, feedback, master
from etiquette.service.crud import hall as hall_crud
from etiquette.service.crud import sessions as crud
from etiquette.service.crud.sessions import SessionFilter
from etiquette.service.errors import Forbidden, NotFound
from etiquette.service.labels import COMPLAINT_CHANNEL_NAMES, COMPLAINT_STATUS_NAMES
from etiquette.service.models import ServiceSession
from etiquette.service.schemas import (
    ComplaintRef,
    PersonRef,
    SessionCheck,
    SessionIn,
    SessionPublic,
    SessionResult,
    SessionsPublic,
    SessionSummary,
    SessionTurn,
)
from etiquette.service.services import complaints, ratings
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.incidents import scope, to_public
from etiquette.service.services.stored_once import digest, store_once


def session_url(session_id: str) -> str:
    """The session's page (its timeline)."""
    return f"/sessions/{session_id}"


def ingest(*, session: Session, settings: Settings, principal: Principal, record: SessionIn
           ) -> tuple[ServiceSession, bool]:
    """Store one session record, link its incidents and move to it the ratings it rates better
    than the session they were attached to (ratings.reattach). Returns (the stored session,
    whether it is new).

    Raises:
      Forbidden: the principal is no pipeline, or the window is another center's than its key's.
      Conflict: this id is stored already with other content.
    """
    principal.require(Permission.INGEST)
    body = record.model_dump(mode="json")
    content, session_id = digest(body), str(record.id)

    def create() -> ServiceSession:
        key = principal.api_key
        center_id = key.center_id if key else None
        window = master.window_by_code(session=session, code=record.window_id,
                                       center_id=center_id)
        if window is None and center_id is not None and hall_crud.code_elsewhere(
                session=session, code=record.window_id, center_id=center_id):
            raise Forbidden(f"窗口 {record.window_id} 不属于此密钥的中心 (window "
                            f"{record.window_id} is another center's than this key's)")
        staff_id = None
        if window is not None:
            center_id = window.center_id
            staff_id = master.staff_on_duty(session=session, window_pk=window.id,
                                            at=record.start_at)
        row = ServiceSession(
            id=session_id, source=record.source, window_id=record.window_id,
            window_pk=window.id if window else None, center_id=center_id, staff_id=staff_id,
            start_at=record.start_at, end_at=record.end_at, offset_s=record.offset_s,
            end_s=record.end_s, ticket=record.ticket, staff_talk_s=record.staff_talk_s,
            citizen_talk_s=record.citizen_talk_s, checks=body["checks"], turns=body["turns"],
            incident_ids=body["incident_ids"], content_sha256=content,
            received_at=utcnow(), api_key_id=key.id if key else None)
        crud.add_session(session=session, row=row)
        crud.link_incidents(session=session, row=row, incident_ids=body["incident_ids"])
        ratings.reattach(session=session, settings=settings, row=row, actor=principal)
        audit.record(session=session, actor=principal, action="session.ingest",
                     target_type="session", target_id=session_id,
                     after={"window_id": row.window_id, "staff_id": staff_id,
                            "ticket": row.ticket, "incidents": len(row.incident_ids)})
        return row

    return store_once(session=session, content=content,
                      stored=lambda: crud.get_session(session=session, session_id=session_id),
                      create=create, what=("会话", "session"))


def result(*, session: Session, row: ServiceSession, created: bool) -> SessionResult:
    linked = crud.incident_counts(session=session, session_ids=[row.id]).get(row.id, 0)
    return SessionResult(id=row.id, created=created, incidents=linked)


def _summary(row: ServiceSession, incidents: int) -> SessionSummary:
    window, staff = row.window, row.staff
    return SessionSummary(
        id=row.id, window_id=row.window_id, window_number=window.number if window else None,
        center_id=row.center_id, center_name=row.center.name if row.center else None,
        staff=(PersonRef(id=staff.id, name=staff.name, employee_no=staff.employee_no)
               if staff else None),
        start_at=row.start_at, end_at=row.end_at, ticket=row.ticket,
        staff_talk_s=row.staff_talk_s, citizen_talk_s=row.citizen_talk_s,
        failed=[c["name"] for c in row.checks if c.get("state") == CheckState.FAILED],
        incidents=incidents)


def list_sessions(*, session: Session, principal: Principal, flt: SessionFilter,
                  offset: int = 0, limit: int = 50) -> SessionsPublic:
    """The sessions the principal may see (as its incidents), newest first."""
    visible = scope(principal)
    rows = crud.list_sessions(session=session, flt=flt, visible=visible, offset=offset,
                              limit=limit)
    counts = crud.incident_counts(session=session, session_ids=[r.id for r in rows])
    return SessionsPublic(data=[_summary(r, counts.get(r.id, 0)) for r in rows],
                          count=crud.count_sessions(session=session, flt=flt, visible=visible))


def read(*, session: Session, settings: Settings, principal: Principal,
         session_id: str) -> SessionPublic:
    """One session with its timeline, the incidents of it the principal may see, the ratings
    that rate it (for readers of ratings) and the complaints that found it that the principal
    may see.

    Raises NotFound: no such session, or not one the principal may see (its existence is not
    revealed, as for incidents).
    """
    visible = scope(principal)
    row = crud.get_session(session=session, session_id=session_id, visible=visible)
    if row is None:
        raise NotFound("没有这条服务记录 (session not found)")
    incidents = crud.incidents_of(session=session, session_id=row.id, visible=visible)
    rated = (feedback.ratings_of(session=session, session_id=row.id,
                                 center_ids=principal.centers)
             if principal.can(Permission.RATINGS_READ) else [])
    return SessionPublic(
        **_summary(row, len(incidents)).model_dump(), source=row.source, offset_s=row.offset_s,
        end_s=row.end_s, checks=[SessionCheck.model_validate(c) for c in row.checks],
        turns=[SessionTurn.model_validate(t) for t in row.turns],
        incident_list=[to_public(i) for i in incidents], words_purged_at=row.words_purged_at,
        ratings=[ratings.to_public(r) for r in rated],
        complaints=_complaints(session=session, settings=settings, principal=principal, row=row))


def _complaints(*, session: Session, settings: Settings, principal: Principal,
                row: ServiceSession) -> list[ComplaintRef]:
    """The complaints the principal may see whose matching sessions include this one."""
    if row.window_pk is None:
        return []
    found = feedback.complaints_around(session=session, window_pk=row.window_pk,
                                       start=row.start_at, end=row.end_at,
                                       within=timedelta(seconds=settings.complaint_match_s))
    now = utcnow()
    refs = []
    for c in found:
        if complaints.may_see(principal, c):
            status = complaints.status_of(c, now)
            refs.append(ComplaintRef(id=c.id, at=c.at, channel_name=COMPLAINT_CHANNEL_NAMES[
                c.channel], status=status, status_name=COMPLAINT_STATUS_NAMES[status],
                url=f"/complaints/{c.id}"))
    return refs

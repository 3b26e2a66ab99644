from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import AwareDatetime

from etiquette.core.records import IncidentKind
from etiquette.service import media
from etiquette.service.api.deps import CurrentUser, SessionDep, SettingsDep, StoreDep
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit
from etiquette.service.crud import incidents as crud
from etiquette.service.crud.incidents import IncidentFilter, IncidentSort
from etiquette.service.errors import Gone, Invalid, NotFound
from etiquette.service.models import Incident
from etiquette.service.schemas import (
    AppealDecisionRequest,
    AppealRequest,
    AuditLogPublic,
    BulkReviewRequest,
    BulkReviewResult,
    EvidenceRole,
    IncidentPublic,
    IncidentsPublic,
    QueueCounts,
    ReviewRequest,
    ReviewStatus,
    error_responses,
)
from etiquette.service.services import review
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.incidents import csv_lines, scope, to_public
from etiquette.service.services.ingest import AUDIO_ROLES

router = APIRouter(prefix="/incidents", tags=["incidents"])

NOT_FOUND = error_responses(404, 401, 403)
CONFLICT = error_responses(409, 404, 401, 403)
RULE_ID = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_QUERY = 200
IncidentId = Annotated[str, Path(max_length=64)]


def day_start(d: date | datetime | None, zone: ZoneInfo, end: bool = False) -> datetime | None:
    """A date is its whole day in the center's time zone `zone` (the day its pages show): from
    its start, or (as an end) to the next day's start."""
    if d is None or isinstance(d, datetime):
        if isinstance(d, datetime) and d.tzinfo is None:
            raise Invalid("a date-time filter needs a time zone (…Z or +08:00)")
        return d
    return datetime.combine(d + timedelta(days=1) if end else d, time(0), tzinfo=zone)


def display_zone(settings: SettingsDep) -> ZoneInfo:
    return ZoneInfo(settings.display_timezone)


class Filters:
    """The reviewer's filters, shared by the list, the CSV export and the workbench."""

    def __init__(
        self,
        center_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
        window_id: Annotated[str | None, Query(
            max_length=64, description="the window's code, number (01) or department")] = None,
        staff_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
        kind: IncidentKind | None = None,
        rule_id: Annotated[str | None, Query(pattern=RULE_ID)] = None,
        status: ReviewStatus | None = None,
        date_from: Annotated[date | datetime | None, Query(
            description="inclusive; a date (a day of the center's time zone) or an ISO "
                        "date-time with zone")] = None,
        date_to: Annotated[date | datetime | None, Query(
            description="a date: through that day; a date-time: before it")] = None,
        q: Annotated[str | None, Query(
            max_length=MAX_QUERY, description="words (separated by spaces) each of which the "
                                              "transcript, the staff's name or number or the "
                                              "window holds")] = None,
        *, zone: Annotated[ZoneInfo, Depends(display_zone)],
    ) -> None:
        self.value = IncidentFilter(center_id=center_id, window_id=window_id or None,
                                    staff_id=staff_id, kind=kind.value if kind else None,
                                    rule_id=rule_id, status=status.value if status else None,
                                    date_from=day_start(date_from, zone),
                                    date_to=day_start(date_to, zone, end=True),
                                    q=(q or "").strip() or None)


@router.get("", response_model=IncidentsPublic, responses=NOT_FOUND)
def list_incidents(session: SessionDep, principal: CurrentUser,
                   filters: Annotated[Filters, Depends()],
                   offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50,
                   sort: IncidentSort = IncidentSort.NEWEST,
                   oldest_first: Annotated[bool, Query(description="sort=time")] = False
                   ) -> IncidentsPublic:
    """Incidents the caller may see, newest first by default; `sort` by time, severity (then
    newest first) or window, "-" descending."""
    rows, count = crud.list_incidents(session=session, flt=filters.value,
                                      visible=scope(principal), offset=offset, limit=limit,
                                      sort=IncidentSort.OLDEST if oldest_first else sort)
    return IncidentsPublic(data=[to_public(r) for r in rows], count=count)


@router.get("/counts", response_model=QueueCounts, responses=NOT_FOUND)
def counts(session: SessionDep, principal: CurrentUser, filters: Annotated[Filters, Depends()],
           since: Annotated[AwareDatetime | None, Query(
               description="also count the incidents of the filters received after then")
           ] = None) -> QueueCounts:
    """The caller's waiting work (pending incidents they may see, appeals to decide) and, with
    `since`, how many incidents of the filters arrived since: what an open page polls."""
    return review.queue_counts(session=session, principal=principal, flt=filters.value,
                               since=since)


@router.post("/bulk-review", response_model=BulkReviewResult, responses=NOT_FOUND)
def bulk_review(body: BulkReviewRequest, session: SessionDep,
                principal: CurrentUser) -> BulkReviewResult:
    """Confirm or dismiss (one reason for all) several incidents, each as a single review is
    (audited each); one that cannot be (gone, already reviewed) is reported, the rest done."""
    return review.bulk_review(session=session, principal=principal, request=body)


@router.get("/export.csv", responses={200: {"content": {"text/csv": {}}}, **NOT_FOUND})
def export_csv(session: SessionDep, settings: SettingsDep, principal: CurrentUser,
               filters: Annotated[Filters, Depends()]) -> StreamingResponse:
    """The filtered incidents as CSV (UTF-8 with BOM), the rows the caller may see; times in
    the center's time zone, codes in Chinese."""
    rows = crud.iter_incidents(session=session, flt=filters.value, visible=scope(principal))
    zone = ZoneInfo(settings.display_timezone)
    name = f"incidents-{utcnow().astimezone(zone):%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(csv_lines(rows, zone), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _get(session: SessionDep, principal: Principal, incident_id: str) -> Incident:
    scope(principal)
    return review.visible(principal, crud.get_incident(session=session, incident_id=incident_id))


@router.get("/{incident_id}", response_model=IncidentPublic, responses=NOT_FOUND)
def get_incident(incident_id: IncidentId, session: SessionDep,
                 principal: CurrentUser) -> IncidentPublic:
    return to_public(_get(session, principal, incident_id))


@router.post("/{incident_id}/review", response_model=IncidentPublic,
             responses=CONFLICT)
def review_incident(incident_id: IncidentId, body: ReviewRequest, session: SessionDep,
                    principal: CurrentUser) -> IncidentPublic:
    """Confirm, dismiss (with a reason) or reopen an incident."""
    incident = _get(session, principal, incident_id)
    return to_public(review.review(session=session, principal=principal, incident=incident,
                                   request=body))


@router.post("/{incident_id}/undo", response_model=IncidentPublic, responses=CONFLICT)
def undo_review(incident_id: IncidentId, session: SessionDep, settings: SettingsDep,
                principal: CurrentUser) -> IncidentPublic:
    """Undo one's own confirm or dismiss within `undo_window_s`: the incident is pending
    again."""
    incident = _get(session, principal, incident_id)
    return to_public(review.undo(session=session, settings=settings, principal=principal,
                                 incident=incident))


@router.post("/{incident_id}/appeal", response_model=IncidentPublic,
             responses=CONFLICT)
def appeal_incident(incident_id: IncidentId, body: AppealRequest, session: SessionDep,
                    settings: SettingsDep, principal: CurrentUser) -> IncidentPublic:
    """Staff appeal one of their own confirmed incidents, within the appeal window."""
    incident = _get(session, principal, incident_id)
    return to_public(review.appeal(session=session, settings=settings, principal=principal,
                                   incident=incident, request=body))


@router.post("/{incident_id}/appeal/decision", response_model=IncidentPublic,
             responses=CONFLICT)
def decide_appeal(incident_id: IncidentId, body: AppealDecisionRequest, session: SessionDep,
                  principal: CurrentUser) -> IncidentPublic:
    """A supervisor decides an appeal: accepted dismisses the incident, rejected confirms it."""
    incident = _get(session, principal, incident_id)
    return to_public(review.decide_appeal(session=session, principal=principal, incident=incident,
                                          request=body))


@router.get("/{incident_id}/history", response_model=AuditLogPublic, responses=NOT_FOUND)
def history(incident_id: IncidentId, session: SessionDep, principal: CurrentUser) -> AuditLogPublic:
    """The audit entries of one incident (ingest, reviews, appeals, purge)."""
    principal.require(Permission.INCIDENTS_HISTORY)
    incident = _get(session, principal, incident_id)
    rows, count = audit.list_entries(session=session, target_type="incident", target_id=incident.id,
                                     limit=500)
    return AuditLogPublic.model_validate({"data": rows, "count": count}, from_attributes=True)


@router.get("/{incident_id}/evidence/{role}", response_class=FileResponse,
            responses={200: {"content": {t: {} for t in sorted(media.EXTENSIONS)}},
                       **error_responses(410, 404, 401, 403)})
def evidence(incident_id: IncidentId, role: EvidenceRole, session: SessionDep, store: StoreDep,
             principal: CurrentUser) -> FileResponse:
    """An evidence file, to those who may see the incident. The file is found by the hash its
    database row holds; nothing in the request becomes a path. It is served as the type it was
    validated as at ingest (decoded whole), never sniffed, and inline only as what the workbench
    plays (a clip's audio) or shows (an image)."""
    incident = _get(session, principal, incident_id)
    row = next((e for e in incident.evidence if e.role == role.value), None)
    if row is None:
        raise NotFound(f"this incident has no {role.value} evidence")
    if row.purged_at is not None:
        raise Gone(f"evidence purged on {row.purged_at:%Y-%m-%d} under the retention policy")
    path = store.path(row.sha256)
    if not path.is_file():
        raise NotFound("evidence file is missing from the store")
    media_type, inline = media.served_as(row.media_type, audio=role in AUDIO_ROLES)
    ext = media.EXTENSIONS.get(media_type, "bin")
    return FileResponse(path, media_type=media_type, filename=f"{incident.id}-{role.value}.{ext}",
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"Cache-Control": "private, no-store",
                                 "X-Content-Type-Options": "nosniff"})

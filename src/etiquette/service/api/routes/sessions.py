"""Service sessions: a pipeline posts each session's record; readers list them and read one
(its timeline, checks and incidents), with the visibility of incidents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Response, status

from etiquette.service.api.deps import CurrentUser, Pipeline, SessionDep, SettingsDep
from etiquette.service.api.routes.incidents import day_start, display_zone
from etiquette.service.crud.sessions import SessionFilter
from etiquette.service.schemas import (
    SessionIn,
    SessionPublic,
    SessionResult,
    SessionsPublic,
    error_responses,
)
from etiquette.service.services import sessions

router = APIRouter(prefix="/sessions", tags=["sessions"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SessionResult,
             responses={200: {"model": SessionResult, "description": "already stored (a retry)"},
                        **error_responses(401, 403, 409, 422)})
def ingest_session(body: SessionIn, response: Response, session: SessionDep,
                   settings: SettingsDep, principal: Pipeline) -> SessionResult:
    """A pipeline posts one service session's record (batch: one per recording; live: one per
    session when it is judged). The staff member is whoever was on duty at the window then; its
    incidents (those it names, and its window's within its time) link to it. The same id with
    the same content answers 200 and stores nothing new; with other content, 409. A window of
    another center than the key's is refused (403). Ratings of its window that it rates better
    than the session they were attached to move to it."""
    row, created = sessions.ingest(session=session, settings=settings, principal=principal,
                                   record=body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return sessions.result(session=session, row=row, created=created)


@router.get("", response_model=SessionsPublic, responses=error_responses(401, 403))
def list_sessions(
    session: SessionDep, principal: CurrentUser,
    zone: Annotated[ZoneInfo, Depends(display_zone)],
    center_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    window_id: Annotated[str | None, Query(max_length=64,
                                           description="the window's code or number (01)")] = None,
    staff_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    date_from: Annotated[date | datetime | None, Query(
        description="inclusive; a date (a day of the center's time zone) or an ISO date-time "
                    "with zone")] = None,
    date_to: Annotated[date | datetime | None, Query(
        description="a date: through that day; a date-time: before it")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SessionsPublic:
    """The sessions the caller may see (as their incidents: a center's, or staff their own),
    newest first."""
    flt = SessionFilter(center_id=center_id, window_id=window_id or None, staff_id=staff_id,
                        date_from=day_start(date_from, zone),
                        date_to=day_start(date_to, zone, end=True))
    return sessions.list_sessions(session=session, principal=principal, flt=flt, offset=offset,
                                  limit=limit)


@router.get("/{session_id}", response_model=SessionPublic,
            responses=error_responses(404, 401, 403))
def read_session(session_id: Annotated[str, Path(max_length=64)], session: SessionDep,
                 settings: SettingsDep, principal: CurrentUser) -> SessionPublic:
    """One session: window, staff, times, ticket, talk time per side, the checks passed and
    failed, its utterances (the timeline; their text erased once its retention ended), the
    incidents of it the caller may see, the ratings that rate it (for readers of ratings) and
    the complaints that found it the caller may see."""
    return sessions.read(session=session, settings=settings, principal=principal,
                         session_id=session_id)

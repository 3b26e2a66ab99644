"""Commendations: recorded by supervisors, they add the scoring scheme's bonus points."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Response, status

from etiquette.service.api.deps import CurrentUser, SessionDep, SettingsDep
from etiquette.service.schemas import (
    MAX_ID,
    PERIOD_PATTERN,
    CommendationCreate,
    CommendationPublic,
    CommendationsPublic,
    error_responses,
)
from etiquette.service.services import commendations, reports

router = APIRouter(prefix="/commendations", tags=["scoring"])
ERRORS = error_responses(401, 403, 404, 422)


@router.get("", response_model=CommendationsPublic, responses=ERRORS)
def list_commendations(session: SessionDep, settings: SettingsDep, principal: CurrentUser,
                       period: Annotated[str, Query(pattern=PERIOD_PATTERN,
                                                    description="2026-11, 2026-Q4 or 2026")],
                       center_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
                       ) -> CommendationsPublic:
    """The commendations of a period (those who read reports)."""
    zone = ZoneInfo(settings.display_timezone)
    p = reports.parse_period(period)
    rows = commendations.between(session=session, principal=principal, start=p.start(zone),
                                 end=p.end(zone), center_id=center_id)
    return CommendationsPublic(data=[commendations.to_public(r) for r in rows], count=len(rows))


@router.post("", response_model=CommendationPublic, status_code=status.HTTP_201_CREATED,
             responses=ERRORS)
def create_commendation(body: CommendationCreate, session: SessionDep,
                        principal: CurrentUser) -> CommendationPublic:
    """Record a commendation of a window (supervisors, admins); its staff member is whoever
    staffed the window at `at` unless `staff_id` says otherwise. Audited."""
    row = commendations.create(session=session, principal=principal, body=body)
    session.refresh(row)
    return commendations.to_public(row)


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=ERRORS)
def delete_commendation(id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep,  # noqa: A002
                        principal: CurrentUser) -> Response:
    """Withdraw a commendation recorded by mistake (supervisors, admins). Audited."""
    commendations.delete(session=session, principal=principal, commendation_id=id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

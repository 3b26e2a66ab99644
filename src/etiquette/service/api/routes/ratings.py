"""好差评: the hall's evaluation device posts ratings; those who read reports list them."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response, status

from etiquette.service.api.deps import CurrentUser, Pipeline, SessionDep, SettingsDep
from etiquette.service.schemas import (
    MAX_ID,
    PERIOD_PATTERN,
    RatingIn,
    RatingResult,
    RatingsPublic,
    error_responses,
)
from etiquette.service.services import ratings, reports

router = APIRouter(prefix="/ratings", tags=["ratings"])


@router.post("", response_model=RatingResult, status_code=status.HTTP_201_CREATED,
             responses={200: {"model": RatingResult, "description": "already stored (a retry)"},
                        **error_responses(401, 403, 409, 422)})
def post_rating(body: RatingIn, response: Response, session: SessionDep, settings: SettingsDep,
                principal: Pipeline) -> RatingResult:
    """A citizen's rating from the hall's evaluation device (评价器), with its center's pipeline
    key (X-API-Key); a window of another center is refused (403). It is attached to the session
    it rates: by ticket where both have one, else the session at that window that holds its
    time or ended last before it (within `rating_session_gap_s`); none matching, it is kept
    unattached (`session_id` null). The same id again with the same content answers 200."""
    result = ratings.record(session=session, settings=settings, principal=principal, body=body)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return result


@router.get("", response_model=RatingsPublic, responses=error_responses(401, 403, 422))
def list_ratings(session: SessionDep, settings: SettingsDep, principal: CurrentUser,
                 period: Annotated[str | None, Query(pattern=PERIOD_PATTERN,
                                                     description="2026-11, 2026-Q4 or 2026")
                                   ] = None,
                 window_pk: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                 attached: Annotated[bool | None, Query(description="false: those rating no "
                                                                    "known session")] = None,
                 offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> RatingsPublic:
    """Ratings of the centers the reader sees, newest first (supervisors, admins, auditors)."""
    zone = ZoneInfo(settings.display_timezone)
    p = reports.parse_period(period) if period else None
    rows, count = ratings.listed(session=session, settings=settings, principal=principal,
                                 window_pk=window_pk, start=p.start(zone) if p else None,
                                 end=p.end(zone) if p else None, attached=attached,
                                 offset=offset, limit=limit)
    return RatingsPublic(data=[ratings.to_public(r) for r in rows], count=count)

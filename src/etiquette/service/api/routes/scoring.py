"""The scoring scheme's versions: read by those who read reports, added by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from etiquette.core.scoring import Month
from etiquette.service.api.deps import CurrentUser, SessionDep, SettingsDep
from etiquette.service.crud import scoring as crud
from etiquette.service.errors import NotFound
from etiquette.service.schemas import (
    MAX_ID,
    MONTH_PATTERN,
    Message,
    ScoringVersionCreate,
    ScoringVersionPublic,
    ScoringVersionsPublic,
    ScoringVersionSummary,
    error_responses,
)
from etiquette.service.services import scoring as scoring_service
from etiquette.service.services.access import Permission

router = APIRouter(prefix="/scoring", tags=["scoring"])
ERRORS = error_responses(401, 403, 404)


@router.get("/versions", response_model=ScoringVersionsPublic, responses=ERRORS)
def list_versions(session: SessionDep, principal: CurrentUser,
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100) -> ScoringVersionsPublic:
    """Every saved version, newest first, with the month each takes effect from."""
    principal.require(Permission.REPORTS_READ)
    rows, count = crud.list_versions(session=session, offset=offset, limit=limit)
    return ScoringVersionsPublic(data=[ScoringVersionSummary.model_validate(r, from_attributes=True)
                                       for r in rows], count=count)


@router.get("/in-force", response_model=ScoringVersionPublic, responses=ERRORS)
def in_force(session: SessionDep, settings: SettingsDep, principal: CurrentUser,
             month: Annotated[str | None, Query(
                 pattern=MONTH_PATTERN, description="YYYY-MM; default the current month")] = None
             ) -> ScoringVersionPublic:
    """The version that scores `month`, with its YAML."""
    principal.require(Permission.REPORTS_READ)
    m = Month.parse(month) if month else scoring_service.current_month(settings)
    row, _ = scoring_service.in_force(session, m)
    return ScoringVersionPublic.model_validate(row, from_attributes=True)


@router.get("/versions/{id}", response_model=ScoringVersionPublic, responses=ERRORS)
def get_version(id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep,  # noqa: A002
                principal: CurrentUser) -> ScoringVersionPublic:
    principal.require(Permission.REPORTS_READ)
    row = crud.get(session=session, version_id=id)
    if row is None:
        raise NotFound(f"no scoring version {id}")
    return ScoringVersionPublic.model_validate(row, from_attributes=True)


@router.post("/versions", response_model=ScoringVersionPublic, status_code=status.HTTP_201_CREATED,
             responses={**ERRORS, 409: {"model": Message}, 422: {"model": Message}})
def create_version(body: ScoringVersionCreate, session: SessionDep, settings: SettingsDep,
                   principal: CurrentUser) -> ScoringVersionPublic:
    """Save a new scheme taking effect from `effective_from` (default: this month; never a
    month already past, so no published month is rescored). A 422 names the key and line
    that is wrong."""
    row = scoring_service.create_version(session=session, settings=settings, principal=principal,
                                         body=body)
    return ScoringVersionPublic.model_validate(row, from_attributes=True)

"""The rules: the parsed view for reviewers, the YAML in force for pipelines, and the version
history that admins add to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status
from sqlalchemy.orm import Session

from etiquette.service.api.deps import CurrentUser, SessionDep, UserOrPipeline
from etiquette.service.crud import rules as crud
from etiquette.service.errors import NotFound
from etiquette.service.models import RuleVersion
from etiquette.service.schemas import (
    MAX_ID,
    Message,
    RulesPublic,
    RuleVersionCreate,
    RuleVersionPublic,
    RuleVersionsPublic,
    RuleVersionSummary,
    error_responses,
)
from etiquette.service.services import rules as rules_service
from etiquette.service.services.access import Permission

router = APIRouter(prefix="/rules", tags=["rules"])
ERRORS = error_responses(401, 403, 404)
VersionId = Annotated[int, Path(ge=1, le=MAX_ID)]
YAML_TYPE = "application/yaml; charset=utf-8"


@router.get("", response_model=RulesPublic, responses={401: {"model": Message}})
def list_rules(session: SessionDep, principal: CurrentUser) -> RulesPublic:
    """The Appendix B rules in force, rule by rule (for reviewers)."""
    principal.require(Permission.RULES_READ)
    return rules_service.rules(session)


@router.get("/current", response_class=Response, responses={
    200: {"content": {"application/yaml": {"schema": {"type": "string"}}},
          "description": "the rule set in force, as YAML (the format of rules/appendix_b.yaml)"},
    304: {"description": "unchanged since the ETag sent in If-None-Match"}, **ERRORS})
def current_yaml(session: SessionDep, principal: UserOrPipeline,
                 if_none_match: Annotated[str | None, Header(max_length=200)] = None) -> Response:
    """The rules in force as YAML, for a pipeline (X-API-Key) or any logged-in user. The ETag
    is the YAML's sha256 and `X-Rules-Version-Id` the version: poll with If-None-Match."""
    principal.require(Permission.RULES_READ)
    row = _current(session)
    headers = {"ETag": f'"{row.sha256}"', "X-Rules-Version-Id": str(row.id),
               "Cache-Control": "no-cache"}
    if if_none_match and row.sha256 in if_none_match:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(row.yaml, media_type=YAML_TYPE, headers=headers)


@router.get("/versions", response_model=RuleVersionsPublic, responses=ERRORS)
def list_versions(session: SessionDep, principal: CurrentUser,
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100) -> RuleVersionsPublic:
    """Every saved version, newest (the one in force) first, without their YAML (admins)."""
    principal.require(Permission.RULES_ADMIN)
    rows, count = crud.list_versions(session=session, offset=offset, limit=limit)
    return RuleVersionsPublic(data=[RuleVersionSummary.model_validate(r, from_attributes=True)
                                    for r in rows], count=count)


@router.get("/versions/current", response_model=RuleVersionPublic, responses=ERRORS)
def get_current_version(session: SessionDep, principal: CurrentUser) -> RuleVersionPublic:
    """The version in force with its YAML (admins)."""
    principal.require(Permission.RULES_ADMIN)
    return RuleVersionPublic.model_validate(_current(session), from_attributes=True)


@router.get("/versions/{id}", response_model=RuleVersionPublic, responses=ERRORS)
def get_version(id: VersionId, session: SessionDep, principal: CurrentUser) -> RuleVersionPublic:  # noqa: A002
    principal.require(Permission.RULES_ADMIN)
    row = crud.get(session=session, version_id=id)
    if row is None:
        raise NotFound(f"no rules version {id}")
    return RuleVersionPublic.model_validate(row, from_attributes=True)


@router.post("/versions", response_model=RuleVersionPublic, status_code=status.HTTP_201_CREATED,
             responses={**ERRORS, 409: {"model": Message}, 422: {"model": Message}})
def create_version(body: RuleVersionCreate, session: SessionDep,
                   principal: CurrentUser) -> RuleVersionPublic:
    """Save a new version of the whole rule set; it is in force at once. It is validated as the
    pipelines load it: a 422 names the key path that is wrong (`forbidden[3] (F2-1) -> phrases`)."""
    row = rules_service.create_version(session=session, principal=principal, body=body)
    return RuleVersionPublic.model_validate(row, from_attributes=True)


def _current(session: Session) -> RuleVersion:
    row = crud.current(session=session)
    if row is None:  # seeded at start-up, so only on a database emptied under a running service
        raise NotFound("no rules version stored")
    return row

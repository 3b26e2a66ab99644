from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from etiquette.service.api.deps import CurrentUser, SessionDep
from etiquette.service.crud import users as crud_users
from etiquette.service.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    ApiKeysPublic,
    error_responses,
)
from etiquette.service.services import users
from etiquette.service.services.access import Permission

router = APIRouter(prefix="/api-keys", tags=["api keys"])
ERRORS = error_responses(401, 403, 404, 422)


@router.get("", response_model=ApiKeysPublic, responses=ERRORS)
def list_keys(session: SessionDep, principal: CurrentUser) -> ApiKeysPublic:
    principal.require(Permission.API_KEYS_READ)
    rows, count = crud_users.list_keys(session=session, center_ids=principal.centers)
    return ApiKeysPublic(data=[ApiKeyPublic.model_validate(k, from_attributes=True) for k in rows],
                         count=count)


@router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED,
             responses=ERRORS)
def create_key(body: ApiKeyCreate, session: SessionDep, principal: CurrentUser) -> ApiKeyCreated:
    """A new key for a pipeline; the key itself is in this answer only."""
    row, key = users.create_api_key(session=session, principal=principal, key_in=body)
    public = ApiKeyPublic.model_validate(row, from_attributes=True)
    return ApiKeyCreated(**public.model_dump(), key=key)


@router.delete("/{key_id}", response_model=ApiKeyPublic, responses=ERRORS)
def revoke_key(key_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep,
               principal: CurrentUser) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(users.revoke_api_key(session=session, principal=principal,
                                                            key_id=key_id), from_attributes=True)

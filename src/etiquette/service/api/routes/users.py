from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from etiquette.service.api.deps import CurrentUser, SessionDep
from etiquette.service.crud import users as crud_users
from etiquette.service.errors import NotFound
from etiquette.service.schemas import (
    UserCreate,
    UserPublic,
    UsersPublic,
    UserUpdate,
    error_responses,
)
from etiquette.service.services import users
from etiquette.service.services.access import Permission

router = APIRouter(prefix="/users", tags=["users"])
ERRORS = error_responses(401, 403, 404, 409, 422)
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("", response_model=UsersPublic, responses=ERRORS)
def list_users(session: SessionDep, principal: CurrentUser,
               offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> UsersPublic:
    principal.require(Permission.USERS_READ)
    rows, count = crud_users.list_users(session=session, center_ids=principal.centers,
                                        offset=offset, limit=limit)
    return UsersPublic(data=[UserPublic.model_validate(u, from_attributes=True) for u in rows],
                       count=count)


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED, responses=ERRORS)
def create_user(body: UserCreate, session: SessionDep, principal: CurrentUser) -> UserPublic:
    user = users.create_user(session=session, principal=principal, user_in=body)
    return UserPublic.model_validate(user, from_attributes=True)


@router.get("/{user_id}", response_model=UserPublic, responses=ERRORS)
def get_user(user_id: UserId, session: SessionDep, principal: CurrentUser) -> UserPublic:
    principal.require(Permission.USERS_READ)
    user = crud_users.visible_user(session=session, center_ids=principal.centers, user_id=user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return UserPublic.model_validate(user, from_attributes=True)


@router.patch("/{user_id}", response_model=UserPublic, responses=ERRORS)
def update_user(user_id: UserId, body: UserUpdate, session: SessionDep,
                principal: CurrentUser) -> UserPublic:
    """Change role, staff link, active flag or password (which logs the user out everywhere)."""
    user = users.update_user(session=session, principal=principal, user_id=user_id, user_in=body)
    return UserPublic.model_validate(user, from_attributes=True)

"""用户管理 (admins edit, auditors read): the accounts, a new one, a changed role, staff link or
centers (a supervisor or auditor limited to some), a password reset (one generated and shown
once, or one the admin types), disabling and enabling. The same services as /api/v1/users."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from etiquette.service.api.deps import SessionDep
from etiquette.service.core import security
from etiquette.service.crud import master as crud_master
from etiquette.service.crud import users as crud_users
from etiquette.service.errors import NotFound, ServiceError
from etiquette.service.models import Center, Staff, User
from etiquette.service.schemas import MAX_ID, Role, UserCreate, UserUpdate
from etiquette.service.services import users
from etiquette.service.services.access import Permission, Principal
from etiquette.service.web.admin_forms import checked, optional_int, service_error
from etiquette.service.web.pages import PageUser, check_csrf, render

router = APIRouter(include_in_schema=False)
UserId = Annotated[int, FastPath(ge=1, le=MAX_ID)]
Text = Annotated[str, Form(max_length=300)]
Token = Annotated[str, Form(max_length=100)]
Saved = Literal["account", "password", "active", "disabled"]  # what the notice says was done
# A multiple select's values; none chosen sends nothing (every center).
CenterIds = Annotated[list[str] | None, Form(max_length=500)]


def _staff(session: Session) -> list[Staff]:
    rows, _ = crud_master.list_rows(session=session, model=Staff, limit=500)
    return rows


def _center_list(session: Session) -> list[Center]:
    rows, _ = crud_master.list_rows(session=session, model=Center, limit=500)
    return rows


def _center_ids(values: list[str] | None) -> list[int | str | None]:
    return [optional_int(v) for v in values or [] if v.strip()]


def _users_page(request: Request, session: Session, principal: Principal, *,
                values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                created: User | None = None, password: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    principal.require(Permission.USERS_READ)
    rows, count = crud_users.list_users(session=session, center_ids=principal.centers,
                                        limit=500)
    staff = _staff(session)
    return render(request, "admin_users.html", {
        "principal": principal, "users": rows, "count": count, "staff": staff,
        "staff_names": {s.id: f"{s.name}（{s.employee_no}）" for s in staff},
        "centers": _center_list(session),
        "values": values or {"role": Role.SUPERVISOR.value}, "errors": errors or {},
        "created": created, "password": password,
        "can_edit": principal.can(Permission.USERS_WRITE)}, status_code=status_code)


def _user_page(request: Request, session: Session, principal: Principal, user_id: int, *,
               errors: dict[str, str] | None = None, saved: Saved | None = None,
               password: str | None = None, status_code: int = 200) -> HTMLResponse:
    principal.require(Permission.USERS_WRITE)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("没有这个用户 (no such user)")
    return render(request, "admin_user.html", {
        "principal": principal, "user": user, "staff": _staff(session),
        "centers": _center_list(session), "errors": errors or {},
        "saved": saved, "password": password}, status_code=status_code)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, principal: PageUser) -> Response:
    return _users_page(request, session, principal)


@router.post("/users", response_class=HTMLResponse)
def users_create(request: Request, session: SessionDep, principal: PageUser,
                 csrf_token: Token, username: Text, role: Text, display_name: Text = "",
                 staff_id: Text = "", password: Annotated[str, Form(max_length=256)] = "",
                 center_ids: CenterIds = None) -> Response:
    """A new account; left empty, its password is generated and shown this once."""
    principal.require(Permission.USERS_WRITE)
    check_csrf(principal, csrf_token)
    values = {"username": username, "display_name": display_name, "role": role,
              "staff_id": optional_int(staff_id), "center_ids": _center_ids(center_ids)}
    generated = None if password else security.new_password()
    body = checked(UserCreate, {**values, "password": password or generated})
    if isinstance(body, dict):
        return _users_page(request, session, principal, values=values, errors=body,
                           status_code=422)
    try:
        user = users.create_user(session=session, principal=principal, user_in=body)
    except ServiceError as e:
        return _users_page(request, session, principal, values=values,
                           errors=service_error(e), status_code=e.status_code)
    return _users_page(request, session, principal, created=user, password=generated,
                       status_code=201)


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: UserId, session: SessionDep, principal: PageUser,
              saved: Saved | None = None) -> Response:
    return _user_page(request, session, principal, user_id, saved=saved)


def _update(request: Request, session: Session, principal: Principal, user_id: int,
            values: dict[str, Any], saved: Saved, password: str | None = None) -> Response:
    body = checked(UserUpdate, values)
    if isinstance(body, dict):
        return _user_page(request, session, principal, user_id, errors=body, status_code=422)
    try:
        users.update_user(session=session, principal=principal, user_id=user_id, user_in=body)
    except ServiceError as e:
        if e.status_code == 404:
            raise
        session.rollback()  # the page shows the account as it is, not as half-changed
        return _user_page(request, session, principal, user_id, errors=service_error(e),
                          status_code=e.status_code)
    if password is not None:  # shown this once: a page, not a redirect
        return _user_page(request, session, principal, user_id, saved=saved, password=password)
    return RedirectResponse(f"/users/{user_id}?saved={saved}", status_code=303)


@router.post("/users/{user_id}")
def user_save(request: Request, user_id: UserId, session: SessionDep, principal: PageUser,
              csrf_token: Token, role: Text, display_name: Text = "",
              staff_id: Text = "", center_ids: CenterIds = None) -> Response:
    """Change the name, role, staff link or centers (a changed role logs the user out
    everywhere)."""
    principal.require(Permission.USERS_WRITE)
    check_csrf(principal, csrf_token)
    return _update(request, session, principal, user_id,
                   {"display_name": display_name, "role": role,
                    "staff_id": optional_int(staff_id), "center_ids": _center_ids(center_ids)},
                   "account")


@router.post("/users/{user_id}/password")
def user_password(request: Request, user_id: UserId, session: SessionDep, principal: PageUser,
                  csrf_token: Token,
                  password: Annotated[str, Form(max_length=256)] = "") -> Response:
    """Reset the password: the one typed, or (left empty) a generated one shown this once. The
    user is logged out everywhere."""
    principal.require(Permission.USERS_WRITE)
    check_csrf(principal, csrf_token)
    generated = None if password else security.new_password()
    return _update(request, session, principal, user_id, {"password": password or generated},
                   "password", password=generated)


@router.post("/users/{user_id}/active")
def user_active(request: Request, user_id: UserId, session: SessionDep, principal: PageUser,
                csrf_token: Token, active: Annotated[int, Form(ge=0, le=1)]) -> Response:
    """Disable (logged out everywhere, no login) or enable an account."""
    principal.require(Permission.USERS_WRITE)
    check_csrf(principal, csrf_token)
    return _update(request, session, principal, user_id, {"active": bool(active)},
                   "active" if active else "disabled")


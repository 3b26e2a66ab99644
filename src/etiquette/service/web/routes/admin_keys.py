"""接入密钥 (admins create and revoke, auditors read): the keys the live sites' pipelines send
incidents with. A new key is shown once; a revoked one is refused at once. The same services as
/api/v1/api-keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from etiquette.service.api.deps import SessionDep
from etiquette.service.crud import master as crud
from etiquette.service.crud import users as crud_users
from etiquette.service.errors import ServiceError
from etiquette.service.models import ApiKey, Center
from etiquette.service.schemas import MAX_ID, ApiKeyCreate
from etiquette.service.services import users
from etiquette.service.services.access import Permission, Principal
from etiquette.service.web.admin_forms import checked, optional_int, service_error
from etiquette.service.web.pages import PageUser, check_csrf, render

router = APIRouter(include_in_schema=False)
Token = Annotated[str, Form(max_length=100)]


def _keys_page(request: Request, session: Session, principal: Principal, *,
               values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
               created: tuple[ApiKey, str] | None = None, revoked: bool = False,
               status_code: int = 200) -> HTMLResponse:
    principal.require(Permission.API_KEYS_READ)
    keys, _ = crud_users.list_keys(session=session, center_ids=principal.centers)
    centers, _ = crud.list_rows(session=session, model=Center, limit=500)
    return render(request, "admin_keys.html", {
        "principal": principal, "keys": sorted(keys, key=lambda k: (k.revoked_at is not None,
                                                                    -k.id)),
        "centers": centers, "center_names": {c.id: c.name for c in centers},
        "values": values or {}, "errors": errors or {}, "created": created, "revoked": revoked,
        "can_edit": principal.can(Permission.API_KEYS_WRITE)}, status_code=status_code)


@router.get("/api-keys", response_class=HTMLResponse)
def keys_page(request: Request, session: SessionDep, principal: PageUser,
              revoked: bool = False) -> Response:
    return _keys_page(request, session, principal, revoked=revoked)


@router.post("/api-keys", response_class=HTMLResponse)
def keys_create(request: Request, session: SessionDep, principal: PageUser, csrf_token: Token,
                name: Annotated[str, Form(max_length=300)],
                center_id: Annotated[str, Form(max_length=20)] = "") -> Response:
    """A new key; the page shows it this once (only its hash is kept)."""
    principal.require(Permission.API_KEYS_WRITE)
    check_csrf(principal, csrf_token)
    values = {"name": name, "center_id": optional_int(center_id)}
    body = checked(ApiKeyCreate, values)
    if isinstance(body, dict):
        return _keys_page(request, session, principal, values=values, errors=body,
                          status_code=422)
    try:
        created = users.create_api_key(session=session, principal=principal, key_in=body)
    except ServiceError as e:
        return _keys_page(request, session, principal, values=values, errors=service_error(e),
                          status_code=e.status_code)
    return _keys_page(request, session, principal, created=created, status_code=201)


@router.post("/api-keys/{key_id}/revoke")
def keys_revoke(key_id: Annotated[int, FastPath(ge=1, le=MAX_ID)], session: SessionDep,
                principal: PageUser, csrf_token: Token) -> Response:
    principal.require(Permission.API_KEYS_WRITE)
    check_csrf(principal, csrf_token)
    users.revoke_api_key(session=session, principal=principal, key_id=key_id)
    return RedirectResponse("/api-keys?revoked=true", status_code=303)

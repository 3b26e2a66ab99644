"""Alerts by webhook (admins edit, auditors read): the hooks, their last delivery, a new
hook's signing secret shown once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from etiquette.service.api.deps import SessionDep
from etiquette.service.errors import ServiceError
from etiquette.service.models import Webhook, WebhookDelivery
from etiquette.service.schemas import MAX_ID, WebhookCreate, WebhookUpdate
from etiquette.service.services import webhooks
from etiquette.service.services.access import Permission, Principal
from etiquette.service.web.pages import PageUser, check_csrf, render

router = APIRouter(include_in_schema=False)


def _webhooks_page(request: Request, session: Session, principal: Principal, *,
                   created: Webhook | None = None, error: str | None = None,
                   status_code: int = 200) -> HTMLResponse:
    principal.require(Permission.WEBHOOKS_READ)
    hooks = webhooks.list_webhooks(session=session)
    latest: dict[int, WebhookDelivery] = {}
    for h in hooks:
        rows, _ = webhooks.deliveries(session=session, webhook_id=h.id, limit=1)
        if rows:
            latest[h.id] = rows[0]
    return render(request, "webhooks.html", {
        "principal": principal, "hooks": hooks, "latest": latest, "created": created,
        "error": error, "can_edit": principal.can(Permission.WEBHOOKS_ADMIN)},
        status_code=status_code)


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, session: SessionDep, principal: PageUser) -> Response:
    return _webhooks_page(request, session, principal)


@router.post("/webhooks", response_class=HTMLResponse)
def webhooks_submit(request: Request, session: SessionDep, principal: PageUser,
                    name: Annotated[str, Form(max_length=200)],
                    url: Annotated[str, Form(max_length=2000)],
                    csrf_token: Annotated[str, Form(max_length=100)],
                    kinds: Annotated[list[str] | None, Form()] = None,
                    severities: Annotated[list[str] | None, Form()] = None) -> Response:
    """Add a webhook; the page shows its signing secret this once."""
    principal.require(Permission.WEBHOOKS_ADMIN)
    check_csrf(principal, csrf_token)
    try:
        body = WebhookCreate(name=name, url=url, kinds=kinds or [], severities=severities or [])
        hook = webhooks.create(session=session, principal=principal, body=body)
    except ValidationError as e:
        return _webhooks_page(request, session, principal, status_code=422,
                              error="；".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}"
                                             for x in e.errors()))
    except ServiceError as e:
        return _webhooks_page(request, session, principal, error=e.detail,
                              status_code=e.status_code)
    return _webhooks_page(request, session, principal, created=hook, status_code=201)


@router.post("/webhooks/{webhook_id}/active")
def webhook_active(webhook_id: Annotated[int, FastPath(ge=1, le=MAX_ID)], session: SessionDep,
                   principal: PageUser, active: Annotated[int, Form(ge=0, le=1)],
                   csrf_token: Annotated[str, Form(max_length=100)]) -> Response:
    principal.require(Permission.WEBHOOKS_ADMIN)
    check_csrf(principal, csrf_token)
    webhooks.update(session=session, principal=principal, webhook_id=webhook_id,
                    body=WebhookUpdate(active=bool(active)))
    return RedirectResponse("/webhooks", status_code=303)

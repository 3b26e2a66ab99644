"""Alerts: the event stream a supervisor's workbench subscribes to, and the webhooks admins
configure for other systems (a floor manager's pager, a messaging bot)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from etiquette.core.records import Severity
from etiquette.service.api.deps import CurrentUser, SessionDep, SettingsDep
from etiquette.service.schemas import (
    MAX_ID,
    Message,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveriesPublic,
    WebhookDeliveryPublic,
    WebhookPublic,
    WebhooksPublic,
    WebhookUpdate,
    error_responses,
)
from etiquette.service.services import alerts, webhooks
from etiquette.service.services.access import Permission

router = APIRouter(tags=["alerts"])
ERRORS = error_responses(401, 403, 404)
WebhookId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/alerts/stream", response_class=StreamingResponse, responses={
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
          "description": "server-sent events: `event: incident`, `data:` the alert as JSON"},
    **ERRORS})
async def alert_stream(request: Request, session: SessionDep, settings: SettingsDep,
                       principal: CurrentUser,
                       min_severity: Annotated[Severity, Query(
                           description="notify of incidents this severe or worse")
                       ] = Severity.CRITICAL,
                       since: Annotated[AwareDatetime | None, Query(
                           description="also incidents received since then (at most 5 minutes "
                                       "back): a page that reconnects misses nothing")] = None
                       ) -> StreamingResponse:
    """Server-sent events of incidents ingested from now on at `min_severity` or worse
    (supervisors and admins; of their centers only, for a supervisor limited to some). Each
    event's data: id, kind, rule, severity, window, center, time and the workbench link; no
    staff name, no transcript."""
    principal.require(Permission.ALERTS_SUBSCRIBE)
    # The login was checked with this request's session; a stream lasts hours, so give its
    # connection back now (each poll takes one for a moment).
    session.close()
    events = alerts.stream(request.app.state.sessionmaker, alerts.at_least(min_severity),
                           settings.alert_poll_s, request.is_disconnected, since,
                           principal.centers)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/webhooks", response_model=WebhooksPublic, responses=ERRORS)
def list_webhooks(session: SessionDep, principal: CurrentUser) -> WebhooksPublic:
    principal.require(Permission.WEBHOOKS_READ)
    rows = webhooks.list_webhooks(session=session)
    return WebhooksPublic(
        data=[WebhookPublic.model_validate(r, from_attributes=True) for r in rows],
        count=len(rows))


@router.post("/webhooks", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED,
             responses={**ERRORS, 422: {"model": Message}})
def create_webhook(body: WebhookCreate, session: SessionDep,
                   principal: CurrentUser) -> WebhookCreated:
    """Add a webhook (admins). The answer carries its signing secret, shown only this once."""
    hook = webhooks.create(session=session, principal=principal, body=body)
    return WebhookCreated.model_validate(hook, from_attributes=True)


@router.patch("/webhooks/{id}", response_model=WebhookPublic,
              responses={**ERRORS, 422: {"model": Message}})
def update_webhook(id: WebhookId, body: WebhookUpdate, session: SessionDep,  # noqa: A002
                   principal: CurrentUser) -> WebhookPublic:
    """Change a webhook; `active: false` stops it (deliveries already queued are still sent)."""
    hook = webhooks.update(session=session, principal=principal, webhook_id=id, body=body)
    return WebhookPublic.model_validate(hook, from_attributes=True)


@router.get("/webhooks/{id}/deliveries", response_model=WebhookDeliveriesPublic, responses=ERRORS)
def list_deliveries(id: WebhookId, session: SessionDep, principal: CurrentUser,  # noqa: A002
                    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> WebhookDeliveriesPublic:
    """What was sent, when, and how it went (admins, auditors)."""
    principal.require(Permission.WEBHOOKS_READ)
    rows, count = webhooks.deliveries(session=session, webhook_id=id, offset=offset, limit=limit)
    return WebhookDeliveriesPublic(
        data=[WebhookDeliveryPublic.model_validate(r, from_attributes=True) for r in rows],
        count=count)

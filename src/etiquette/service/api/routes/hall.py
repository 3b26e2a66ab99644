"""大厅态势: the live sites' heartbeats in, the hall of every center out (JSON, and a stream of
it for the page)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from etiquette.service.api.deps import CurrentUser, SessionDep, SettingsDep, UserOrPipeline
from etiquette.service.schemas import HallPublic, HeartbeatIn, HeartbeatResult, error_responses
from etiquette.service.services import hall
from etiquette.service.services.access import Permission

router = APIRouter(tags=["hall"])
ERRORS = error_responses(401, 403)


@router.post("/heartbeats", response_model=HeartbeatResult,
             responses={**ERRORS, 422: {"description": "the body is not a heartbeat"}})
def heartbeat(body: HeartbeatIn, session: SessionDep, settings: SettingsDep,
              principal: UserOrPipeline) -> HeartbeatResult:
    """A live site's windows' state, every few seconds (pipeline keys). Windows of another
    center than the key's are refused, codes of no window are unknown; both are answered, the
    other windows are taken."""
    return hall.record(session=session, settings=settings, principal=principal, beat=body)


@router.get("/hall", response_model=HallPublic, responses=ERRORS)
def read_hall(session: SessionDep, settings: SettingsDep, principal: CurrentUser) -> HallPublic:
    """Every active window of every center: staff at the seat, microphone, camera, session,
    today's incidents; red with the reason in Chinese where an input is down or the heartbeat
    stopped, 未接入 where none ever came (supervisors, admins, auditors)."""
    return hall.build(session=session, settings=settings, principal=principal)


@router.get("/hall/stream", response_class=StreamingResponse, responses={
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
          "description": "server-sent events: `event: hall`, `data:` the hall as JSON, at once "
                         "and every few seconds"},
    **ERRORS})
async def hall_stream(request: Request, session: SessionDep, settings: SettingsDep,
                      principal: CurrentUser) -> StreamingResponse:
    """The hall, recomputed every `hall_refresh_s`, as server-sent events."""
    principal.require(Permission.HALL_READ)
    session.close()  # a stream lasts hours: each recomputation takes a connection for a moment
    events = hall.stream(request.app.state.sessionmaker, settings, principal,
                         request.is_disconnected)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

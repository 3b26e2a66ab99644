from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from etiquette.service.core.db import current_revision, head_revision
from etiquette.service.schemas import Health

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=Health)
def live() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get("/ready", response_model=Health, responses={503: {"model": Health}})
def ready(request: Request) -> Health | JSONResponse:
    """The database answers at the newest schema and the evidence store is writable."""
    detail: dict[str, str] = {}
    engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(engine)
        if revision != head_revision():
            detail["database"] = f"schema at {revision}, expected {head_revision()}"
    except Exception as e:  # noqa: BLE001 - any failure means not ready, and says why
        detail["database"] = f"unreachable: {type(e).__name__}"
    store = request.app.state.store
    probe = store.root / ".ready-probe"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        detail["evidence_store"] = f"not writable: {e.strerror}"
    if detail:
        return JSONResponse(Health(status="unavailable", detail=detail).model_dump(),
                            status_code=503)
    return Health(status="ok")

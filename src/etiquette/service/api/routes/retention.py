from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from etiquette.service.api.deps import CurrentUser, SessionDep, SettingsDep, StoreDep
from etiquette.service.schemas import Message
from etiquette.service.services import retention
from etiquette.service.services.access import Permission

router = APIRouter(prefix="/retention", tags=["retention"])


class PurgeResult(BaseModel):
    incidents: list[str]
    sessions: list[str] = Field(description="the service sessions whose words were erased")
    files_deleted: int
    orphans_deleted: int


@router.post("/run", response_model=PurgeResult,
             responses={401: {"model": Message}, 403: {"model": Message}})
def run_retention(session: SessionDep, settings: SettingsDep, store: StoreDep,
                  principal: CurrentUser) -> PurgeResult:
    """Run the retention purge now (it also runs on its own schedule)."""
    principal.require(Permission.RETENTION_RUN)
    report = retention.purge_expired(session=session, store=store, settings=settings,
                                     actor=principal)
    return PurgeResult(incidents=report.incidents, sessions=report.sessions,
                       files_deleted=report.files_deleted,
                       orphans_deleted=report.orphans_deleted)

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, UploadFile

from etiquette.service.api.deps import CurrentUser, SessionDep, SettingsDep, single_form_parts
from etiquette.service.schemas import ImportResult, Message
from etiquette.service.services import masterdata
from etiquette.service.services.access import Permission

router = APIRouter(prefix="/masterdata", tags=["master data"])


@router.post("/import", response_model=ImportResult,
             dependencies=[Depends(single_form_parts)],
             responses={401: {"model": Message}, 403: {"model": Message}, 409: {"model": Message},
                        413: {"model": Message}, 422: {"model": Message}})
async def import_masterdata(
    file: Annotated[UploadFile,
                    File(description="YAML with centers/staff/assignments, or one CSV")],
    session: SessionDep, settings: SettingsDep, principal: CurrentUser,
    format: Literal["yaml", "csv"] = "yaml",
    entity: Annotated[Literal["centers", "windows", "staff", "assignments"] | None,
                      Query(description="for CSV: what the rows are")] = None,
) -> ImportResult:
    """Import (upsert) master data; the same file imported twice changes nothing."""
    principal.require(Permission.MASTER_WRITE)
    raw = await file.read(settings.max_import_bytes + 1)
    data = masterdata.parse_upload(raw, limit=settings.max_import_bytes, format=format,
                                   entity=entity)
    return masterdata.import_file(session=session, principal=principal, data=data)

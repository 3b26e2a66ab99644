from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import FileResponse

from etiquette.service import media
from etiquette.service.api.deps import CurrentUser, SessionDep, SettingsDep, StoreDep
from etiquette.service.api.routes._master import ERRORS, Id, add_routes
from etiquette.service.crud import master as crud
from etiquette.service.errors import NotFound
from etiquette.service.models import Staff
from etiquette.service.schemas import StaffCreate, StaffListPublic, StaffPublic, StaffUpdate
from etiquette.service.services import masterdata
from etiquette.service.services.access import Permission

router = APIRouter(prefix="/staff", tags=["master data"])


@router.put("/{id}/photo", response_model=StaffPublic, responses={413: {}, 415: {}, **ERRORS})
async def put_photo(id: Id, photo: Annotated[UploadFile, File(description="jpeg or png")],
                    session: SessionDep, settings: SettingsDep, store: StoreDep,
                    principal: CurrentUser) -> StaffPublic:
    data = await photo.read(settings.max_evidence_bytes + 1)
    staff = masterdata.set_photo(session=session, principal=principal, store=store, staff_id=id,
                                 data=data, max_bytes=settings.max_evidence_bytes)
    return StaffPublic.model_validate(staff, from_attributes=True)


@router.get("/{id}/photo", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}, **ERRORS})
def get_photo(id: Id, session: SessionDep, store: StoreDep, principal: CurrentUser) -> FileResponse:
    """A staff photo: to master-data readers, and to that staff member."""
    if principal.staff_id != id:
        principal.require(Permission.MASTER_READ)
    staff = crud.get(session=session, model=Staff, id=id)
    if staff is None or not staff.photo_sha256 or not staff.photo_media_type:
        raise NotFound("no photo")
    media_type, _ = media.served_as(staff.photo_media_type, audio=False)
    return FileResponse(store.path(staff.photo_sha256), media_type=media_type,
                        headers={"Cache-Control": "private, no-store",
                                 "X-Content-Type-Options": "nosniff"})


add_routes(router, model=Staff, create=StaffCreate, update=StaffUpdate, public=StaffPublic,
           many=StaffListPublic, filters=("center_id",))

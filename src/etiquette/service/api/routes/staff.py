from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from etiquette.service import media
from etiquette.service.api.deps import (
    CurrentUser,
    DecodeSlotsDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    single_form_parts,
)
from etiquette.service.api.routes._master import ERRORS, Id, add_routes
from etiquette.service.crud import master as crud
from etiquette.service.errors import NotFound
from etiquette.service.models import Staff
from etiquette.service.schemas import StaffCreate, StaffListPublic, StaffPublic, StaffUpdate
from etiquette.service.services import masterdata
from etiquette.service.services.access import Permission

router = APIRouter(prefix="/staff", tags=["master data"])


@router.put("/{id}/photo", response_model=StaffPublic, dependencies=[Depends(single_form_parts)],
            responses={413: {}, 415: {}, 429: {}, **ERRORS})
async def put_photo(id: Id, photo: Annotated[UploadFile, File(description="jpeg or png")],
                    session: SessionDep, settings: SettingsDep, store: StoreDep,
                    slots: DecodeSlotsDep, principal: CurrentUser) -> StaffPublic:
    """Set a staff member's photo (a JPEG or PNG that decodes whole). While `decode_concurrency`
    uploads are being decoded, another waits up to `decode_wait_s` for a slot, then is answered
    429 (Retry-After)."""
    data = await photo.read(settings.max_evidence_bytes + 1)
    # Off the event loop: decoding an image of up to 40 megapixels takes a CPU for a while.
    staff = await run_in_threadpool(
        lambda: masterdata.set_photo(session=session, principal=principal, store=store,
                                     slots=slots, staff_id=id, data=data,
                                     max_bytes=settings.max_evidence_bytes))
    return StaffPublic.model_validate(staff, from_attributes=True)


@router.get("/{id}/photo", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}, **ERRORS})
def get_photo(id: Id, session: SessionDep, store: StoreDep, principal: CurrentUser) -> FileResponse:
    """A staff photo: to master-data readers, and to that staff member. Served as the type it
    was validated as, never sniffed; a stored type that is no image (a row from before photos
    were decoded) is an attachment of bytes, never rendered by the browser."""
    if principal.staff_id != id:
        principal.require(Permission.MASTER_READ)
    staff = crud.get(session=session, model=Staff, id=id)
    if staff is None or not staff.photo_sha256 or not staff.photo_media_type:
        raise NotFound("no photo")
    media_type, inline = media.served_as(staff.photo_media_type, audio=False)
    ext = media.EXTENSIONS.get(media_type, "bin")
    return FileResponse(store.path(staff.photo_sha256), media_type=media_type,
                        filename=f"staff-{id}-photo.{ext}",
                        content_disposition_type="inline" if inline else "attachment",
                        headers={"Cache-Control": "private, no-store",
                                 "X-Content-Type-Options": "nosniff"})


add_routes(router, model=Staff, create=StaffCreate, update=StaffUpdate, public=StaffPublic,
           many=StaffListPublic, filters=("center_id",))

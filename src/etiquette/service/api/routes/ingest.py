from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from etiquette.service.api.deps import (
    DecodeSlotsDep,
    Pipeline,
    SessionDep,
    SettingsDep,
    StoreDep,
    single_form_parts,
)
from etiquette.service.errors import Invalid, TooLarge
from etiquette.service.schemas import EvidenceRole, IncidentIn, IngestResult, Message
from etiquette.service.services import ingest

router = APIRouter(prefix="/incidents", tags=["ingest"])


def describe(e: ValidationError) -> str:
    # An error of the whole line (loc empty) names its fields in its message.
    return "; ".join(f"{' -> '.join(str(p) for p in err['loc'])}: {err['msg']}" if err["loc"]
                     else err["msg"] for err in e.errors()[:10])


async def _read(upload: UploadFile | None, role: EvidenceRole, limit: int) -> ingest.Upload | None:
    if upload is None:
        return None
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"evidence '{role.value}' exceeds the limit of {limit} bytes")
    return ingest.Upload(role=role, data=data, filename=upload.filename)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=IngestResult,
             dependencies=[Depends(single_form_parts)],
             responses={200: {"model": IngestResult, "description": "already stored (a retry)"},
                        401: {"model": Message}, 403: {"model": Message}, 409: {"model": Message},
                        413: {"model": Message}, 415: {"model": Message}, 422: {"model": Message},
                        429: {"model": Message}})
async def ingest_incident(
    request: Request, response: Response, session: SessionDep, settings: SettingsDep,
    store: StoreDep, slots: DecodeSlotsDep, principal: Pipeline,
    incident: Annotated[str, Form(description="the incident line as JSON "
                                              "(etiquette batch output, without `evidence`)")],
    clip: Annotated[UploadFile | None,
                    File(description="audio around the utterance (wav…)")] = None,
    snapshot: Annotated[UploadFile | None, File(description="camera frame (jpeg/png)")] = None,
    empty_seat: Annotated[UploadFile | None, File(description="off_post: the empty seat")] = None,
    last_seen: Annotated[UploadFile | None,
                         File(description="off_post: last seen at the seat")] = None,
    first_frame: Annotated[UploadFile | None,
                           File(description="asleep_at_post, gathering: first frame")] = None,
    last_frame: Annotated[UploadFile | None,
                          File(description="asleep_at_post, gathering: last frame")] = None,
) -> IngestResult:
    """A pipeline posts one incident with its evidence files (multipart/form-data).

    The same incident id posted again with the same content answers 200 and stores nothing
    new; with other content, 409. While `decode_concurrency` uploads are being decoded,
    another waits up to `decode_wait_s` for a slot, then is answered 429 (Retry-After).
    """
    try:
        parsed = IncidentIn.model_validate_json(incident)
    except ValidationError as e:
        raise Invalid(f"incident: {describe(e)}") from e
    uploads = [u for u in [await _read(f, role, settings.max_evidence_bytes) for f, role in (
        (clip, EvidenceRole.CLIP), (snapshot, EvidenceRole.SNAPSHOT),
        (empty_seat, EvidenceRole.EMPTY_SEAT), (last_seen, EvidenceRole.LAST_SEEN),
        (first_frame, EvidenceRole.FIRST_FRAME), (last_frame, EvidenceRole.LAST_FRAME))] if u]
    row, created = await run_in_threadpool(
        lambda: ingest.ingest(session=session, settings=settings, store=store, slots=slots,
                              principal=principal, incident=parsed, uploads=uploads))
    if not created:
        response.status_code = status.HTTP_200_OK
    elif (job := getattr(request.app.state, "webhook_job", None)) is not None:
        job.wake()  # a matching incident's webhook goes out now, not at the next poll
    return IngestResult(id=row.id, created=created, status=row.status,
                        evidence=[EvidenceRole(e.role) for e in row.evidence])

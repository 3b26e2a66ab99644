"""Staff self-training: the phrases to practise, one recorded attempt judged, the history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile, status
from starlette.concurrency import run_in_threadpool

from etiquette.service.api.deps import (
    CurrentUser,
    PracticeDep,
    PracticeSlotsDep,
    SessionDep,
    SettingsDep,
    single_form_parts,
)
from etiquette.service.errors import TooLarge
from etiquette.service.schemas import (
    PracticeAttemptPublic,
    PracticeHistory,
    PracticePhrase,
    PracticePhrases,
    PracticeResult,
    error_responses,
)
from etiquette.service.services import practice

router = APIRouter(prefix="/practice", tags=["practice"])
ERRORS = error_responses(401, 403, 404)


@router.get("/phrases", response_model=PracticePhrases, responses=ERRORS)
def list_phrases(session: SessionDep, principal: CurrentUser) -> PracticePhrases:
    """The required phrases of the rules in force (staff)."""
    return PracticePhrases(data=[
        PracticePhrase(rule_id=r.id, name=r.name, clause=r.clause, phrase=r.phrases[0],
                       variants=list(r.variants))
        for r in practice.phrases(session, principal)])


@router.post("/attempts", response_model=PracticeResult, status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(single_form_parts)],
             responses=error_responses(401, 403, 404, 413, 415, 422, 429, 503))
async def create_attempt(session: SessionDep, settings: SettingsDep, checker: PracticeDep,
                         slots: PracticeSlotsDep, principal: CurrentUser,
                         rule_id: Annotated[str, Form(pattern=r"^[A-Za-z0-9_.-]{1,64}$")],
                         audio: Annotated[UploadFile, File(description="the recording (webm/ogg "
                                                                       "opus, wav, mp3…)")]
                         ) -> PracticeResult:
    """Transcribe a recording of the phrase `rule_id` as the pipelines do and say whether the
    phrase was recognised and which words were missed (staff). The first attempt after a
    start loads the model (seconds); a service started without the speech side answers 503.
    While `practice_concurrency` recordings are being recognised, one more is answered 429
    (Retry-After), before its body is read where that is already so."""
    limit = settings.practice_max_recording_bytes
    data = await audio.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"录音文件太大 (the recording exceeds {limit} bytes)")
    row, verdict = await run_in_threadpool(
        lambda: practice.attempt(session=session, settings=settings, checker=checker,
                                 slots=slots, principal=principal, rule_id=rule_id, data=data))
    return PracticeResult(id=row.id, rule_id=row.rule_id, phrase=row.phrase,
                          transcript=row.transcript, recognised=row.recognised, score=row.score,
                          matched=verdict.matched, missed=row.missed, duration_s=row.duration_s,
                          created_at=row.created_at)


@router.get("/attempts", response_model=PracticeHistory, responses=ERRORS)
def list_attempts(session: SessionDep, principal: CurrentUser,
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50) -> PracticeHistory:
    """The caller's own attempts, newest first (staff)."""
    rows, count = practice.history(session=session, principal=principal, offset=offset, limit=limit)
    return PracticeHistory(data=[PracticeAttemptPublic.model_validate(r, from_attributes=True)
                                 for r in rows], count=count)

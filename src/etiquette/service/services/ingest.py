"""Ingest: a pipeline's incident and its evidence files, validated, stored once.

Order of work: the evidence files are checked and written (synced) to the store first, then
the incident, its evidence rows and the audit entry are committed in one transaction, and
only then is the request answered, so an acknowledged incident is durable. The incident id
is the idempotency key: the same id with the same content is a retry and stores nothing new;
the same id with other content is refused (409), never silently overwritten.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from etiquette.core.clips import ClipOptions, clip_length_range
from etiquette.core.records import IncidentKind
from etiquette.service import media
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit, master
from etiquette.service.crud import incidents as crud
from etiquette.service.crud import sessions as session_crud
from etiquette.service.errors import Invalid, TooLarge
from etiquette.service.evidence_store import EvidenceStore
from etiquette.service.models import Evidence, Incident
from etiquette.service.schemas import EvidenceRole, IncidentIn
from etiquette.service.services import webhooks
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.forms import refuse_repeated_parts
from etiquette.service.services.highlight import hit_span
from etiquette.service.services.slots import Slots
from etiquette.service.services.stored_once import digest, store_once

logger = logging.getLogger("etiquette.service.ingest")

AUDIO_ROLES = frozenset({EvidenceRole.CLIP})
IMAGE_ROLES = frozenset({EvidenceRole.SNAPSHOT, EvidenceRole.EMPTY_SEAT, EvidenceRole.LAST_SEEN,
                         EvidenceRole.FIRST_FRAME, EvidenceRole.LAST_FRAME})
MAX_CLIP_S = 60.0  # a clip is a few seconds around the utterance, never the whole recording
# The slack allowed around the clip lengths the pipeline cuts (core.clips, default options) for
# rounding and codec padding (an mp3 or ogg clip decodes a few frames longer than its PCM).
CLIP_SLACK_S = 1.0


@dataclass(frozen=True)
class Upload:
    role: EvidenceRole
    data: bytes
    filename: str | None = None


def clip_bounds(incident: IncidentIn) -> tuple[float, float]:
    """The shortest and longest clip, in seconds, that `incident` can have as the pipeline cuts
    them (`etiquette.core.clips`), with CLIP_SLACK_S either way; an off-post incident's clip
    (none is cut today) at most MAX_CLIP_S."""
    if incident.kind == IncidentKind.OFF_POST:
        return 0.0, MAX_CLIP_S
    shortest, longest = clip_length_range(incident.kind, incident.end_s - incident.offset_s,
                                          ClipOptions())
    return max(0.0, shortest - CLIP_SLACK_S), longest + CLIP_SLACK_S


def check_evidence(upload: Upload, settings: Settings, incident: IncidentIn) -> str:
    """The media type of a valid evidence file: it decodes whole (audio through PyAV, images
    through OpenCV), and a clip's length fits the incident. Raises TooLarge, UnsupportedMedia or
    Invalid, naming the part."""
    role = upload.role.value
    if len(upload.data) > settings.max_evidence_bytes:
        raise TooLarge(f"evidence '{role}' is {len(upload.data)} bytes; the limit is "
                       f"{settings.max_evidence_bytes}")
    if not upload.data:
        raise Invalid(f"「{role}」为空 (evidence '{role}' is empty)")
    if upload.role not in AUDIO_ROLES:
        return media.check_image(upload.data, role)
    audio = media.check_audio(upload.data, role, MAX_CLIP_S)
    shortest, longest = clip_bounds(incident)
    if not shortest <= audio.duration_s <= longest:
        raise Invalid(f"「{role}」时长 {audio.duration_s:.1f} 秒与事件不符：事件在录音 "
                      f"{incident.offset_s:.1f}–{incident.end_s:.1f} 秒，剪辑应为 "
                      f"{shortest:.1f}–{longest:.1f} 秒 (evidence '{role}' is "
                      f"{audio.duration_s:.1f} s long; the clip of this incident is "
                      f"{shortest:.1f}–{longest:.1f} s)")
    return audio.media_type


def content_hash(incident: IncidentIn, evidence: list[tuple[str, str]]) -> str:
    return digest({**incident.model_dump(mode="json"), "evidence": sorted(evidence)})


def ingest(*, session: Session, settings: Settings, store: EvidenceStore, slots: Slots,
           principal: Principal, incident: IncidentIn, uploads: list[Upload]
           ) -> tuple[Incident, bool]:
    """Store one incident with its evidence. Returns (the stored incident, whether it is new).

    Raises:
      Forbidden: the principal is no pipeline.
      Conflict: this id is stored already with other content.
      TooLarge, UnsupportedMedia, Invalid: an evidence file is refused.
      TooManyRequests: every decoding slot is taken (the pipeline retries).
    """
    principal.require(Permission.INGEST)
    roles = [u.role for u in uploads]
    refuse_repeated_parts(r.value for r in roles)
    if len(uploads) > settings.max_evidence_files:
        raise Invalid(f"at most {settings.max_evidence_files} evidence files")
    checked = []
    if uploads:
        with slots.hold():  # the files of one incident are decoded one after another
            checked = [(u, check_evidence(u, settings, incident)) for u in uploads]
    shas = [(u.role.value, store.put(u.data)) for u, _ in checked]
    content = content_hash(incident, shas)
    incident_id = str(incident.id)

    def create() -> Incident:
        now = utcnow()
        key = principal.api_key
        center_id = key.center_id if key else None
        window = master.window_by_code(session=session, code=incident.window_id,
                                       center_id=center_id)
        staff_id = None
        if window is not None:
            center_id = window.center_id
            staff_id = master.staff_on_duty(session=session, window_pk=window.id,
                                            at=incident.at or now)
        span: tuple[int, int] | None = None
        if incident.hit_start is not None and incident.hit_end is not None:
            span = (incident.hit_start, incident.hit_end)
        elif incident.kind == IncidentKind.FORBIDDEN_PHRASE:
            # A line from a pipeline older than the span (a JSONL file, an outbox queued before
            # an upgrade): located from its explanation, as before the span existed.
            span = hit_span(incident.transcript, incident.explanation, incident.phrase)
        row = Incident(
            id=incident_id, source=incident.source, window_id=incident.window_id,
            window_pk=window.id if window else None, center_id=center_id, staff_id=staff_id,
            kind=incident.kind.value, rule_id=incident.rule_id, rule_name=incident.rule_name,
            phrase=incident.phrase, speaker=incident.speaker.value, offset_s=incident.offset_s,
            end_s=incident.end_s, at=incident.at, transcript=incident.transcript,
            hit_start=span[0] if span else None, hit_end=span[1] if span else None,
            score=incident.score, severity=incident.severity.value, deduction=incident.deduction,
            explanation=incident.explanation, content_sha256=content, received_at=now,
            api_key_id=key.id if key else None, status="pending",
            # Its service session, where that session's record came first (else the record
            # links it when it comes: services/sessions.py).
            session_id=session_crud.covering(
                session=session, window_pk=window.id if window else None,
                window_id=incident.window_id, center_id=center_id, at=incident.at)
            if incident.at is not None else None)
        evidence = [Evidence(role=u.role.value, media_type=media_type, sha256=sha,
                             size=len(u.data), created_at=now)
                    for (u, media_type), (_, sha) in zip(checked, shas, strict=True)]
        crud.add_incident(session=session, incident=row, evidence=evidence)
        audit.record(session=session, actor=principal, action="incident.ingest",
                     target_type="incident", target_id=incident_id,
                     after={"kind": row.kind, "rule_id": row.rule_id,
                            "window_id": row.window_id, "staff_id": staff_id,
                            "evidence": sorted(r for r, _ in shas)})
        webhooks.enqueue(session=session, incident=row)  # sent later by the webhook job
        return row

    row, created = store_once(
        session=session, content=content,
        stored=lambda: crud.get_incident(session=session, incident_id=incident_id),
        create=create, what=("事件", "incident"))
    if not created:
        return row, False
    stored = crud.get_incident(session=session, incident_id=incident_id)
    assert stored is not None
    return stored, True



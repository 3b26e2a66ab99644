"""Ingest: a pipeline's incident and its evidence files, validated, stored once.

Order of work: the evidence files are checked and written (synced) to the store first, then
the incident, its evidence rows and the audit entry are committed in one transaction, and
only then is the request answered, so an acknowledged incident is durable. The incident id
is the idempotency key: the same id with the same content is a retry and stores nothing new;
the same id with other content is refused (409), never silently overwritten.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import struct
import wave
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from etiquette.core.records import IncidentKind
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit, master
from etiquette.service.crud import incidents as crud
from etiquette.service.errors import Conflict, Invalid, TooLarge, UnsupportedMedia
from etiquette.service.evidence_store import EvidenceStore
from etiquette.service.models import Evidence, Incident
from etiquette.service.schemas import EvidenceRole, IncidentIn
from etiquette.service.services import webhooks
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.highlight import hit_span

logger = logging.getLogger("etiquette.service.ingest")

AUDIO_ROLES = frozenset({EvidenceRole.CLIP})
IMAGE_ROLES = frozenset({EvidenceRole.SNAPSHOT, EvidenceRole.EMPTY_SEAT, EvidenceRole.LAST_SEEN})
MAX_CLIP_S = 60.0  # a clip is a few seconds around the utterance, never the whole recording


@dataclass(frozen=True)
class Upload:
    role: EvidenceRole
    data: bytes
    filename: str | None = None


def sniff(data: bytes) -> str | None:
    """The media type the bytes really are (never what the client claims)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:4] == b"fLaC":
        return "audio/flac"
    if data[:4] == b"OggS":
        return "audio/ogg"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return None


def check_evidence(upload: Upload, settings: Settings) -> str:
    """The media type of a valid evidence file. Raises TooLarge, UnsupportedMedia or Invalid."""
    role = upload.role.value
    if len(upload.data) > settings.max_evidence_bytes:
        raise TooLarge(f"evidence '{role}' is {len(upload.data)} bytes; the limit is "
                       f"{settings.max_evidence_bytes}")
    if not upload.data:
        raise Invalid(f"evidence '{role}' is empty")
    media_type = sniff(upload.data)
    wanted = "audio" if upload.role in AUDIO_ROLES else "image"
    if media_type is None or not media_type.startswith(wanted + "/"):
        raise UnsupportedMedia(f"evidence '{role}' must be {wanted} "
                               f"({'wav, flac, ogg, mp3' if wanted == 'audio' else 'jpeg, png'}); "
                               f"got {media_type or 'unrecognised bytes'}")
    if media_type == "audio/wav":
        try:
            with wave.open(io.BytesIO(upload.data)) as w:
                frames, rate = w.getnframes(), w.getframerate()
        except (wave.Error, EOFError, RuntimeError, ValueError, struct.error) as e:
            raise Invalid(f"evidence '{role}' is not a readable WAV file: {e}") from e
        if frames == 0 or rate == 0:
            raise Invalid(f"evidence '{role}' holds no audio")
        if frames / rate > MAX_CLIP_S:
            raise Invalid(f"evidence '{role}' is {frames / rate:.0f} s long; a clip is at most "
                          f"{MAX_CLIP_S:.0f} s around the utterance")
    return media_type


def content_hash(incident: IncidentIn, evidence: list[tuple[str, str]]) -> str:
    body = incident.model_dump(mode="json")
    body["evidence"] = sorted(evidence)
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def ingest(*, session: Session, settings: Settings, store: EvidenceStore, principal: Principal,
           incident: IncidentIn, uploads: list[Upload]) -> tuple[Incident, bool]:
    """Store one incident with its evidence. Returns (the stored incident, whether it is new).

    Raises:
      Forbidden: the principal is no pipeline.
      Conflict: this id is stored already with other content.
      TooLarge, UnsupportedMedia, Invalid: an evidence file is refused.
    """
    principal.require(Permission.INGEST)
    roles = [u.role for u in uploads]
    if len(set(roles)) != len(roles):
        raise Invalid("each evidence role may be sent once")
    if len(uploads) > settings.max_evidence_files:
        raise Invalid(f"at most {settings.max_evidence_files} evidence files")
    checked = [(u, check_evidence(u, settings)) for u in uploads]
    shas = [(u.role.value, store.put(u.data)) for u, _ in checked]
    digest = content_hash(incident, shas)
    incident_id = str(incident.id)

    existing = crud.get_incident(session=session, incident_id=incident_id)
    if existing is not None:
        return _same_or_conflict(existing, digest), False

    now = utcnow()
    key = principal.api_key
    center_id = key.center_id if key else None
    window = master.window_by_code(session=session, code=incident.window_id, center_id=center_id)
    staff_id = None
    if window is not None:
        center_id = window.center_id
        staff_id = master.staff_on_duty(session=session, window_pk=window.id, at=incident.at or now)
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
        explanation=incident.explanation, content_sha256=digest, received_at=now,
        api_key_id=key.id if key else None, status="pending")
    evidence = [Evidence(role=u.role.value, media_type=media_type, sha256=sha, size=len(u.data),
                         created_at=now)
                for (u, media_type), (_, sha) in zip(checked, shas, strict=True)]
    crud.add_incident(session=session, incident=row, evidence=evidence)
    audit.record(session=session, actor=principal, action="incident.ingest", target_type="incident",
                 target_id=incident_id, after={"kind": row.kind, "rule_id": row.rule_id,
                                               "window_id": row.window_id, "staff_id": staff_id,
                                               "evidence": sorted(r for r, _ in shas)})
    try:
        webhooks.enqueue(session=session, incident=row)  # sent later by the webhook job
        session.commit()
    except IntegrityError:
        # The same id committed by a concurrent request (a retry racing its original).
        session.rollback()
        existing = crud.get_incident(session=session, incident_id=incident_id)
        if existing is None:
            raise
        return _same_or_conflict(existing, digest), False
    stored = crud.get_incident(session=session, incident_id=incident_id)
    assert stored is not None
    return stored, True


def _same_or_conflict(existing: Incident, digest: str) -> Incident:
    if existing.content_sha256 != digest:
        raise Conflict(f"incident {existing.id} is already stored with different content; "
                       "an incident id names one incident (resend the same content, or a new id)")
    return existing

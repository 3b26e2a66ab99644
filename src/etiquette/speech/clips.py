"""Audio evidence: the clip of a speech incident, a few seconds around what was said.

A reviewer hears the utterance with a little context, never the whole recording: a phrase
incident gets its span padded by `pad_s` each side; a missing greeting gets the first
`missing_s` seconds of the session, a missing farewell the last. Only the microphone of the
speaker is cut (the staff channel for staff), so the citizen is heard no more than needed.
Clips are 16-bit PCM WAV, named after the incident id so a re-run rewrites the same file.
"""

from __future__ import annotations

import logging
import wave
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from etiquette.core.records import SAMPLE_RATE, Incident, IncidentKind, Speaker
from etiquette.files import atomic_writer
from etiquette.speech.audio import DecodedAudio

logger = logging.getLogger("etiquette.speech.clips")


@dataclass(frozen=True)
class ClipOptions:
    """Attributes:
    pad_s: audio kept before and after a phrase.
    missing_s: length of the clip of a missing greeting (session start) or farewell (end).
    max_s: no clip is longer than this.
    """

    pad_s: float = 1.5
    missing_s: float = 10.0
    max_s: float = 20.0


def clip_span(incident: Incident, duration_s: float, options: ClipOptions,
              offset_s: float = 0.0) -> tuple[float, float]:
    """[start, end) seconds of the recording that the clip of `incident` holds, within the
    audio at hand (`duration_s` of it, beginning `offset_s` into the recording)."""
    if incident.kind == IncidentKind.MISSING_GREETING:
        start, end = incident.offset_s, incident.offset_s + options.missing_s
    elif incident.kind == IncidentKind.MISSING_FAREWELL:
        start, end = incident.end_s - options.missing_s, incident.end_s
    else:
        start, end = incident.offset_s - options.pad_s, incident.end_s + options.pad_s
    start = max(offset_s, start)
    end = min(offset_s + duration_s, end, start + options.max_s)
    return start, max(start, end)


def channel_of(audio: DecodedAudio, speaker: Speaker, staff_channel: int,
               citizen_channel: int) -> np.ndarray:
    if len(audio.channels) == 1:
        return audio.channels[0]
    index = citizen_channel if speaker == Speaker.CITIZEN else staff_channel
    return audio.channels[min(index, len(audio.channels) - 1)]


def write_wav(samples: np.ndarray, path: Path) -> None:
    """float32 [-1, 1] at SAMPLE_RATE, mono or (frames, channels) → 16-bit PCM WAV, written
    whole or not at all."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with atomic_writer(path) as f, wave.open(f, "wb") as w:
        w.setnchannels(pcm.shape[1] if pcm.ndim == 2 else 1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())


def attach_clips(incidents: Iterable[Incident], audio: DecodedAudio, evidence_dir: Path,
                 staff_channel: int = 0, citizen_channel: int = 1,
                 options: ClipOptions | None = None, offset_s: float = 0.0) -> list[Incident]:
    """The incidents, each with `evidence["clip"]` written under `evidence_dir`; `audio` may
    be the recent part of a live stream, beginning `offset_s` into it."""
    options = options or ClipOptions()
    evidence_dir.mkdir(parents=True, exist_ok=True)
    out: list[Incident] = []
    for incident in incidents:
        if incident.kind == IncidentKind.OFF_POST:
            out.append(incident)
            continue
        start, end = clip_span(incident, audio.duration_s, options, offset_s)
        samples = channel_of(audio, incident.speaker, staff_channel, citizen_channel)
        piece = samples[int((start - offset_s) * SAMPLE_RATE):int((end - offset_s) * SAMPLE_RATE)]
        if len(piece) == 0:
            out.append(incident)
            continue
        path = evidence_dir / f"{incident.id}_clip.wav"
        write_wav(piece, path)
        logger.debug("clip %s: %.1f–%.1f s of %s", path, start, end, incident.source)
        out.append(replace(incident, evidence={**incident.evidence, "clip": str(path)}))
    return out

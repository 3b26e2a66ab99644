"""Audio evidence: the clip of a speech incident, a few seconds around what was said (which
seconds: `etiquette.core.clips`). Only the microphone of the
speaker is cut (the staff channel for staff), so the citizen is heard no more than needed;
a turn-taking incident (抢话, 问有答声) is about both sides, so its clip keeps both microphones.
Clips are 16-bit PCM WAV, named after the incident id so a re-run rewrites the same file.
"""

from __future__ import annotations

import logging
import wave
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from etiquette.core.clips import ClipOptions, clip_span
from etiquette.core.records import SAMPLE_RATE, Incident, IncidentKind, Speaker
from etiquette.files import atomic_writer
from etiquette.speech.audio import DecodedAudio

logger = logging.getLogger("etiquette.speech.clips")

# What a reviewer must hear both sides of: who spoke over whom, a question and the silence after.
BOTH_SIDES = frozenset({IncidentKind.INTERRUPTION, IncidentKind.UNANSWERED_QUESTION})


def channel_of(audio: DecodedAudio, speaker: Speaker, staff_channel: int,
               citizen_channel: int) -> np.ndarray:
    """The speaker's microphone (samples), or the one microphone there is."""
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
        span = clip_span(incident, audio.duration_s, options, offset_s)
        if span is None:
            logger.warning("%s: no clip for %s at %.1f–%.1f s: the audio at hand (%.1f–%.1f s) "
                           "no longer holds all that was said; sent without one", incident.source,
                           incident.kind.value, incident.offset_s, incident.end_s, offset_s,
                           offset_s + audio.duration_s)
            out.append(incident)
            continue
        start, end = span
        if incident.kind in BOTH_SIDES and len(audio.channels) == 2:
            samples = np.stack(audio.channels, axis=1)  # (frames, 2), as recorded
        else:
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

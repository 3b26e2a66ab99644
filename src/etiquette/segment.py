"""Voice activity: cut each microphone's speech into utterances and say whose they are.

A window has a staff microphone and a citizen microphone; each also picks up the other side
(crosstalk). Speech belongs to a channel only where that microphone hears it clearly louder
than the other one does, so the citizen's words leaking into the staff microphone never count
as the staff's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from etiquette.audio import DecodedAudio
from etiquette.records import SAMPLE_RATE, Speaker, Utterance

logger = logging.getLogger("etiquette.segment")

_FRAME = SAMPLE_RATE // 50  # 20 ms


@dataclass(frozen=True)
class SegmenterOptions:
    """Attributes:
    staff_channel / citizen_channel: which input channel is which microphone.
    vad_threshold: Silero speech probability above which a frame is speech.
    min_silence_ms: a pause this long ends an utterance.
    speech_pad_ms: audio kept either side of detected speech.
    max_utterance_s: longer speech is split (an utterance must fit one 30 s Whisper input).
    min_speech_ms: shorter bursts are dropped as clicks and coughs.
    crosstalk_margin_db: own microphone must be this much louder than the other one.
    """

    staff_channel: int = 0
    citizen_channel: int = 1
    vad_threshold: float = 0.5
    min_silence_ms: int = 500
    speech_pad_ms: int = 200
    max_utterance_s: float = 20.0
    min_speech_ms: int = 250
    crosstalk_margin_db: float = 6.0


def _speech_spans(audio: np.ndarray, options: SegmenterOptions) -> list[tuple[int, int]]:
    vad = VadOptions(
        threshold=options.vad_threshold,
        min_silence_duration_ms=options.min_silence_ms,
        speech_pad_ms=options.speech_pad_ms,
        max_speech_duration_s=options.max_utterance_s,
        min_speech_duration_ms=options.min_speech_ms,
    )
    return [(s["start"], s["end"]) for s in get_speech_timestamps(audio, vad)]


def _frame_db(audio: np.ndarray) -> np.ndarray:
    n = len(audio) // _FRAME
    frames = audio[: n * _FRAME].reshape(n, _FRAME).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)


def _dominant_runs(own_db: np.ndarray, other_db: np.ndarray, span: tuple[int, int],
                   options: SegmenterOptions) -> list[tuple[int, int]]:
    """Sample ranges inside `span` where this microphone is the one being spoken into."""
    f0, f1 = span[0] // _FRAME, min(-(-span[1] // _FRAME), len(own_db))
    mask = own_db[f0:f1] >= other_db[f0:f1] + options.crosstalk_margin_db
    # Close short gaps (unvoiced consonants are quiet on both microphones).
    gap = max(1, options.min_silence_ms * 50 // 1000)
    runs: list[list[int]] = []
    for i in np.flatnonzero(mask):
        if runs and i - runs[-1][1] <= gap:
            runs[-1][1] = i + 1
        else:
            runs.append([int(i), int(i) + 1])
    pad = options.speech_pad_ms * SAMPLE_RATE // 1000
    min_len = options.min_speech_ms * SAMPLE_RATE // 1000
    kept = []
    for a, b in runs:
        start = max(span[0], (f0 + a) * _FRAME - pad)
        end = min(span[1], (f0 + b) * _FRAME + pad)
        if (b - a) * _FRAME >= min_len:
            kept.append((start, end))
    return kept


def _is_dual_mono(left: np.ndarray, right: np.ndarray) -> bool:
    """A mono recording saved as two identical channels carries no speaker information."""
    scale = float(np.mean(np.abs(left)) + np.mean(np.abs(right))) + 1e-9
    return float(np.mean(np.abs(left - right))) < 0.01 * scale


def segment(audio: DecodedAudio, source: str, window_id: str,
            options: SegmenterOptions | None = None) -> list[Utterance]:
    """Utterances of every channel, in time order, each attributed to staff, citizen or unknown."""
    options = options or SegmenterOptions()
    channels = audio.channels
    if len(channels) == 2 and _is_dual_mono(*channels):
        logger.info("%s: both channels carry the same signal; treating it as mono", source)
        channels = channels[:1]
    if len(channels) == 1:
        mono = channels[0]
        return [Utterance(source, window_id, Speaker.UNKNOWN, 0, s / SAMPLE_RATE, e / SAMPLE_RATE,
                          mono[s:e]) for s, e in _speech_spans(mono, options)]

    roles = {options.staff_channel: Speaker.STAFF, options.citizen_channel: Speaker.CITIZEN}
    if set(roles) != {0, 1}:
        raise ValueError(f"staff_channel and citizen_channel must be 0 and 1 in some order, "
                         f"got {options.staff_channel} and {options.citizen_channel}")
    levels = [_frame_db(c) for c in channels]
    utterances = []
    for ch, speaker in roles.items():
        audio_ch, other = channels[ch], 1 - ch
        for span in _speech_spans(audio_ch, options):
            for s, e in _dominant_runs(levels[ch], levels[other], span, options):
                utterances.append(Utterance(source, window_id, speaker, ch, s / SAMPLE_RATE,
                                            e / SAMPLE_RATE, audio_ch[s:e]))
    return sorted(utterances, key=lambda u: (u.start_s, u.channel))

"""How loud an utterance is: ITU-R BS.1770 integrated loudness (LUFS), by pyloudnorm.

BS.1770 weights the signal as the ear does (K-weighting) and gates it in 400 ms blocks, leaving
out silence (below -70 LUFS) and quiet stretches (10 LU below the ungated level), so the
figure follows the voice, not the pauses between its words. The core's `raised_voice` check
compares these figures; it never sees the audio.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pyloudnorm

from etiquette.core.records import SAMPLE_RATE

BLOCK_S = 0.4  # BS.1770's gating block: shorter audio has no loudness


@functools.lru_cache(maxsize=4)
def _meter(sample_rate: int) -> pyloudnorm.Meter:
    return pyloudnorm.Meter(sample_rate, block_size=BLOCK_S)


def loudness_lufs(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float | None:
    """Integrated loudness of mono `audio` (float samples in -1..1) in LUFS; None where there is
    nothing to measure: shorter than one gating block, or silence throughout."""
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio, got shape {audio.shape}")
    if len(audio) < BLOCK_S * sample_rate:
        return None
    lufs = float(_meter(sample_rate).integrated_loudness(audio.astype(np.float64)))
    return lufs if math.isfinite(lufs) else None

"""An utterance's loudness (ITU-R BS.1770 by pyloudnorm), as raised_voice compares it."""

from __future__ import annotations

import numpy as np
import pytest

from etiquette.core.records import SAMPLE_RATE, Speaker
from etiquette.speech.audio import read_audio
from etiquette.speech.loudness import loudness_lufs
from etiquette.speech.segmenter import segment

from factories import SAMPLES


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """The staff's first utterance of a real recording."""
    audio = read_audio(SAMPLES / "window01_polite.wav")
    staff = [u for u in segment(audio, "w", "w") if u.speaker == Speaker.STAFF]
    return staff[0].audio


def test_the_same_speech_said_louder_measures_as_much_louder(speech: np.ndarray) -> None:
    quiet = loudness_lufs(speech)
    loud = loudness_lufs(speech * np.float32(10 ** (10 / 20)))
    assert quiet is not None and loud is not None
    assert -50 < quiet < 0
    assert loud - quiet == pytest.approx(10.0, abs=0.1)


def test_speech_too_short_or_silent_has_no_loudness(speech: np.ndarray) -> None:
    # BS.1770 gates in 400 ms blocks: a 0.3 s utterance has no integrated loudness.
    assert loudness_lufs(speech[: int(0.3 * SAMPLE_RATE)]) is None
    assert loudness_lufs(np.zeros(SAMPLE_RATE, np.float32)) is None
    assert loudness_lufs(speech[: int(0.5 * SAMPLE_RATE)]) is not None

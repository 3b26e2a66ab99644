"""Clip files: 16-bit PCM WAV, written whole or not at all."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import pytest

from etiquette.core.records import SAMPLE_RATE
from etiquette.speech.clips import write_wav


def test_a_clip_reads_back_as_the_samples_written(tmp_path: Path) -> None:
    samples = np.linspace(-1.0, 1.0, SAMPLE_RATE, dtype=np.float32)
    path = tmp_path / "incident_clip.wav"
    write_wav(samples, path)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    np.testing.assert_array_equal(pcm, (samples * 32767.0).astype("<i2"))
    assert os.listdir(tmp_path) == ["incident_clip.wav"]


def test_a_clip_cut_short_leaves_the_earlier_one(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "incident_clip.wav"
    write_wav(np.zeros(160, dtype=np.float32), path)
    before = path.read_bytes()

    def disk_full(self: wave.Wave_write, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wave.Wave_write, "writeframes", disk_full)
    with pytest.raises(OSError, match="No space"):  # a rerun of the same incident, disk full
        write_wav(np.ones(160, dtype=np.float32), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["incident_clip.wav"]

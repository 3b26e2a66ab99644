"""Clip files: 16-bit PCM WAV, written whole or not at all."""

from __future__ import annotations

import os
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from etiquette.core.records import SAMPLE_RATE, Incident, IncidentKind, Severity, Speaker
from etiquette.speech.audio import DecodedAudio
from etiquette.speech.clips import attach_clips, write_wav


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


def test_a_live_history_that_lost_the_words_sends_the_incident_without_a_clip(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A live window's last 75 s, from 101 s into the stream; the recogniser, 73 s behind,
    # reports words said at 100–103 s: their first second is gone. A clip of what is left
    # would be refused by the service, and the incident with it.
    history = DecodedAudio((np.full(75 * SAMPLE_RATE, 0.1, dtype=np.float32),), 1)
    late = Incident("late", "live/w1/x", "w1", IncidentKind.FORBIDDEN_PHRASE, "F1-1", "name",
                    "不知道", Speaker.STAFF, 100.0, 103.0, None, "", 1.0, Severity.MAJOR, 1.0, "")
    in_time = replace(late, id="in-time", offset_s=150.0, end_s=153.0)
    with caplog.at_level("WARNING", logger="etiquette.speech.clips"):
        out = attach_clips([late, in_time], history, tmp_path, offset_s=101.0)
    assert [i.id for i in out] == ["late", "in-time"]
    assert out[0].evidence == {} and "no clip for forbidden_phrase at 100.0–103.0 s" in caplog.text
    with wave.open(out[1].evidence["clip"], "rb") as w:
        assert w.getnframes() == 6 * SAMPLE_RATE  # 148.5–154.5 s
    assert sorted(os.listdir(tmp_path)) == ["in-time_clip.wav"]

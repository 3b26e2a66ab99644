"""A window's microphone: what it hears reaches the engine, in order, on time, whatever the
device does.

The microphone is a PulseAudio pipe source fed in real time (factories/microphone.py): PortAudio
records it through ALSA exactly as it would a USB microphone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest

from etiquette.core.records import SAMPLE_RATE
from etiquette.health import HealthEvent, HealthState
from etiquette.speech.microphone import MicrophoneCapture
from etiquette.speech.sources import AudioSource

from factories.media import speech
from factories.microphone import PipeSource

SR = SAMPLE_RATE


def stereo_sample() -> np.ndarray:
    """Staff on the left, citizen on the right: distinct channels, so order is checked."""
    left, right = speech("staff"), speech("citizen")
    n = max(len(left), len(right))
    out = np.zeros((n, 2), np.float32)
    out[:len(left), 0] = left
    out[:len(right), 1] = right
    return out


def tone(seconds: float, freqs: tuple[float, ...] = (440.0, 880.0),
         amps: tuple[float, ...] = (0.3, 0.1)) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return np.stack([a * np.sin(2 * np.pi * f * t) for f, a in zip(freqs, amps, strict=True)],
                    axis=1).astype(np.float32)


def rms(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(np.square(x, dtype=np.float64), axis=0))


def offset_of(needle: np.ndarray, haystack: np.ndarray) -> int:
    """Where `needle` (1-D) best matches in `haystack` (1-D), by FFT cross-correlation."""
    n = len(haystack) + len(needle)
    corr = np.fft.irfft(np.fft.rfft(haystack, n) * np.conj(np.fft.rfft(needle, n)), n)
    return int(np.argmax(corr[:len(haystack) - len(needle) + 1]))


def read_for(source: AudioSource, seconds: float) -> np.ndarray:
    blocks = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        block = source.read(timeout_s=0.2)
        if block is not None:
            blocks.append(block)
    return np.concatenate(blocks) if blocks else np.zeros((0, source.channels), np.float32)


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Events:
    def __init__(self) -> None:
        self.events: list[HealthEvent] = []

    def __call__(self, event: HealthEvent) -> None:
        self.events.append(event)

    def states(self) -> list[HealthState]:
        return [e.state for e in self.events]


def test_microphone_records_exactly_what_the_source_played(
        pipe_source: Callable[..., PipeSource]) -> None:
    source = pipe_source()
    feeder = source.feed(stereo_sample(), lead_s=1.0)
    events = Events()
    mic = MicrophoneCapture("w1", source.device, channels=2, on_health=events)
    mic.start()
    try:
        captured = []
        deadline = time.monotonic() + 15
        until: float | None = None  # a second after the sample has been played
        while time.monotonic() < deadline and (until is None or time.monotonic() < until):
            block = mic.read(timeout_s=0.5)
            if block is not None:
                assert block.dtype == np.float32 and block.shape[1] == 2
                captured.append(block)
            if until is None and feeder.played.is_set():
                until = time.monotonic() + 1.0
        audio = np.concatenate(captured)
    finally:
        mic.stop()
    fed = feeder.quantised()
    at = offset_of(fed[:, 0], audio[:, 0])
    got = audio[at:at + len(fed)]
    assert len(got) == len(fed), "the whole sample was recorded"
    # Bit-exact apart from float rounding: PulseAudio and PortAudio add nothing and drop nothing.
    assert np.max(np.abs(got - fed)) < 1e-4
    np.testing.assert_allclose(rms(got), rms(fed), rtol=1e-3)
    # Channel order: the left channel is the staff recording, not the citizen's.
    left_vs_staff = np.corrcoef(got[:, 0], fed[:, 0])[0, 1]
    left_vs_citizen = np.corrcoef(got[:, 0], fed[:, 1])[0, 1]
    assert left_vs_staff > 0.999 and abs(left_vs_citizen) < 0.2
    assert events.states() == [HealthState.OK]
    stats = mic.stats
    assert stats.samples == len(audio) and stats.overflow_frames == 0 and stats.reopens == 0
    assert stats.started_at is not None


def test_a_device_that_cannot_record_16_khz_is_resampled(
        pipe_source: Callable[..., PipeSource]) -> None:
    """Opened at 44.1 kHz (as a device without 16 kHz would be), delivered at 16 kHz."""
    source = pipe_source()
    source.feed(tone(30.0))
    mic = MicrophoneCapture("w1", source.device, channels=2, samplerate=44100)
    mic.start()
    try:
        audio = read_for(mic, 2.5)
        stats = mic.stats
    finally:
        mic.stop()
    steady = audio[-SR:]  # the last second: past the resampler's start
    assert len(audio) == pytest.approx(stats.samples)
    spectrum = np.abs(np.fft.rfft(steady, axis=0))
    assert list(np.argmax(spectrum, axis=0)) == [440, 880]  # 1 Hz bins over one second
    np.testing.assert_allclose(rms(steady), [0.3 / np.sqrt(2), 0.1 / np.sqrt(2)], rtol=0.02)


def test_an_unplugged_microphone_is_reopened_and_time_stays_aligned(
        pipe_source: Callable[..., PipeSource]) -> None:
    source = pipe_source()
    source.feed(tone(120.0))
    events = Events()
    mic = MicrophoneCapture("w7", source.device, channels=2, on_health=events,
                            reopen_backoff_s=0.3, max_backoff_s=1.0, stall_s=1.0)
    mic.start()
    try:
        before = read_for(mic, 1.5)
        assert len(before) > SR and events.states() == [HealthState.OK]
        source.unload()
        down = wait_for(lambda: HealthState.DOWN in events.states(), 5)
        assert down, events.events
        read_for(mic, 2.0)  # reopening fails meanwhile: the source is not there
        assert events.states() == [HealthState.OK, HealthState.DOWN]
        source.load()
        assert wait_for(lambda: events.states()[-1] is HealthState.OK, 10), events.events
        after = read_for(mic, 1.5)
        stats = mic.stats
    finally:
        mic.stop()
    assert events.states() == [HealthState.OK, HealthState.DOWN, HealthState.OK]
    assert all(e.component == "audio" and e.window_id == "w7" for e in events.events)
    assert "pulse:win1" in events.events[1].message
    assert stats.reopens >= 1
    # The same microphone again, both channels in place.
    np.testing.assert_allclose(rms(after[-SR // 2:]), [0.3 / np.sqrt(2), 0.1 / np.sqrt(2)],
                               rtol=0.05)
    # The time it was away is delivered as silence, so sample counts still follow the clock.
    assert stats.gap_frames > 2 * SR
    assert stats.started_at is not None
    elapsed = (datetime.now(UTC) - stats.started_at).total_seconds()
    assert stats.samples / SR == pytest.approx(elapsed, abs=0.6)


def test_a_missing_device_is_reported_and_retried_without_raising() -> None:
    events = Events()
    mic = MicrophoneCapture("w2", "no such microphone", channels=1, on_health=events,
                            reopen_backoff_s=0.2)
    mic.start()
    assert wait_for(lambda: bool(events.events), 5)
    assert mic.read(timeout_s=0.3) is None
    started = time.monotonic()
    mic.stop()
    assert time.monotonic() - started < 2
    assert events.states() == [HealthState.DOWN]
    assert "no such microphone" in events.events[0].message
    assert mic.finished


def test_a_reader_that_falls_behind_loses_audio_counted_and_in_time(
        pipe_source: Callable[..., PipeSource]) -> None:
    source = pipe_source()
    source.feed(tone(60.0))
    events = Events()
    mic = MicrophoneCapture("w3", source.device, channels=2, ring_s=0.5, on_health=events)
    mic.start()
    try:
        assert mic.read(timeout_s=5) is not None
        time.sleep(2.0)  # not reading: the 0.5 s ring fills and overflows
        dropped = mic.stats.overflow_frames
        assert dropped > 1.0 * SR
        assert wait_for(lambda: HealthState.DEGRADED in events.states(), 2), events.events
        audio = read_for(mic, 1.0)  # what was kept, the lost part as silence, then on
        stats = mic.stats
        assert wait_for(lambda: events.states()[-1] is HealthState.OK, 2), events.events
    finally:
        mic.stop()
    silent = np.all(audio == 0.0, axis=1)
    assert abs(int(silent.sum()) - stats.overflow_frames) <= 0.1 * SR
    assert stats.started_at is not None
    elapsed = (datetime.now(UTC) - stats.started_at).total_seconds()
    assert stats.samples / SR == pytest.approx(elapsed, abs=0.6)
    assert events.states() == [HealthState.OK, HealthState.DEGRADED, HealthState.OK]


def test_two_windows_record_their_own_sources_at_once(
        pipe_source: Callable[..., PipeSource]) -> None:
    first, second = pipe_source(channels=1), pipe_source(channels=1)
    first.feed(tone(30.0, (440.0,), (0.3,)))
    second.feed(tone(30.0, (300.0,), (0.2,)))
    mics = [MicrophoneCapture(f"w{k}", s.device) for k, s in enumerate((first, second))]
    for mic in mics:
        mic.start()
    try:
        audio = [read_for(mic, 2.0) for mic in mics]
    finally:
        for mic in mics:
            mic.stop()
    peaks = [int(np.argmax(np.abs(np.fft.rfft(a[-SR:, 0])))) for a in audio]
    assert peaks == [440, 300]

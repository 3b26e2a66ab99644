"""A recording replayed as a window's microphone would deliver it: paced, looped, staggered."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from etiquette.core.records import SAMPLE_RATE
from etiquette.health import HealthEvent, HealthState
from etiquette.speech.audio import AudioError, read_audio
from etiquette.speech.replay import FileReplay

from factories.media import DATA, cut_short, tone, write_media

SR = SAMPLE_RATE


@pytest.mark.parametrize("speed", [1.0, 4.0])
def test_replay_delivers_the_file_at_real_time(speed: float) -> None:
    """At real time, or `speed` times faster (a soak of hours in minutes)."""
    path = DATA / "staff.flac"
    expected = np.stack(read_audio(path).channels, axis=1)
    replay = FileReplay("w1", path, realtime=True, speed=speed)
    replay.start()
    started = time.monotonic()
    blocks = []
    while not replay.finished:
        block = replay.read(timeout_s=1.0)
        if block is not None:
            blocks.append(block)
    took = time.monotonic() - started
    duration = len(expected) / SR / speed
    assert took == pytest.approx(duration, rel=0.1, abs=0.1)
    got = np.concatenate(blocks)
    np.testing.assert_array_equal(got, expected)
    assert replay.stats.samples == len(expected)
    assert replay.read(timeout_s=0.1) is None


def test_replay_waits_no_longer_than_the_timeout() -> None:
    replay = FileReplay("w1", DATA / "staff.flac", block_s=1.0)
    replay.start()
    started = time.monotonic()
    assert replay.read(timeout_s=0.2) is None  # the first second is not over yet
    assert time.monotonic() - started == pytest.approx(0.2, abs=0.1)


def test_replay_loops_with_silence_between_plays() -> None:
    path = DATA / "citizen.flac"
    once = np.stack(read_audio(path).channels, axis=1)
    replay = FileReplay("w1", path, realtime=False, loop=True, gap_s=0.5)
    replay.start()
    started = time.monotonic()
    period = len(once) + SR // 2
    got = np.concatenate([replay.read(timeout_s=0.1) for _ in range(2 * period // 1600 + 10)])
    assert time.monotonic() - started < 1.0  # not paced
    np.testing.assert_array_equal(got[:len(once)], once)
    assert not got[len(once):period].any()
    np.testing.assert_array_equal(got[period:period + len(once)], once)
    assert not replay.finished


def test_a_replay_can_begin_partway_into_its_loop() -> None:
    """Windows replayed side by side are staggered so that they do not all speak at once."""
    path = DATA / "citizen.flac"
    once = np.stack(read_audio(path).channels, axis=1)
    replay = FileReplay("w1", path, realtime=True, loop=True, gap_s=0.5, start_s=0.5)
    replay.start()
    started = time.monotonic()
    got = replay.read(timeout_s=1.0)
    assert got is not None and time.monotonic() - started < 0.3  # paced from the start point
    period = len(once) + SR // 2
    while len(got) < period:
        block = replay.read(timeout_s=1.0)
        got = got if block is None else np.concatenate([got, block])
    np.testing.assert_array_equal(got[:len(once) - SR // 2], once[SR // 2:])
    assert not got[len(once) - SR // 2:len(once)].any()  # the loop gap, then the file again
    np.testing.assert_array_equal(got[len(once):len(once) + 1600], once[:1600])
    assert replay.stats.samples == len(got)  # stream time counts from where it began


def test_replay_of_a_file_that_is_not_audio_fails_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "w1.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError):
        FileReplay("w1", bad)


def test_a_replay_of_a_file_cut_short_is_reported(tmp_path: Path) -> None:
    """Replayed as far as it goes, and said to be incomplete: its end is not where the
    conversation ended."""
    events: list[HealthEvent] = []
    whole = write_media(tmp_path / "whole.wav", [tone(4.0)])
    assert FileReplay("w1", whole, on_health=events.append).complete and events == []
    cut = cut_short(write_media(tmp_path / "cut.wav", [tone(4.0)]), 0.5)
    replay = FileReplay("w1", cut, on_health=events.append)
    assert not replay.complete
    assert [(e.component, e.state, e.window_id) for e in events] == [
        ("audio", HealthState.DEGRADED, "w1")]
    assert "incomplete" in events[0].message and "cut.wav" in events[0].message


def test_a_replay_places_what_its_recording_lost_on_the_stream_pass_by_pass(
        tmp_path: Path) -> None:
    """The loss of a recording cut short falls where its audio stops on the stream, in every
    pass of a loop, counted from where the replay began: the judge of live sessions reads it
    there."""
    cut = cut_short(write_media(tmp_path / "cut.wav", [tone(4.0)]), 0.5)
    replay = FileReplay("w1", cut, realtime=False, loop=True, gap_s=1.0, start_s=0.5)
    assert replay.damage is not None
    stops = replay.duration_s - 0.5  # on the stream: the file's end, less where it began
    period = replay.duration_s + 1.0
    assert replay.duration_s == pytest.approx(2.0, abs=0.05)
    assert [u.at_s for u in replay.unheard(0.0, 3 * period)] == pytest.approx(
        [stops, stops + period, stops + 2 * period])
    assert [u.at_s for u in replay.unheard(stops + 0.5, stops + period + 0.5)] == pytest.approx(
        [stops + period])
    assert replay.unheard(stops + 0.1, stops + period - 0.1) == ()
    assert all(u.lost_s == pytest.approx(2.0, abs=0.1) for u in replay.unheard(0.0, 10.0))
    # where the stream says the audio stops, it does: sound before, the loop's silence after
    replay.start()
    got = np.concatenate([replay.read(timeout_s=0.1) for _ in range(round(2 * period * 10))])
    at = round(stops * SR)
    assert np.abs(got[at - SR // 10:at]).mean() > 0.05 and not got[at:at + SR // 2].any()
    once = FileReplay("w1", cut, realtime=False)
    assert [u.at_s for u in once.unheard(0.0, 100.0)] == pytest.approx([once.duration_s])
    whole = FileReplay("w1", write_media(tmp_path / "whole.wav", [tone(4.0)]), loop=True)
    assert whole.unheard(0.0, 100.0) == ()

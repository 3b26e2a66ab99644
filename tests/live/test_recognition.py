"""One recogniser for every window: batched across windows, nothing dropped when behind."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from etiquette.core.records import Speaker, heard_as
from etiquette.health import HealthState
from etiquette.live.recognition import SharedRecogniser
from etiquette.speech.audio import read_audio
from etiquette.speech.segmenter import segment

from factories import SAMPLES
from factories.faults import tiny_disk

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def staff_speech():
    """The staff utterances of two sample windows, as the segmenter cuts them."""
    out = []
    for name in ("window02_rude.flac", "window05_session.ogg"):
        us = segment(read_audio(SAMPLES / name), name, name.split(".")[0])
        out += [u for u in us if u.speaker == Speaker.STAFF]
    return out


class Collector:
    def __init__(self, expected: int) -> None:
        self.got: dict[tuple[str, float], str] = {}
        self.done = threading.Event()
        self.expected = expected
        self.lock = threading.Lock()

    def __call__(self, u, t, check) -> None:
        with self.lock:
            self.got[(u.window_id, u.start_s)] = t.text
            if len(self.got) == self.expected:
                self.done.set()


def test_every_window_gets_its_own_transcripts_in_few_batches(recogniser, staff_speech, tmp_path):
    direct = {(u.window_id, u.start_s): t.text
              for u, t in zip(staff_speech, recogniser.transcribe(staff_speech), strict=True)}
    shared = SharedRecogniser(recogniser, spool_dir=tmp_path / "spool")
    collect = Collector(len(staff_speech))
    for u in staff_speech:  # queued before the worker starts: it finds them all waiting
        shared.submit(u, collect)
    shared.start()
    assert collect.done.wait(120)
    shared.stop()
    assert collect.got == direct  # the same words as transcribing them together directly
    assert "不知道" in collect.got[("window02_rude", staff_speech[1].start_s)]
    assert shared.stats.batches == 1 < len(staff_speech)  # one call served both windows
    assert shared.backlog_s == 0 and shared.lag_s == 0


def test_speech_beyond_the_memory_bound_waits_on_disk_and_is_not_lost(recogniser, staff_speech,
                                                                      tmp_path):
    spool = tmp_path / "spool"
    events = []
    shared = SharedRecogniser(recogniser, spool_dir=spool, memory_s=3.0, lag_warn_s=0.01,
                              batch_s=8.0, on_health=events.append)
    collect = Collector(len(staff_speech))
    for u in staff_speech:
        shared.submit(u, collect)
    assert shared.stats.spooled >= len(staff_speech) - 2  # only ~3 s stay in memory
    assert len(list(spool.glob("*.npy"))) == shared.stats.spooled
    assert shared.backlog_s == pytest.approx(sum(u.duration_s for u in staff_speech))
    shared.start()
    assert collect.done.wait(120)
    shared.stop()
    assert len(collect.got) == len(staff_speech) and all(collect.got.values())
    assert list(spool.glob("*.npy")) == []  # read back and removed
    # The backlog was reported while it was being worked off, and its end too.
    assert [e.state for e in events] == [HealthState.DEGRADED, HealthState.OK]
    assert shared.stats.batches > 1


def test_speech_being_decoded_still_counts_as_behind(recogniser, staff_speech, tmp_path):
    # An overloaded worker takes all that is queued at once: the queue is then empty, but that
    # speech is no less behind (lag, backlog) until its transcripts are out.
    taken, release = threading.Event(), threading.Event()

    def recognise(utterances):
        taken.set()
        release.wait(60)
        return recogniser.transcribe(utterances), None

    shared = SharedRecogniser(recogniser, spool_dir=tmp_path / "spool", recognise=recognise)
    collect = Collector(len(staff_speech))
    for u in staff_speech:
        shared.submit(u, collect)
    shared.start()
    assert taken.wait(30)
    time.sleep(0.5)
    assert shared.lag_s >= 0.5
    assert shared.backlog_s == pytest.approx(sum(u.duration_s for u in staff_speech))
    release.set()
    assert collect.done.wait(120)
    shared.stop()
    assert shared.lag_s == 0 and shared.backlog_s == 0


def test_stop_transcribes_what_is_queued_before_returning(recogniser, staff_speech, tmp_path):
    shared = SharedRecogniser(recogniser, spool_dir=tmp_path / "spool")
    collect = Collector(len(staff_speech))
    shared.start()
    for u in staff_speech:
        shared.submit(u, collect)
    shared.stop(timeout_s=120)
    assert len(collect.got) == len(staff_speech)


def test_a_failing_window_does_not_stop_the_others(recogniser, staff_speech, tmp_path):
    shared = SharedRecogniser(recogniser, spool_dir=tmp_path / "spool")
    collect = Collector(2)

    def broken(u, t, check):
        raise RuntimeError("this window's judge is broken")

    first, second = staff_speech[0], replace(staff_speech[1], window_id="other")
    shared.submit(first, broken)
    shared.submit(first, collect)
    shared.submit(second, collect)
    shared.start()
    assert collect.done.wait(120)
    shared.stop()


def test_workers_share_the_queue_and_every_utterance_is_delivered_once(staff_speech, tmp_path):
    from etiquette.speech.recogniser import Recogniser, RecogniserOptions

    two = Recogniser(RecogniserOptions(cpu_threads=1, num_workers=2))
    shared = SharedRecogniser(two, spool_dir=tmp_path / "spool", batch_s=6.0)
    by_worker: dict[str, int] = {}
    delivered: list[tuple[str, float]] = []
    lock = threading.Lock()
    done = threading.Event()

    def deliver(u, t, check) -> None:
        with lock:
            name = threading.current_thread().name
            by_worker[name] = by_worker.get(name, 0) + 1
            delivered.append((u.window_id, u.start_s))
            if len(delivered) == len(staff_speech):
                done.set()

    for u in staff_speech:  # a few seconds a batch: the workers take turns
        shared.submit(u, deliver)
    shared.start()
    assert done.wait(180)
    shared.stop()
    assert sorted(delivered) == sorted((u.window_id, u.start_s) for u in staff_speech)
    assert set(by_worker) == {"recogniser-1", "recogniser-2"}
    assert shared.stats.utterances == len(staff_speech) and shared.backlog_s == 0


def test_a_full_spool_disk_keeps_the_speech_in_memory_and_the_window_going(
        recogniser, staff_speech, tmp_path):
    events = []
    with tiny_disk(tmp_path / "disk", size=2 << 20) as disk:  # room for ~30 s of float32
        spool = disk.path / "spool"
        shared = SharedRecogniser(recogniser, spool_dir=spool, memory_s=3.5, lag_warn_s=3600,
                                  batch_s=8.0, on_health=events.append)
        delivered: dict[tuple[str, float], tuple[np.ndarray, str]] = {}
        done = threading.Event()

        def deliver(u, t, check) -> None:
            delivered[(u.window_id, u.start_s)] = (u.audio, t.text)
            if len(delivered) == len(staff_speech):
                done.set()

        disk.fill(leave=40_000)  # a spooled utterance begins, and is cut short by the disk
        first, rest = staff_speech[:4], staff_speech[4:]
        for u in first:  # the window's submits return: its audio path goes on
            shared.submit(u, deliver)
        assert shared.stats.spooled == 0 and shared.stats.refused_by_disk == len(first) - 1
        assert list(spool.glob("*")) == []  # nothing half-written left taking the disk
        assert [e.state for e in events] == [HealthState.DEGRADED]
        assert "spool disk refuses audio" in events[0].message
        assert "No space left on device" in events[0].message

        disk.free()  # space returns: the next utterances past memory_s wait on disk again
        for u in rest:
            shared.submit(u, deliver)
        assert shared.stats.spooled == len(rest)
        assert len(list(spool.glob("*.npy"))) == len(rest)
        assert [e.state for e in events] == [HealthState.DEGRADED, HealthState.OK]

        shared.start()
        assert done.wait(120)
        shared.stop()
        assert list(spool.glob("*.npy")) == []  # read back and removed
    # Every utterance transcribed from all of its audio, the held ones and the spooled ones.
    assert set(delivered) == {(u.window_id, u.start_s) for u in staff_speech}
    for u in staff_speech:
        np.testing.assert_array_equal(delivered[(u.window_id, u.start_s)][0], u.audio)
    assert "不知道" in delivered[("window02_rude", staff_speech[1].start_s)][1]


def test_the_utterances_a_verdict_waits_for_go_first_then_the_oldest(recogniser, staff_speech,
                                                                     tmp_path):
    # One worker, a few seconds a batch: the order the batches are taken in is the order the
    # transcripts come back in. A burst has queued every window's speech; a greeting (urgent)
    # and an utterance a closed session's farewell now waits for (hurried) came last.
    shared = SharedRecogniser(recogniser, spool_dir=tmp_path / "spool", batch_s=4.0)
    assert len(shared._threads) == 1
    *ordinary, farewell, greeting = staff_speech
    batch_of: dict[tuple[str, float], int] = {}
    done = threading.Event()

    def deliver(u, t, check) -> None:
        batch_of[(u.window_id, u.start_s)] = shared.stats.batches
        if len(batch_of) == len(staff_speech):
            done.set()

    for u in [*ordinary, farewell]:
        shared.submit(u, deliver)
    shared.submit(greeting, deliver, urgent=True)
    shared.hurry([heard_as(farewell)])
    shared.start()
    assert done.wait(180)
    shared.stop()
    first = [batch_of[(u.window_id, u.start_s)] for u in (farewell, greeting)]
    then = [batch_of[(u.window_id, u.start_s)] for u in ordinary]
    assert max(first) < min(then)  # not starved by the burst ahead of them
    assert then == sorted(then) and then[0] < then[-1]  # the oldest waits least

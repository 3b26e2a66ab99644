"""A live window replaying a counter video cut short or damaged (issue 17, item 6, "same for live
replay files"): it goes on watching what decodes, reports its camera DEGRADED with the reason,
and judges no 离岗 over pictures the file does not have, as batch does for the same file.

recordings_sample/window06_counter.mp4 (90 s at 4 fps, key frames at 0 and 62.5 s; the seat is
empty 12-45 s and 60-72 s), cut or garbled in the test, through the real CenterFace detector;
with a threshold of 20 s the whole file has one off-post, 12-45 s.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etiquette.core.presence.rules import DetectorSettings, load_presence_rules
from etiquette.core.records import Incident
from etiquette.health import HealthEvent, HealthState
from etiquette.live.presence import LivePresence
from etiquette.vision.detector import create_detector
from etiquette.vision.watcher import PresenceOptions, PresencePipeline

from factories import SAMPLES
from factories.media import cut_short, garble

RECORDED_AT = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)  # the sample's: Friday 09:30 Beijing


@pytest.fixture(scope="module")
def pipeline() -> PresencePipeline:
    rules = load_presence_rules().with_threshold(20.0)
    return PresencePipeline(PresenceOptions(), create_detector(DetectorSettings(), 1), rules)


class Window:
    """One live window's presence over a file, and what its callbacks saw."""

    def __init__(self, pipeline: PresencePipeline, video: Path) -> None:
        self.lock = threading.Lock()
        self.incidents: list[Incident] = []
        self.health: list[HealthEvent] = []
        self.live = LivePresence(pipeline, "window06", str(video), on_incident=self.incident,
                                 on_health=self.health_event, started=RECORDED_AT)

    def incident(self, incident: Incident) -> None:
        with self.lock:
            self.incidents.append(incident)

    def health_event(self, event: HealthEvent) -> None:
        with self.lock:
            self.health.append(event)


@pytest.fixture
def windows() -> Iterator[list[Window]]:
    made: list[Window] = []
    yield made
    for w in made:
        w.live.stop()
        w.live.join(timeout_s=15)


def _replay(pipeline: PresencePipeline, video: Path, windows: list[Window]) -> Window:
    w = Window(pipeline, video)
    windows.append(w)
    w.live.start()
    assert w.live.join(timeout_s=120) is not None, "the replay did not come to its end"
    return w


def _copy(tmp_path: Path) -> Path:
    return Path(shutil.copy(SAMPLES / "window06_counter.mp4", tmp_path / "window06_counter.mp4"))


def test_a_damaged_replay_is_watched_around_its_lost_pictures(pipeline, tmp_path, windows):
    """20,000 bytes of garbage a third into the file: pictures from about 28 s are lost until the
    key frame at 62.5 s. The window keeps watching: the absence from 12 s ends at the loss (under
    20 s: no off-post, where the whole file has 12-45 s), the one after it (62.5-72 s) is seen,
    and the camera is reported DEGRADED with the reason; exactly what batch finds in the file."""
    video = garble(_copy(tmp_path), 1 / 3, 20_000)
    w = _replay(pipeline, video, windows)
    analysis = w.live.join()
    assert analysis is not None and w.live.error is None

    d = analysis.damage
    assert d is not None and d.errors > 0
    ((lost_from, lost_to),) = d.lost_spans
    assert 25.0 < lost_from < 30.0 and lost_to == pytest.approx(62.5)
    assert [(a.start_s, a.end_s, a.before_loss, a.after_loss) for a in analysis.absences] == [
        (12.0, lost_from, True, False), (62.5, 72.0, False, True)]
    assert w.incidents == [] and analysis.incidents == ()
    assert analysis.frames > 2 * (lost_from + 90.0 - 62.5) - 4  # the readable parts, all watched

    camera = [h for h in w.health if h.component == "camera"]
    assert [h.state for h in camera] == [HealthState.DEGRADED]
    assert "视频不完整" in camera[0].message and "不判定离岗" in camera[0].message
    assert not [h for h in w.health if h.state is HealthState.DOWN]  # nothing stopped

    batch = pipeline.analyse(video, "window06", recorded_at=RECORDED_AT)
    assert analysis.absences == batch.absences and batch.damage == d


def test_a_replay_cut_short_is_judged_up_to_the_cut_and_no_further(pipeline, tmp_path, windows):
    """The file cut at 40 % of its bytes (pictures to 33-40 s of the 90 s its header states):
    the window watches to the cut without failing, sends the off-post that began at 12 s as soon
    as it is one, ends it at the cut, not at the stated end, and says the camera is DEGRADED."""
    video = cut_short(_copy(tmp_path), 0.4)
    w = _replay(pipeline, video, windows)
    analysis = w.live.join()
    assert analysis is not None and w.live.error is None

    d = analysis.damage
    assert d is not None and d.cut_at_s is not None and 33.0 < d.cut_at_s < 40.0
    assert d.lost_spans == ((d.cut_at_s, pytest.approx(90.0)),)
    assert all(a.end_s <= d.cut_at_s for a in analysis.absences)
    (sent,) = w.incidents
    assert sent.offset_s == pytest.approx(12.0, abs=0.6)
    assert sent.end_s == pytest.approx(32.0, abs=0.6)  # sent live, at the crossing
    (whole,) = analysis.incidents
    assert whole.id == sent.id and whole.end_s == pytest.approx(d.cut_at_s)

    camera = [h for h in w.health if h.component == "camera"]
    assert [h.state for h in camera] == [HealthState.DEGRADED]
    assert "文件头记载时长 90.0 秒" in camera[0].message
    assert not [h for h in w.health if h.state is HealthState.DOWN]

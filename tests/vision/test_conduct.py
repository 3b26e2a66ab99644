"""睡岗 and 聚集: the real person model on real photos, then whole counter videos in batch.

Thresholds are the shipped rules' with the allowed time shortened for short videos; the
tolerance and everything else come from rules/presence.yaml as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from etiquette.core.presence.conduct import ConductTracker, UprightHead
from etiquette.core.presence.rules import (
    DEFAULT_PRESENCE_RULES,
    ConductRule,
    PresenceRules,
    PresenceRulesError,
    load_presence_rules,
)
from etiquette.core.records import IncidentKind
from etiquette.vision.detector import DetectorError, create_detector
from etiquette.vision.watcher import PresenceAnalysis, PresenceOptions, PresencePipeline

from factories.conduct import STAFF_REGION, conduct_video, frame_for
from factories.scenes import counter, detector, photo, scene

FRIDAY_0930 = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)  # 09:30 in Beijing: service hours
ALLOWED_S = 20.0  # the allowed time in these short videos


def rules() -> PresenceRules:
    shipped = load_presence_rules()
    assert shipped.asleep_at_post and shipped.gathering and shipped.body_detector
    return shipped.model_copy(update={
        k: getattr(shipped, k).model_copy(update={"threshold_s": ALLOWED_S})
        for k in ("asleep_at_post", "gathering")})


def body_detector():  # noqa: ANN201 - the registry's Detector
    settings = load_presence_rules().body_detector
    assert settings is not None
    return create_detector(settings, 1)


# -- the person model on real photos ---------------------------------------------------------

def test_the_staff_member_is_found_at_the_seat_with_her_head_down():
    s = scene()
    frame = frame_for(s, "bowed")
    assert detector().detect(frame) == []  # the face detector loses her…
    people = body_detector().detect(frame)
    assert people, "…the person model must not"
    x1, y1, x2, y2 = s.face
    box = people[0].box  # the largest person: her, face region and all
    assert box.x1 <= x1 and box.x2 >= x2 and box.y1 <= y1 + 10 and box.height > 0.8 * 480


def test_people_in_real_photos_are_found():
    for name in ("astronaut", "camera"):
        people = body_detector().detect(photo(name))
        assert people and people[0].box.height > 0.5 * photo(name).shape[0], name


@pytest.mark.parametrize("what", ["empty seat", "cat on the seat", "coffee on the seat",
                                  "plain photos"])
def test_no_person_where_nobody_is(what):
    s = scene()
    frames = {
        "empty seat": [s.empty],
        "cat on the seat": [counter.with_object(s, "chelsea")],
        "coffee on the seat": [counter.with_object(s, "coffee")],
        "plain photos": [photo(n) for n in ("rocket", "coins", "page", "brick", "gravel")],
    }[what]
    for frame in frames:
        assert body_detector().detect(frame) == []


def test_the_person_model_comes_from_the_manifest_and_a_missing_file_is_named(tmp_path):
    settings = load_presence_rules().body_detector
    assert settings is not None
    missing = settings.model_copy(update={"model": str(tmp_path / "nope.tflite")})
    with pytest.raises(DetectorError, match="nope.tflite"):
        create_detector(missing, 1)


# -- rules -----------------------------------------------------------------------------------

def _rules_text(**changes: object) -> str:
    raw = yaml.safe_load(DEFAULT_PRESENCE_RULES.read_text(encoding="utf-8"))
    raw.update(changes)
    return yaml.safe_dump(raw, allow_unicode=True)


def test_a_conduct_pause_must_be_a_declared_status(tmp_path):
    raw = yaml.safe_load(DEFAULT_PRESENCE_RULES.read_text(encoding="utf-8"))
    path = tmp_path / "presence.yaml"
    path.write_text(_rules_text(gathering={**raw["gathering"], "pauses": ["午睡"]}),
                    encoding="utf-8")
    with pytest.raises(PresenceRulesError, match="午睡"):
        load_presence_rules(path)


def test_head_drop_is_a_setting_of_asleep_at_post_only(tmp_path):
    raw = yaml.safe_load(DEFAULT_PRESENCE_RULES.read_text(encoding="utf-8"))
    path = tmp_path / "presence.yaml"
    path.write_text(_rules_text(gathering={**raw["gathering"], "head_drop": 0.5}),
                    encoding="utf-8")
    with pytest.raises(PresenceRulesError, match="head_drop"):
        load_presence_rules(path)


def test_asleep_needs_the_person_model(tmp_path):
    path = tmp_path / "presence.yaml"
    path.write_text(_rules_text(body_detector=None), encoding="utf-8")
    with pytest.raises(PresenceRulesError, match="body_detector"):
        load_presence_rules(path)


# -- the tracker -----------------------------------------------------------------------------

def test_short_gaps_are_bridged_and_a_long_one_ends_the_stretch():
    tol = load_presence_rules().gathering.tolerance_s  # type: ignore[union-attr]
    t = ConductTracker("s", "w", IncidentKind.GATHERING, tol)
    step = tol / 4
    verdicts = [True] * 8 + [False] * 2 + [True] * 8 + [False] * 12 + [True]
    ended = [s for k, held in enumerate(verdicts) if (s := t.update(k * step, held, 2))]
    assert len(ended) == 1  # two frames missed inside: one stretch; then a gap: ended
    (first,) = ended
    assert first.start_s == 0 and first.end_s == 17 * step and first.hits == 16
    assert first.samples == 18 and first.peak == 2
    last = t.finish()
    assert last is not None and last.start_s == last.end_s == 30 * step


def test_a_head_is_down_only_far_below_where_she_sits_up():
    head = UprightHead(drop=0.75)
    assert not head.is_down(400)  # never seen sitting up: nothing to compare with
    for top in (14, 15, 300, 13, 14):  # one odd frame does not move the median
        head.observe(top, 115)
    assert not head.is_down(14 + 40)  # bowed over a document
    assert head.is_down(14 + 0.75 * 115 + 1)  # on the desk


# -- whole videos in batch -------------------------------------------------------------------

def analyse(path: Path) -> PresenceAnalysis:
    pipeline = PresencePipeline(PresenceOptions(roi=STAFF_REGION,
                                                evidence_dir=path.parent / "evidence"),
                                rules=rules())
    return pipeline.analyse(path, recorded_at=FRIDAY_0930)


def incidents_of(result: PresenceAnalysis, kind: IncidentKind) -> list:
    return [i for i in result.incidents if i.kind == kind]


def counter_run(folder: Path, rule: ConductRule | None,
                episodes: Sequence[tuple[str, float]]) -> PresenceAnalysis:
    """The analysis of a counter video of `episodes` (state, seconds), each after 5 s (the
    first) or longer than the rule's tolerance (the rest) of her sitting up, so that no two
    episodes join into one stretch."""
    assert rule is not None
    spans, t = [], 0.0
    for k, (state, length) in enumerate((*episodes, ("present", 0))):
        present = 5 if k in (0, len(episodes)) else rule.tolerance_s + 5
        spans += [("present", t, t + present), (state, t + present, t + present + length)]
        t += present + length
    return analyse(conduct_video(folder / "counter.mp4", spans[:-1]))


@pytest.fixture(scope="module")
def asleep_run(tmp_path_factory) -> PresenceAnalysis:
    return counter_run(tmp_path_factory.mktemp("asleep"), load_presence_rules().asleep_at_post, (
        ("asleep", ALLOWED_S + 10), ("reading", ALLOWED_S + 10),
        ("asleep_citizen", ALLOWED_S + 10)))


def test_a_head_down_longer_than_allowed_is_asleep_at_post(asleep_run):
    (inc,) = incidents_of(asleep_run, IncidentKind.ASLEEP_AT_POST)
    assert inc.offset_s == pytest.approx(5, abs=1.5)
    assert inc.end_s == pytest.approx(5 + ALLOWED_S + 10, abs=1.5)
    assert inc.rule_name == "睡岗" and "伏案" in inc.explanation
    assert inc.score > 0.9


def test_a_bowed_head_is_not_an_absence(asleep_run):
    # Nobody left the seat: 离岗 must not count the time her face did not show.
    assert asleep_run.absences == ()


def test_a_head_bowed_over_a_document_and_a_citizen_waiting_are_not_asleep(asleep_run):
    stretches = [j.stretch for j in asleep_run.conduct
                 if j.stretch.kind is IncidentKind.ASLEEP_AT_POST]
    # reading longer than allowed, her face hidden but her head where it is when she sits up,
    # is no stretch at all; nor is her head on the desk with a citizen at the window
    assert len(stretches) == 1
    assert stretches[0].end_s < 5 + ALLOWED_S + 10 + 1


@pytest.fixture(scope="module")
def gathering_run(tmp_path_factory) -> PresenceAnalysis:
    return counter_run(tmp_path_factory.mktemp("gathering"), load_presence_rules().gathering, (
        ("gathering", ALLOWED_S + 10), ("passing", ALLOWED_S / 3),
        ("citizen", ALLOWED_S + 10)))


def test_two_staff_at_the_window_longer_than_allowed_is_gathering(gathering_run):
    (inc,) = incidents_of(gathering_run, IncidentKind.GATHERING)
    assert inc.offset_s == pytest.approx(5, abs=1.5)
    assert inc.end_s == pytest.approx(5 + ALLOWED_S + 10, abs=1.5)
    assert "2 人" in inc.explanation
    # a colleague passing, and a citizen across the counter, are not
    assert not incidents_of(gathering_run, IncidentKind.ASLEEP_AT_POST)
    assert len(gathering_run.incidents) == 1


def test_snapshots_show_only_the_staff_member_at_the_window(gathering_run):
    (inc,) = gathering_run.incidents
    assert set(inc.evidence) == {"first_frame", "last_frame"}
    x1, y1, x2, y2 = scene().face
    for path in inc.evidence.values():
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        faces = detector().detect(image)
        # her face stays; the colleague's is pixelated beyond what a detector finds
        assert len(faces) == 1
        assert x1 <= faces[0].box.center[0] <= x2 and y1 <= faces[0].box.center[1] <= y2


def test_asleep_snapshots_blur_every_face_and_show_the_seat(asleep_run):
    (inc,) = asleep_run.incidents
    for path in inc.evidence.values():
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        assert detector().detect(image) == []
        assert body_detector().detect(image)  # the reviewer sees someone at the seat



def test_live_sends_gathering_as_soon_as_it_is_one_and_once(tmp_path):
    from etiquette.core.records import Incident
    from etiquette.live.presence import LivePresence

    gap = load_presence_rules().gathering.tolerance_s + 5  # type: ignore[union-attr]
    spans = [("present", 0.0, 5.0), ("gathering", 5.0, 5.0 + ALLOWED_S + 20),
             ("present", 5.0 + ALLOWED_S + 20, 10.0 + ALLOWED_S + 20 + gap)]
    path = conduct_video(tmp_path / "w03.mp4", spans)
    pipeline = PresencePipeline(PresenceOptions(roi=STAFF_REGION, evidence_dir=tmp_path / "ev"),
                                rules=rules())
    sent: list[Incident] = []
    live = LivePresence(pipeline, "w03", str(path), on_incident=sent.append,
                        started=FRIDAY_0930)
    live.start()
    analysis = live.join(timeout_s=120)
    assert analysis is not None and live.error is None
    (incident,) = sent  # sent once, not again when the stream was concluded
    (whole,) = analysis.incidents
    assert incident.id == whole.id and incident.kind is IncidentKind.GATHERING
    # sent when the threshold was crossed, while the colleague was still there
    assert incident.end_s == pytest.approx(incident.offset_s + ALLOWED_S, abs=1.0)
    assert whole.end_s == pytest.approx(5.0 + ALLOWED_S + 20, abs=1.5)
    assert set(incident.evidence) == {"first_frame", "last_frame"}


def test_the_batch_summary_counts_asleep_and_gathering(tmp_path):
    """`etiquette batch` on a counter video: the summary table has a column for each camera
    kind, and its closing line names both."""
    import os
    import subprocess
    import sys

    from factories import ROOT

    spans, t = [], 0.0
    for state, length in (("present", 5), ("gathering", ALLOWED_S + 8), ("present", 15),
                          ("asleep", ALLOWED_S + 8), ("present", 5)):
        spans.append((state, t, t + length))
        t += length
    video = conduct_video(tmp_path / "w04.mp4", spans)
    shipped = yaml.safe_load(DEFAULT_PRESENCE_RULES.read_text(encoding="utf-8"))
    for kind in ("asleep_at_post", "gathering"):
        shipped[kind]["threshold_s"] = ALLOWED_S
    presence_rules = tmp_path / "presence.yaml"
    presence_rules.write_text(yaml.safe_dump(shipped, allow_unicode=True), encoding="utf-8")
    roi = " ".join(f"{x},{y}" for x, y in STAFF_REGION)
    result = subprocess.run(
        [sys.executable, "-m", "etiquette.cli", "batch", str(video), "--presence-rules",
         str(presence_rules), "--roi", roi, "--recorded-at", "2026-11-27T01:30:00",
         "--out", str(tmp_path / "incidents.jsonl")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "COLUMNS": "200"})  # the whole table on one line per row
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stderr.splitlines() if "文件" in line)
    row = next(line for line in result.stderr.splitlines() if "w04.mp4" in line)
    cells = [c.strip() for c in row.strip("│┃ ").split("│")]
    names = [c.strip() for c in header.strip("│┃ ").replace("┃", "│").split("│")]
    assert names[5:8] == ["离岗", "睡岗", "聚集闲聊"]
    assert cells[5:8] == ["0", "1", "1"]
    assert "睡岗 1" in result.stderr and "聚集闲聊 1" in result.stderr

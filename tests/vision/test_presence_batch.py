"""`etiquette batch` on video: the sample's off-post incident, snapshots, options, bad videos."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from etiquette.core.presence.offpost import judge
from etiquette.core.presence.rules import load_presence_rules
from etiquette.vision.watcher import PresenceOptions, PresencePipeline

from factories import ROOT, SAMPLES
from factories.scenes import detector, timeline_video

SAMPLE = SAMPLES / "window06_counter.mp4"
FRIDAY_0930_UTC = "2026-11-27T01:30:00"  # 09:30 in Beijing: service hours


def etiquette(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "etiquette.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], list[dict], Path]:
    out = tmp_path_factory.mktemp("sample") / "incidents.jsonl"
    result = etiquette("batch", str(SAMPLE.relative_to(ROOT)), "--absence-threshold", "20",
                       "--out", str(out))
    return result, lines(out), out


def test_the_sample_video_gives_exactly_the_expected_off_post_incidents(sample_run):
    result, incidents, _ = sample_run
    assert result.returncode == 0, result.stderr
    expected = yaml.safe_load((SAMPLES / "expected.yaml").read_text(encoding="utf-8"))[SAMPLE.name]
    assert Counter((i["kind"], i["rule_id"], i["speaker"]) for i in incidents) == Counter(
        (e["kind"], e["rule_id"], e["speaker"]) for e in expected)
    for got, want in zip(sorted(incidents, key=lambda i: i["offset_s"]),
                         sorted(expected, key=lambda e: e["offset_s"]), strict=True):
        assert got["offset_s"] == pytest.approx(want["offset_s"], abs=2.0)
        assert got["end_s"] == pytest.approx(want["end_s"], abs=2.0)


def test_the_incident_line(sample_run):
    _, (inc,), _ = sample_run
    assert inc["source"] == "recordings_sample/window06_counter.mp4"
    assert inc["window_id"] == "window06_counter" and inc["rule_name"] == "离岗"
    assert inc["transcript"] == "" and inc["phrase"] is None
    assert inc["severity"] == "major" and inc["deduction"] == 3.0
    assert 0.9 < inc["score"] <= 1.0  # one glimpse in 66 frames
    # the recording's start comes from the camera's creation_time: 09:30:00 Beijing
    assert inc["at"].startswith("2026-11-27T01:30:1")
    assert "09:30:1" in inc["explanation"] and "超过允许的 20 秒" in inc["explanation"]


def test_the_snapshots_show_the_empty_seat_and_the_staff_member(sample_run):
    _, (inc,), out = sample_run
    assert set(inc["evidence"]) == {"empty_seat", "last_seen"}
    for role, path in inc["evidence"].items():
        assert Path(path).parent == out.parent / "incidents_evidence"
        assert Path(path).name == f"{inc['id']}_{role}.jpg"
    empty = cv2.imread(inc["evidence"]["empty_seat"])
    last = cv2.imread(inc["evidence"]["last_seen"])
    assert empty.shape == last.shape == (480, 640, 3)
    assert detector().detect(empty) == []
    assert len(detector().detect(last)) == 1


def test_the_summary_counts_off_post(sample_run):
    result, _, _ = sample_run
    assert "离岗" in result.stderr and "事件：离岗 1" in result.stderr


@pytest.fixture(scope="module")
def sample_analysis():
    return PresencePipeline(PresenceOptions(absence_threshold_s=20)).analyse(SAMPLE)


def test_the_sample_timeline_is_tracked(sample_analysis):
    """Misses while she looks down and a one-frame glimpse change nothing; the short absence is
    found but allowed."""
    a = sample_analysis
    assert [(x.start_s, x.end_s) for x in a.absences] == [(12.0, 45.0), (60.0, 72.0)]
    assert a.absences[0].empty_samples == a.absences[0].samples - 1  # the glimpse at 30 s
    assert [j.off_post for j in a.judgements] == [True, False]
    assert a.frames == 180 and a.duration_s == pytest.approx(90.0)
    assert len(a.incidents) == 1 and a.incidents[0].evidence == {}  # no evidence_dir: none written


def test_the_default_threshold_allows_every_absence_in_the_sample(sample_analysis):
    rules = load_presence_rules()
    assert rules.off_post.threshold_s == 900
    judged = judge(sample_analysis.absences, rules, None, sample_analysis.duration_s)
    assert not any(j.off_post for j in judged)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """15 s: at the seat, gone from 3 s to 12 s, back; index in front (a file meant to be cut)."""
    path = tmp_path_factory.mktemp("clip") / "window07.mp4"
    spans = [("present", 0.0, 3.0), ("absent", 3.0, 12.0), ("present", 12.0, 15.0)]
    return timeline_video(path, spans, faststart=True)


def test_corrupt_and_cut_short_videos_are_reported_and_the_rest_goes_on(clip, tmp_path):
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    blob = bytearray(data)
    k = len(blob) // 2
    blob[k:k + 3000] = np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(bytes(blob))
    out = tmp_path / "out.jsonl"
    result = etiquette("batch", str(cut), str(corrupt), str(clip), "--absence-threshold", "5",
                       "--recorded-at", FRIDAY_0930_UTC, "--out", str(out))
    assert result.returncode == 1
    got = lines(out)
    errors = {Path(x["source"]).name: x["error"] for x in got if x["kind"] == "error"}
    assert set(errors) == {"cut.mp4", "corrupt.mp4"}
    assert "cut short" in errors["cut.mp4"] and "corrupt video" in errors["corrupt.mp4"]
    assert "cut.mp4" in result.stderr and "corrupt.mp4" in result.stderr
    assert "Traceback" not in result.stderr
    off = [x for x in got if x["kind"] == "off_post"]
    assert len(off) == 1 and off[0]["source"] == str(clip)
    assert off[0]["offset_s"] == pytest.approx(3.0, abs=1.0)
    assert off[0]["end_s"] == pytest.approx(12.0, abs=1.0)


def test_declared_pauses_and_the_seat_polygon_from_the_command_line(clip, tmp_path):
    # A seat polygon that leaves her out (the right edge of the frame): both windows' seats are
    # empty all along. window07 declared a meeting for 12 of its 15 s, window08 declared nothing.
    other = tmp_path / "window08.mp4"
    other.write_bytes(clip.read_bytes())
    pauses = tmp_path / "pauses.yaml"
    pauses.write_text("- {window: window07, status: 会议, start: 2026-11-27T09:30:02, "
                      "end: 2026-11-27T09:30:14}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = etiquette("batch", str(clip), str(other), "--absence-threshold", "5",
                       "--recorded-at", FRIDAY_0930_UTC, "--pauses", str(pauses),
                       "--roi", "0.9,0 1,0 1,1 0.9,1", "--evidence-dir", str(tmp_path / "ev"),
                       "--out", str(out))
    assert result.returncode == 0, result.stderr
    (inc,) = lines(out)  # window07's 3 unexplained seconds are allowed
    assert inc["window_id"] == "window08"
    assert inc["offset_s"] == 0.0 and inc["end_s"] == pytest.approx(15.0, abs=0.5)
    assert "此前未见工作人员" in inc["explanation"] and "仍未返回" in inc["explanation"]
    # she was never seen inside the polygon: an empty-seat snapshot only
    assert list(inc["evidence"]) == ["empty_seat"]
    assert Path(inc["evidence"]["empty_seat"]).parent == tmp_path / "ev"


@pytest.mark.parametrize("args, message", [
    (["--roi", "0,0 1,1"], "--roi"),
    (["--pauses", "PAUSES"], "出差"),
    (["--presence-rules", "RULES"], "off_post › threshold_s"),
])
def test_bad_presence_options_fail_at_start_up(tmp_path, args, message):
    (tmp_path / "p.yaml").write_text(
        "- {window: w, status: 出差, start: 2026-11-27T09:00:00, end: 2026-11-27T10:00:00}\n",
        encoding="utf-8")
    (tmp_path / "r.yaml").write_text(
        "version: x\nservice_hours: {periods: [{start: '09:00', end: '12:00'}]}\n"
        "off_post: {threshold_s: 0}\n", encoding="utf-8")
    args = [{"PAUSES": str(tmp_path / "p.yaml"), "RULES": str(tmp_path / "r.yaml")}.get(a, a)
            for a in args]
    result = etiquette("batch", str(SAMPLE), *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_help_lists_the_video_options():
    result = etiquette("batch", "--help")
    for option in ("--absence-threshold", "--presence-rules", "--roi", "--pauses",
                   "--evidence-dir"):
        assert option in result.stdout

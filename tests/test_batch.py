"""`etiquette batch` on the sample recordings: exactly the expected incidents, bad files
reported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from etiquette.core.records import IncidentKind
from etiquette.core.session_records import SESSION_RECORD

from factories import ROOT, SAMPLES

FIELDS = {"id", "source", "window_id", "kind", "rule_id", "rule_name", "phrase", "speaker",
          "offset_s", "end_s", "at", "transcript", "score", "severity", "deduction", "explanation",
          "hit_start", "hit_end"}


def etiquette(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "etiquette.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def incidents(lines: list[dict]) -> list[dict]:
    """The incident lines of batch output (not its error, incomplete or session lines)."""
    return [line for line in lines if line["kind"] in set(IncidentKind)]


@pytest.fixture(scope="module")
def sample_lines(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    out = tmp_path_factory.mktemp("batch") / "incidents.jsonl"
    # The sample counter video is 90 s long: its expected off_post incident is for a 20 s
    # threshold (the threshold applies to video only; speech expectations are unaffected).
    result = etiquette("batch", "recordings_sample/", "--out", str(out), "--jobs", "2",
                       "--absence-threshold", "20")
    return result, read_jsonl(out)


@pytest.fixture(scope="module")
def sample_run(sample_lines) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """The run and its incident lines (each recording's session line left out)."""
    result, lines = sample_lines
    return result, [x for x in lines if x["kind"] != SESSION_RECORD]


@pytest.mark.slow
def test_samples_give_exactly_the_expected_incidents(sample_run, expected_samples):
    result, incidents = sample_run
    assert result.returncode == 0, result.stderr
    # On one microphone the staff's words are the staff's or, where attribution cannot tell,
    # unknown (flagged as uncertain); never the citizen's.
    got = Counter((Path(i["source"]).name, i["kind"], i["rule_id"],
                   "staff" if i["speaker"] == "unknown" else i["speaker"]) for i in incidents)
    want = Counter((f, e["kind"], e["rule_id"], e["speaker"])
                   for f, items in expected_samples.items() for e in items)
    assert got == want


@pytest.mark.slow
def test_phrase_incidents_point_at_the_second_it_was_said(sample_run, expected_samples):
    _, incidents = sample_run
    for inc in incidents:
        if inc["kind"] != "forbidden_phrase":
            continue
        turn = next(e for e in expected_samples[Path(inc["source"]).name]
                    if e["rule_id"] == inc["rule_id"])
        assert turn["offset_s"] - 1.0 <= inc["offset_s"] <= inc["end_s"] <= turn["end_s"] + 1.0
        assert (inc["phrase"] in inc["explanation"]
                or inc["phrase"].replace("，", "") in inc["explanation"])


@pytest.mark.slow
def test_every_incident_line_carries_the_documented_fields(sample_run):
    _, incidents = sample_run
    assert incidents
    for inc in incidents:
        assert FIELDS <= set(inc)
        assert inc["source"].startswith("recordings_sample/")
        assert inc["speaker"] in {"staff", "citizen", "unknown"}
        assert 0 < inc["score"] <= 1 and inc["deduction"] > 0
    assert len({i["id"] for i in incidents}) == len(incidents)


@pytest.mark.slow
def test_phrase_incidents_carry_the_span_of_the_matched_words(sample_run):
    """transcript[hit_start:hit_end] is what the explanation says matched; no span otherwise."""
    _, incidents = sample_run
    phrases = [i for i in incidents if i["kind"] == "forbidden_phrase"]
    assert phrases
    for inc in phrases:
        matched = inc["explanation"].split("「", 1)[1].split("」", 1)[0]
        assert 0 <= inc["hit_start"] < inc["hit_end"] <= len(inc["transcript"])
        assert inc["transcript"][inc["hit_start"]:inc["hit_end"]] == matched
    for inc in incidents:
        if inc["kind"] != "forbidden_phrase":
            assert inc["hit_start"] is None and inc["hit_end"] is None


@pytest.mark.slow
def test_citizen_saying_forbidden_words_gives_no_incident(sample_run, expected_samples):
    _, incidents = sample_run
    assert expected_samples["window03_citizen_rude.mp3"] == []
    assert not [i for i in incidents if "window03" in i["source"]]
    assert not [i for i in incidents if i["speaker"] == "citizen"]


@pytest.mark.slow
def test_each_recording_gives_one_session_line_after_its_incidents(sample_lines):
    """Sessions as records (issue 19): one line per recording with speech, after that file's
    incidents, naming them; talk time per side and each check passed or failed."""
    _, lines = sample_lines
    by_file: dict[str, list[dict]] = {}
    for line in lines:
        by_file.setdefault(Path(line["source"]).name, []).append(line)
    assert len(by_file) == 6
    silent = {"window06_counter.mp4"}  # a camera's video without speech: no session
    assert {n for n, got in by_file.items() if got[-1]["kind"] == SESSION_RECORD} == set(
        by_file) - silent
    for name, got in by_file.items():
        if name in silent:
            continue
        *incidents, session = got
        assert [x["kind"] for x in incidents if x["kind"] == SESSION_RECORD] == []
        spoken = [x for x in incidents if x["kind"] != "off_post"]
        assert sorted(session["incident_ids"]) == sorted(x["id"] for x in spoken), name
        assert session["staff_talk_s"] > 0 and session["start_at"] < session["end_at"]
        failed = {c["kind"] for c in session["checks"] if c["state"] == "failed"}
        assert failed == {x["kind"] for x in spoken}, name
        assert {"missing_greeting", "missing_farewell", "forbidden_phrase"} <= {
            c["kind"] for c in session["checks"]}
        staff = [t for t in session["turns"] if t["speaker"] != "citizen"]
        assert staff and all(t["text"] is not None for t in staff)
    # The citizen's words are not transcribed where no check needs them: on the timeline as
    # speech without text.
    rude = by_file["window03_citizen_rude.mp3"][-1]
    assert rude["citizen_talk_s"] > 0 or any(t["speaker"] == "citizen" for t in rude["turns"])


@pytest.mark.slow
def test_a_summary_table_is_printed(sample_run):
    result, _ = sample_run
    assert "分析汇总" in result.stderr and "window02_rude.flac" in result.stderr
    assert "6 个文件成功，0 个失败" in result.stderr


@pytest.mark.slow
def test_bad_files_are_reported_and_the_run_goes_on(tmp_path):
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(SAMPLES / "window05_session.ogg", folder / "nested" / "good.ogg")
    (folder / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt garbage" * 10)
    (folder / "empty.mp3").write_bytes(b"")
    (folder / "notes.txt").write_text("not media")  # folders contribute media files only
    (tmp_path / "readme.pdf").write_bytes(b"%PDF-1.4")
    out = tmp_path / "out.jsonl"
    result = etiquette("batch", str(folder), str(tmp_path / "readme.pdf"),
                       str(tmp_path / "missing.wav"), "--out", str(out))
    assert result.returncode == 1
    lines = read_jsonl(out)
    errors = {Path(line["source"]).name: line["error"] for line in lines if line["kind"] == "error"}
    assert set(errors) == {"corrupt.wav", "empty.mp3", "readme.pdf", "missing.wav"}
    assert "unsupported" in errors["readme.pdf"] and "empty" in errors["empty.mp3"]
    for name in errors:
        assert name in result.stderr
    assert {line["rule_id"] for line in incidents(lines)} == {"F4-1", "F6-2"}


@pytest.mark.slow
def test_a_truncated_file_is_reported_incomplete_and_the_others_analysed(tmp_path):
    """The first 383,517 bytes of window01_polite.wav (header: 29.7 s; 6.0 s there) beside a
    whole recording: both analysed, the cut one reported with what it lacks and no farewell
    judged missing, and the exit status says something was wrong."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SAMPLES / "window05_session.ogg", folder / "good.ogg")
    (folder / "cut.wav").write_bytes((SAMPLES / "window01_polite.wav").read_bytes()[:383_517])
    out = tmp_path / "out.jsonl"
    result = etiquette("batch", str(folder), "--out", str(out))
    assert result.returncode == 1, result.stderr
    lines = read_jsonl(out)
    by_file: dict[str, list[dict]] = {}
    for line in lines:
        by_file.setdefault(Path(line["source"]).name, []).append(line)
    assert {line["rule_id"] for line in incidents(by_file["good.ogg"])} == {"F4-1", "F6-2"}
    (incomplete,) = [line for line in by_file["cut.wav"] if line["kind"] == "incomplete"]
    assert incomplete["declared_s"] == pytest.approx(29.7, abs=0.05)
    assert incomplete["decoded_s"] == pytest.approx(6.0, abs=0.05)
    assert incomplete["not_judged"] == ["missing_farewell"] and incomplete["decode_errors"] == 0
    assert "录音不完整" in incomplete["error"] and "29.7" in incomplete["error"]
    assert not [line for line in by_file["cut.wav"] if line["kind"].startswith("missing_")]
    assert "其中 1 个不完整" in result.stderr and "0 个失败" in result.stderr
    assert "cut.wav" in result.stderr and "不完整" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_rules_file_fails_at_start_up(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: x\ngroups: {}\nforbidden: [{id: F9, group: 1, name: x}]\n",
                   encoding="utf-8")
    result = etiquette("batch", "recordings_sample/", "--rules", str(bad))
    assert result.returncode == 2
    assert "F9" in result.stderr and "phrases" in result.stderr


def test_help_lists_the_options():
    result = etiquette("batch", "--help")
    assert result.returncode == 0
    for option in ("--out", "--jobs", "--staff-channel", "--model", "--beam-size"):
        assert option in result.stdout


def test_a_model_that_cannot_load_fails_at_start_up_saying_why(tmp_path):
    result = etiquette("batch", "recordings_sample/", "--compute-type", "int3")
    assert result.returncode == 2
    assert "模型不可用" in result.stderr and "int3" in result.stderr
    assert "Traceback" not in result.stderr

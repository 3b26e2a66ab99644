"""The JSONL sink: batch's output on a stream, live's journal on a path, one line format."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

from etiquette.core.records import Incident, IncidentKind, Severity, Speaker
from etiquette.sinks.jsonl import JsonlSink


def incident(n: int = 0) -> Incident:
    return Incident(id=f"id-{n}", source="w-a.wav", window_id="w-a",
                    kind=IncidentKind.FORBIDDEN_PHRASE, rule_id="F1-1", rule_name="禁用语：不知道",
                    phrase="不知道", speaker=Speaker.STAFF, offset_s=12.4 + n, end_s=13.1 + n,
                    at=None, transcript="这个我也不知道", score=0.93, severity=Severity.MAJOR,
                    deduction=2.0, explanation="「不知道」匹配「不知道」", hit_start=4, hit_end=7,
                    evidence={"clip": f"/evidence/id-{n}_clip.wav"})


def test_a_line_is_the_record_as_json_with_chinese_as_it_is() -> None:
    out = io.StringIO()
    JsonlSink(out).write([{"id": "a", "phrase": "不知道", "score": 0.93, "at": None}])
    # The exact bytes batch and the journal have always written: analysts' tools read them.
    assert out.getvalue() == '{"id": "a", "phrase": "不知道", "score": 0.93, "at": null}\n'


def test_incident_lines_read_back_as_the_incidents(tmp_path: Path) -> None:
    out = tmp_path / "incidents.jsonl"
    with out.open("w", encoding="utf-8") as stream:
        sink = JsonlSink(stream)
        sink.write(i.to_json() for i in (incident(0), incident(1)))  # batch passes a generator
        sink.write([incident(2).to_json()])
        # Flushed by each write: another reader sees the lines while the stream is still open.
        lines = out.read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == [incident(n).to_json() for n in range(3)]


def test_the_stream_is_left_open_for_its_caller() -> None:
    out = io.StringIO()
    JsonlSink(out).write([{"id": "a"}])
    assert not out.closed


def test_a_journal_appears_with_its_first_line_and_a_restart_appends(tmp_path: Path) -> None:
    journal = tmp_path / "live" / "incidents.jsonl"
    sink = JsonlSink(journal)
    assert not journal.parent.exists()  # nothing made before there is something to write
    sink.write([incident(0).to_json()])
    JsonlSink(journal).write([incident(1).to_json()])  # the next start of the site
    lines = journal.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["id-0", "id-1"]


def test_a_journal_is_not_held_open_between_writes(tmp_path: Path) -> None:
    journal = tmp_path / "incidents.jsonl"
    JsonlSink(journal).write([incident(0).to_json()])
    # Closed when `write` returns: the line is the file's for any reader, and a day of
    # incidents holds no descriptor.
    held = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    assert str(journal.resolve()) not in held
    assert json.loads(journal.read_text(encoding="utf-8"))["id"] == "id-0"


def test_writes_from_many_threads_keep_each_write_together(tmp_path: Path) -> None:
    journal = tmp_path / "incidents.jsonl"
    sink = JsonlSink(journal)

    def window(w: int) -> None:
        for n in range(50):
            sink.write([{"window": w, "n": n, "part": p} for p in range(3)])

    threads = [threading.Thread(target=window, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 8 * 50 * 3
    for i in range(0, len(rows), 3):
        first = rows[i]
        assert rows[i:i + 3] == [{**first, "part": p} for p in range(3)]

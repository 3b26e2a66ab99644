"""The tee: one batch of records to several sinks, in order; and sinks mixed behind it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from etiquette.sinks import FILE_ERROR, FILE_INCOMPLETE, Sink, incidents
from etiquette.sinks.jsonl import JsonlSink
from etiquette.sinks.outbox import Outbox
from etiquette.sinks.tee import TeeSink

Record = dict[str, Any]
FILE_ERROR_LINE: Record = {"source": "bad.wav", "kind": FILE_ERROR, "error": "无法解码"}


class Collect:
    def __init__(self) -> None:
        self.batches: list[list[Record]] = []

    def write(self, records: Iterable[Record]) -> None:
        self.batches.append(list(records))


class Refuse:
    def write(self, records: Iterable[Record]) -> None:
        raise OSError("disk full")


def test_every_sink_gets_every_record_even_from_a_generator() -> None:
    first, second = Collect(), Collect()
    TeeSink(first, second).write({"id": str(n)} for n in range(3))
    assert first.batches == second.batches == [[{"id": "0"}, {"id": "1"}, {"id": "2"}]]


def test_a_failing_sink_keeps_what_the_sinks_before_it_wrote() -> None:
    before, after = Collect(), Collect()
    with pytest.raises(OSError, match="disk full"):
        TeeSink(before, Refuse(), after).write([{"id": "a"}])
    # In order, stopped at the failure: what came before has the records, what came after not.
    assert before.batches == [[{"id": "a"}]]
    assert after.batches == []


def test_a_file_error_goes_to_the_jsonl_output_but_not_to_the_outbox(tmp_path: Path) -> None:
    out = io.StringIO()
    # Never started: nothing is sent, the entries stay pending on disk.
    outbox = Outbox(tmp_path / "outbox", "http://127.0.0.1:9", "etq_x_y")
    sinks: list[Sink] = [JsonlSink(out), outbox]
    TeeSink(*sinks).write([{"id": "incident-1", "kind": "forbidden_phrase"}, FILE_ERROR_LINE])
    assert [json.loads(line)["kind"] for line in out.getvalue().splitlines()] == [
        "forbidden_phrase", FILE_ERROR]
    assert outbox.pending() == 1


def test_incidents_leave_out_only_file_errors_and_incomplete_files() -> None:
    incomplete = {"source": "cut.wav", "kind": FILE_INCOMPLETE, "error": "录音不完整"}
    records = [{"kind": "off_post"}, FILE_ERROR_LINE, {"kind": "missing_greeting"}, incomplete,
               {}]
    assert list(incidents(records)) == [{"kind": "off_post"}, {"kind": "missing_greeting"}, {}]

"""The tee: one batch of records to several sinks (batch: the JSONL file, then the service)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from etiquette.sinks import Sink


class TeeSink:
    """Writes every batch of records to each sink in turn, in the order given.

    The records are read once (they may come from a generator) and handed to every sink. A
    sink that raises stops the write there: the sinks before it have the records, the ones
    after it do not; put the local, cheap sink first.
    """

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        rows = list(records)
        for sink in self.sinks:
            sink.write(rows)

"""Where incidents go: adapters around the pipeline's output, each one a `Sink`.

`jsonl.JsonlSink` (batch's output, live's journal), `http.HttpSink` (batch posting to the
supervision service), `outbox.Outbox` (live: durable on disk, then posted) and `tee.TeeSink`
(one batch of records to several of them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

# The `kind` of batch's line for a file it could not analyse (`batch.FileError`): it belongs in
# the JSONL output, but it is no incident, so the service's sinks pass over it.
FILE_ERROR = "error"


class Sink(Protocol):
    """Takes records as the JSON objects they are written as (`Incident.to_json()`, and in
    batch also file errors and transcripts). `write` returns once the sink has done with them
    what it promises (a line flushed, a post answered, an entry on disk); a sink that owns a
    stream or a connection is closed by whoever made it."""

    def write(self, records: Iterable[dict[str, Any]]) -> None: ...


def incidents(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The records that are incidents: batch's file errors left out."""
    return (r for r in records if r.get("kind") != FILE_ERROR)

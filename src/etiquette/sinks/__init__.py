"""Where incidents go: adapters around the pipeline's output, each one a `Sink`.

`jsonl.JsonlSink` (batch's output, live's journal), `http.HttpSink` (batch posting to the
supervision service), `outbox.Outbox` (live: durable on disk, then posted) and `tee.TeeSink`
(one batch of records to several of them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from etiquette.core.damage import Damage
from etiquette.core.session_records import SESSION_RECORD

# The `kind` of batch's line for a file it could not analyse (`batch.FileError`), and of the
# line for a recording analysed only in part, its audio or pictures cut short or damaged
# (`incomplete_record`: batch's `incomplete_line`, live's journal): they belong in the JSONL
# output, but they are no incidents, so the service's sinks pass over them. A session's line
# (SESSION_RECORD) is no incident either: the service's sinks post it to its own route.
FILE_ERROR = "error"
FILE_INCOMPLETE = "incomplete"
NOT_INCIDENTS = frozenset({FILE_ERROR, FILE_INCOMPLETE, SESSION_RECORD})


def incomplete_record(source: str, damage: Damage | Sequence[Damage], decoded_s: float,
                      not_judged: Iterable[str]) -> dict[str, Any]:
    """The line saying that `source` was cut short or damaged (`damage`: its audio's, its
    pictures', or both): what the user is told (Chinese), the length its header declares and
    the length decoded, its decode errors and gaps, the spans of pictures lost (`unseen`, where
    no off-post is judged), and `not_judged`, the kinds of incident left unjudged for want of
    what was lost (batch writes it after a file's incidents, live after a session's)."""
    damages = (damage,) if isinstance(damage, Damage) else tuple(damage)
    declared = next((d.declared_s for d in damages if d.declared_s is not None), None)
    return {"source": source, "kind": FILE_INCOMPLETE,
            "error": "；".join(d.message() for d in damages),
            "declared_s": None if declared is None else round(declared, 2),
            "decoded_s": round(decoded_s, 2), "decode_errors": sum(d.errors for d in damages),
            "gaps": sum(d.gaps for d in damages),
            "unseen": [[round(a, 2), None if b is None else round(b, 2)]
                       for d in damages for a, b in d.lost_spans],
            "not_judged": list(not_judged)}


class Sink(Protocol):
    """Takes records as the JSON objects they are written as (`Incident.to_json()`, and in
    batch also file errors and transcripts). `write` returns once the sink has done with them
    what it promises (a line flushed, a post answered, an entry on disk); a sink that owns a
    stream or a connection is closed by whoever made it."""

    def write(self, records: Iterable[dict[str, Any]]) -> None: ...


def incidents(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The records that are incidents: batch's file errors, incomplete files and sessions left
    out."""
    return (r for r in records if r.get("kind") not in NOT_INCIDENTS)


def deliverable(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The records the supervision service takes: incidents and sessions, in their order."""
    return (r for r in records
            if r.get("kind") == SESSION_RECORD or r.get("kind") not in NOT_INCIDENTS)

"""The JSONL sink: one JSON object a line, the one writer of batch's output and live's journal."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any


class JsonlSink:
    """Records as UTF-8 JSON lines (Chinese as it is, not escaped); thread-safe, each `write`'s
    lines together.

    Given a stream (batch: `--out` or stdout), it writes there and flushes after every `write`,
    so a crash loses no file already finished; the stream is its caller's to close. Given a
    path (live's journal), it appends and closes the file after every `write`: the folder and
    the file appear with the first record, nothing is held open for a day, and a line is in
    the file for any reader once `write` returns.
    """

    def __init__(self, target: IO[str] | Path) -> None:
        self._target = target
        self._lock = threading.Lock()

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        with self._lock, self._open() as stream:
            for r in records:
                stream.write(json.dumps(r, ensure_ascii=False) + "\n")
            stream.flush()

    def _open(self) -> AbstractContextManager[IO[str]]:
        if isinstance(self._target, Path):
            self._target.parent.mkdir(parents=True, exist_ok=True)
            return self._target.open("a", encoding="utf-8")
        return nullcontext(self._target)

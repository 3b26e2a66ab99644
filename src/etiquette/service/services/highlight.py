"""Where in the transcript the rule hit, for incident lines that do not say so themselves.

An incident line carries its span as `hit_start`/`hit_end` (etiquette.core.incidents). Lines
written before that field existed (old JSONL files, outbox entries queued before an upgrade)
name the matched characters only in their explanation («「不只道」匹配「不知道」…»,
etiquette.core.matching); ingest locates those here, once, and stores the span.
"""

from __future__ import annotations

import re

_QUOTED = re.compile(r"「([^」]{1,200})」")


def hit_span(transcript: str, explanation: str, phrase: str | None) -> tuple[int, int] | None:
    """[start, end) of the matched words in `transcript`, or None where nothing can be located."""
    candidates: list[str] = []
    first = _QUOTED.search(explanation or "")
    if first:
        candidates.append(first.group(1))
    if phrase:
        candidates.append(phrase)
    for text in candidates:
        at = transcript.find(text)
        if text and at >= 0:
            return at, at + len(text)
    return None

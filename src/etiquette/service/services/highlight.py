"""Where in the transcript the rule hit, for the reviewer's highlight.

An incident line carries the matched characters in its explanation («「不只道」匹配「不知道」…»,
etiquette.matching) rather than as offsets; a pipeline may also send `hit_start`/`hit_end`.
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

"""Two versions of a YAML document side by side: the lines that differ, with a few lines of
context around them, and within a changed line the characters that changed."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

CONTEXT_LINES = 3


@dataclass(frozen=True)
class Side:
    number: int | None  # 1-based; None where this side has no line
    parts: tuple[tuple[str, bool], ...]  # (text, changed)


@dataclass(frozen=True)
class Row:
    tag: str  # equal | replace | delete | insert | skip (lines left out between hunks)
    old: Side
    new: Side
    skipped: int = 0


def _marked(a: str, b: str) -> tuple[Side, Side]:
    """The characters of two versions of a line that differ, marked on each side."""
    old: list[tuple[str, bool]] = []
    new: list[tuple[str, bool]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if i2 > i1:
            old.append((a[i1:i2], tag != "equal"))
        if j2 > j1:
            new.append((b[j1:j2], tag != "equal"))
    return Side(None, tuple(old)), Side(None, tuple(new))


def side_by_side(old_text: str, new_text: str) -> list[Row]:
    """The rows of a side-by-side diff; empty if the texts are the same."""
    a, b = old_text.splitlines(), new_text.splitlines()
    rows: list[Row] = []
    last = 0  # the first old line not yet shown
    none = Side(None, ())
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(
            CONTEXT_LINES):
        if group[0][1] > last:
            rows.append(Row("skip", none, none, skipped=group[0][1] - last))
        for tag, i1, i2, j1, j2 in group:
            for k in range(max(i2 - i1, j2 - j1)):
                i, j = i1 + k, j1 + k
                left = Side(i + 1, ((a[i], tag != "equal"),)) if i < i2 else none
                right = Side(j + 1, ((b[j], tag != "equal"),)) if j < j2 else none
                if tag == "replace" and i < i2 and j < j2:
                    marked_left, marked_right = _marked(a[i], b[j])
                    left = Side(i + 1, marked_left.parts)
                    right = Side(j + 1, marked_right.parts)
                rows.append(Row(tag if left.number and right.number or tag == "equal" else
                                ("delete" if left.number else "insert"), left, right))
        last = group[-1][2]
    if rows and last < len(a):
        rows.append(Row("skip", none, none, skipped=len(a) - last))
    return rows

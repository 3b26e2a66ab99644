"""python -m synth SPEC.yaml OUT_DIR [--labels FILE] [--expected FILE]   (scripts/ on sys.path)

SPEC.yaml:
  defaults: {layout: stereo, sample_rate: 16000, snr_db: 20, crosstalk_db: -14, seed: 1}
  sessions:
    - file: demo.ogg
      turns:
        - {speaker: staff, text: 您好，请问您需要办理什么业务, required: [R-greeting]}
        - {speaker: citizen, text: 我想办理社保卡, pause_before_s: 0.5}
        - {speaker: staff, text: 不知道，问别人去, voice: espeak, expect: [F1-1, F1-2]}
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from .driver import generate
from .session import Session


def main() -> None:
    ap = argparse.ArgumentParser(prog="synth", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--labels", type=Path, help="default: OUT_DIR/labels.yaml")
    ap.add_argument("--expected", type=Path, help="also write incidents only, per file")
    a = ap.parse_args()
    spec = yaml.safe_load(a.spec.read_text(encoding="utf-8"))
    defaults = spec.get("defaults", {})
    sessions = [Session.from_dict(s, defaults) for s in spec["sessions"]]
    generate(sessions, a.out_dir, a.labels or a.out_dir / "labels.yaml", a.expected,
             check_tags=spec.get("tags_checked", True))


if __name__ == "__main__":
    main()

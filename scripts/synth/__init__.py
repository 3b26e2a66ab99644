"""Synthetic service-window sessions for evaluation: declarative spec -> audio + labels.

Runs in the TTS environment (.venv-tts, see scripts/make_tts_venv.sh), never in the project's
own .venv. Entry points: `python -m synth SPEC.yaml OUT_DIR` (with scripts/ on sys.path), or
`synth.build(Session(...), out_dir)` from the generators in recordings_sample/ and
benchmarks/evalset/.
"""

from .session import Session, Turn, build, expected_incidents, render
from .voices import VOICES, Prosody, pinyin_tone3, synthesize

__all__ = ["Session", "Turn", "build", "render", "expected_incidents", "VOICES", "Prosody",
           "pinyin_tone3", "synthesize"]

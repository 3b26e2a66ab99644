"""What the tests build their inputs from: speech and video files, transcripts, counter scenes,
service records; and where the repository's own data lies."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "recordings_sample"
DATA = ROOT / "tests" / "data"

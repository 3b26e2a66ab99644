from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from etiquette.matching import PhraseMatcher
from etiquette.records import Speaker, Transcript, Word
from etiquette.rules import RuleSet, load_rules

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "recordings_sample"


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="session")
def matcher(rules: RuleSet) -> PhraseMatcher:
    return PhraseMatcher(rules)


@pytest.fixture(scope="session")
def recogniser():  # type: ignore[no-untyped-def]
    from etiquette.transcribe import Recogniser, RecogniserOptions

    return Recogniser(RecogniserOptions(cpu_threads=2))


@pytest.fixture(scope="session")
def expected_samples() -> dict[str, list[dict]]:
    return yaml.safe_load((SAMPLES / "expected.yaml").read_text(encoding="utf-8"))


def said(text: str, speaker: Speaker = Speaker.STAFF, start_s: float = 0.0,
         end_s: float | None = None) -> Transcript:
    """A transcript of `text`, one word per character spread evenly over the utterance."""
    end_s = start_s + 0.25 * len(text) if end_s is None else end_s
    step = (end_s - start_s) / max(1, len(text))
    words = tuple(Word(c, start_s + k * step, start_s + (k + 1) * step, 0.9) for k, c in enumerate(text))
    return Transcript("test.wav", "w1", speaker, 0, start_s, end_s, words)

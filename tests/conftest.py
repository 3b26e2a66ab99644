from __future__ import annotations

import pytest
import yaml

from etiquette.core.matching import PhraseMatcher
from etiquette.core.rules import RuleSet, load_rules

from factories import SAMPLES


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="session")
def matcher(rules: RuleSet) -> PhraseMatcher:
    return PhraseMatcher(rules)


@pytest.fixture(scope="session")
def recogniser():  # type: ignore[no-untyped-def]
    from etiquette.speech.recogniser import Recogniser, RecogniserOptions

    return Recogniser(RecogniserOptions(cpu_threads=2))


@pytest.fixture(scope="session")
def expected_samples() -> dict[str, list[dict]]:
    return yaml.safe_load((SAMPLES / "expected.yaml").read_text(encoding="utf-8"))

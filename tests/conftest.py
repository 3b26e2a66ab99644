from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import yaml

from etiquette.core.matching import PhraseMatcher
from etiquette.core.rules import RuleSet, load_rules

from factories import SAMPLES
from factories.microphone import PipeSource, PulseServer, pipe_sources, pulse_server


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="session")
def matcher(rules: RuleSet) -> PhraseMatcher:
    return PhraseMatcher(rules)


@pytest.fixture(scope="session")
def wordings(rules: RuleSet) -> PhraseMatcher:
    """The rules' phrases and variants alone, without the meaning model: for what they decide
    on their own (a near miss's acoustic check, halves kept apart by a long pause)."""
    return PhraseMatcher(rules.model_copy(update={"meaning": None}))


@pytest.fixture(scope="session")
def recogniser():  # type: ignore[no-untyped-def]
    from etiquette.speech.recogniser import Recogniser, RecogniserOptions

    return Recogniser(RecogniserOptions(cpu_threads=2))


@pytest.fixture(scope="session")
def expected_samples() -> dict[str, list[dict]]:
    return yaml.safe_load((SAMPLES / "expected.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def pulse() -> Iterator[PulseServer]:
    """A PulseAudio server for this test session; this process's PortAudio talks to it."""
    with pulse_server() as server:
        yield server


@pytest.fixture
def pipe_source(pulse: PulseServer) -> Iterator[Callable[..., PipeSource]]:
    """Makes pipe sources (microphones) win1, win2, …; gone when the test ends."""
    with pipe_sources(pulse) as make:
        yield make

"""The turn-taking checks on a real stereo recording (tests/data/turn_checks.ogg, rendered by
benchmarks/turn_checks/make_turns.py --half fixture): the staff say 嗯 over the citizen, answer a
question after a 4.5 s pause, talk over the citizen for 2.5 s, and leave a question unanswered
for 11 s until the citizen asks again. Batch and live give the same incidents."""

from __future__ import annotations

import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from etiquette.core.records import Incident, IncidentKind, Speaker
from etiquette.pipeline import Analysis, PipelineOptions, SpeechPipeline

from factories.live import judged_live

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent / "data"
RECORDING = DATA / "turn_checks.ogg"
STARTED = datetime(2026, 12, 3, 1, 30, tzinfo=UTC)
CHECKS = (IncidentKind.INTERRUPTION, IncidentKind.UNANSWERED_QUESTION)


def _labels() -> dict[str, float]:
    """Where the script put each case: the start of the line tagged with it."""
    entry = yaml.safe_load((DATA / "turn_checks_labels.yaml").read_text(encoding="utf-8"))
    turns = entry["files"][RECORDING.name]["turns"]
    at = {tag: t["start_s"] for t in turns for tag in (*t["expect"], *t["decoys"])}
    at["answered_question"] = next(t["start_s"] for t in turns if "多长时间" in t["text"])
    return at


@pytest.fixture(scope="module")
def speech(recogniser, tmp_path_factory) -> SpeechPipeline:  # type: ignore[no-untyped-def]
    clips = tmp_path_factory.mktemp("clips")
    return SpeechPipeline(PipelineOptions(clip_dir=clips), recogniser=recogniser)


@pytest.fixture(scope="module")
def analysis(speech: SpeechPipeline) -> Analysis:
    return speech.analyse(RECORDING, "w1", STARTED)


def _checks(incidents: tuple[Incident, ...] | list[Incident]) -> list[Incident]:
    return [i for i in incidents if i.kind in CHECKS]


def test_staff_talking_over_the_citizen_is_one_interruption_with_both_microphones_clip(
        analysis: Analysis):
    at = _labels()
    (found,) = [i for i in analysis.incidents if i.kind == IncidentKind.INTERRUPTION]
    assert found.offset_s == pytest.approx(at["interruption"], abs=1.0)
    assert found.speaker == Speaker.STAFF and "重叠" in found.explanation
    with wave.open(found.evidence["clip"], "rb") as clip:  # the reviewer hears both sides
        assert clip.getnchannels() == 2
        assert clip.getnframes() / clip.getframerate() >= found.end_s - found.offset_s


def test_back_channel_over_the_citizen_is_no_interruption(analysis: Analysis):
    backchannel = _labels()["backchannel"]
    assert not [i for i in _checks(analysis.incidents) if abs(i.offset_s - backchannel) < 3.0]


def test_a_question_left_unanswered_is_flagged_and_one_answered_after_a_pause_is_not(
        analysis: Analysis):
    at = _labels()
    (found,) = [i for i in analysis.incidents if i.kind == IncidentKind.UNANSWERED_QUESTION]
    assert found.offset_s == pytest.approx(at["unanswered_question"], abs=1.0)
    assert found.explanation.startswith("工作人员在群众问「") and "秒内未回应" in found.explanation
    assert found.transcript and "clip" in found.evidence


def test_only_the_citizen_speech_the_checks_need_is_transcribed(analysis: Analysis):
    # The citizen's turn that ends with the unanswered question (what they said on after the
    # staff cut in, then the question), and none of their earlier speech: the question that was
    # answered is not transcribed (batch speed: the phrase rules judge the staff only).
    at = _labels()
    citizen = [t.start_s for t in analysis.transcripts if t.speaker == Speaker.CITIZEN]
    assert any(abs(s - at["unanswered_question"]) < 1.0 for s in citizen)
    assert all(s > at["interruption"] for s in citizen)


def test_live_gives_the_same_incidents_as_batch(speech: SpeechPipeline, analysis: Analysis,
                                                tmp_path: Path):
    emitted, monitor = judged_live(speech, RECORDING, STARTED, tmp_path)
    live = sorted((i.kind, round(i.offset_s)) for i in _checks(emitted))
    batch = sorted((i.kind, round(i.offset_s)) for i in _checks(analysis.incidents))
    assert live == batch and len(batch) == 2
    assert all("clip" in i.evidence for i in _checks(emitted))
    # The session judged, nothing of it is kept: no turns, no citizen audio held.
    assert not monitor._turns and not monitor._held

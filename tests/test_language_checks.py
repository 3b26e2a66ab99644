"""未使用普通话 (non_mandarin) on a real stereo recording through batch (tests/data/
language_checks.ogg, rendered by benchmarks/language_checks/make_language.py --half fixture):
the staff greet in Mandarin, the citizen speaks English, the staff answer one line in English,
say 好, then a Mandarin line with a name said in Cantonese. The real recogniser identifies each
utterance's language; batch writes it with the transcripts; live flags the same line."""

from __future__ import annotations

import json
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from etiquette.batch import collect, run_batch
from etiquette.core.records import IncidentKind
from etiquette.pipeline import PipelineOptions, SpeechPipeline
from etiquette.sinks.jsonl import JsonlSink

from factories.live import judged_live

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent / "data"
RECORDING = DATA / "language_checks.ogg"
STARTED = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


def _turns() -> list[dict[str, Any]]:
    entry = yaml.safe_load((DATA / "language_checks_labels.yaml").read_text(encoding="utf-8"))
    turns: list[dict[str, Any]] = entry["files"][RECORDING.name]["turns"]
    return turns


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def speech(recogniser, tmp_path_factory) -> SpeechPipeline:  # type: ignore[no-untyped-def]
    clips = tmp_path_factory.mktemp("clips")
    return SpeechPipeline(PipelineOptions(clip_dir=clips), recogniser=recogniser)


@pytest.fixture(scope="module")
def batch(speech: SpeechPipeline, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The incident lines and the transcript lines batch writes for the recording."""
    out = tmp_path_factory.mktemp("language")
    files, errors = collect([RECORDING])
    with (out / "incidents.jsonl").open("w", encoding="utf-8") as incidents, \
            (out / "transcripts.jsonl").open("w", encoding="utf-8") as transcripts:
        run_batch(speech, files, errors, JsonlSink(incidents), window_id="w1",
                  recorded_at=STARTED, transcripts=JsonlSink(transcripts))
    return _read(out / "incidents.jsonl"), _read(out / "transcripts.jsonl")


def test_the_staff_line_in_english_is_one_non_mandarin_incident_with_its_clip(batch):
    incidents, _ = batch
    english = next(t for t in _turns() if t["expect"] == ["non_mandarin"])
    (found,) = [i for i in incidents if i["kind"] == "non_mandarin"]
    assert found["speaker"] == "staff" and found["rule_name"] == "未使用普通话"
    assert found["offset_s"] == pytest.approx(english["start_s"], abs=1.0)
    assert "不是普通话的概率" in found["explanation"] and "英语" in found["explanation"]
    with wave.open(found["evidence"]["clip"], "rb") as clip:  # the reviewer hears the line
        assert clip.getnframes() / clip.getframerate() >= found["end_s"] - found["offset_s"]


def test_mandarin_a_name_in_cantonese_a_short_reply_and_the_citizen_english_are_not_flagged(
        batch):
    incidents, _ = batch
    flagged = [i for i in incidents if i["kind"] == "non_mandarin"]
    for turn in _turns():
        if turn["expect"]:
            continue
        assert not [i for i in flagged if i["offset_s"] < turn["end_s"]
                    and turn["start_s"] < i["end_s"]], turn["text"]


def test_transcripts_carry_the_language_identified_and_its_probability(batch):
    _, transcripts = batch
    turns = _turns()
    greeting, english = turns[0], next(t for t in turns if t["expect"])

    def heard(turn: dict[str, Any]) -> dict[str, Any]:
        return next(t for t in transcripts
                    if t["start_s"] < turn["end_s"] and turn["start_s"] < t["end_s"])

    assert heard(greeting)["language"] == "zh" and heard(greeting)["language_probability"] > 0.5
    said = heard(english)
    assert said["language"] != "zh" and 0 < said["language_probability"] <= 1
    # Mandarin's probability is listed wherever it ranks: what the check reads.
    assert dict(map(tuple, said["languages"]))["zh"] < 0.1


def test_live_flags_the_same_line_with_its_clip(speech: SpeechPipeline, batch,
                                                 tmp_path: Path):
    incidents, _ = batch
    emitted, _ = judged_live(speech, RECORDING, STARTED, tmp_path)
    live = [i for i in emitted if i.kind == IncidentKind.NON_MANDARIN]
    assert [round(i.offset_s) for i in live] == [
        round(i["offset_s"]) for i in incidents if i["kind"] == "non_mandarin"]
    assert all("clip" in i.evidence for i in live)

"""Recordings cut short or damaged (issue 17, item 6): reported as incomplete, what was read is
analysed, and no greeting or farewell is judged missing on audio that is not there.

window01_polite (29.7 s: greeting at 0.5 s, farewell at 26.6 s, no incident) in the containers
users bring, each whole, cut off and garbled, through the real speech path."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from etiquette.pipeline import Analysis, SpeechPipeline
from etiquette.speech.recogniser import Recogniser

from factories import SAMPLES
from factories.media import FASTSTART, cut_short, garble, write_media

pytestmark = pytest.mark.slow

POLITE = SAMPLES / "window01_polite.wav"


@pytest.fixture(scope="module")
def pipeline(recogniser: Recogniser) -> SpeechPipeline:
    return SpeechPipeline(recogniser=recogniser)


def polite(path: Path, options: dict[str, str] | None = None) -> Path:
    audio, rate = sf.read(POLITE, dtype="float32")
    assert rate == 16000
    return write_media(path, [audio[:, 0], audio[:, 1]], 44100, container_options=options)


def missing(analysis: Analysis) -> list[str]:
    return [i.kind.value for i in analysis.incidents if i.kind.value.startswith("missing_")]


def test_the_whole_recording_is_complete_and_clean(pipeline: SpeechPipeline) -> None:
    result = pipeline.analyse(POLITE)
    assert result.complete and result.damage is None and result.not_judged == ()
    assert result.incidents == ()


def test_the_sample_cut_as_the_issue_found_it_has_no_missing_farewell(
        pipeline: SpeechPipeline, tmp_path: Path) -> None:
    """The first 383,517 bytes: 6.0 s of the 29.7 its header states; greeting said, farewell
    not yet, and nothing lets anyone say it never came."""
    cut = tmp_path / "window01_polite.wav"
    cut.write_bytes(POLITE.read_bytes()[:383_517])
    result = pipeline.analyse(cut)
    assert result.damage is not None and result.damage.cut_at_s == pytest.approx(6.0, abs=0.05)
    assert missing(result) == []
    assert result.not_judged == ("missing_farewell",)
    assert result.duration_s == pytest.approx(6.0, abs=0.05)


@pytest.mark.parametrize("name, options, keep", [
    ("cut.wav", None, 0.4), ("cut.flac", None, 0.4), ("cut.mp3", None, 0.4),
    ("cut.m4a", FASTSTART, 0.4), ("cut.ogg", None, 0.4),
])
def test_a_recording_cut_off_has_its_farewell_left_unjudged(
        pipeline: SpeechPipeline, tmp_path: Path, name: str, options: dict[str, str] | None,
        keep: float) -> None:
    result = pipeline.analyse(cut_short(polite(tmp_path / name, options), keep))
    assert result.damage is not None and result.damage.cut_at_s is not None
    assert 6.0 < result.duration_s < 20.0
    assert missing(result) == []
    assert result.not_judged == ("missing_farewell",)
    assert any("您好" in t.text or "请问" in t.text for t in result.transcripts)  # read: analysed


def test_a_1_3_s_cut_of_an_mp3_judges_neither_greeting_nor_farewell(
        pipeline: SpeechPipeline, tmp_path: Path) -> None:
    path = polite(tmp_path / "short.mp3")
    result = pipeline.analyse(cut_short(path, path.stat().st_size * 1.3 / 29.7))
    assert result.damage is not None and result.duration_s < 2.0
    assert missing(result) == []


def test_garbage_in_the_middle_is_reported_and_the_rest_judged(
        pipeline: SpeechPipeline, tmp_path: Path) -> None:
    """Garbage at 15 s of 29.7: the greeting and farewell were both heard; no loss hides an
    incident that is not there, and the file is still reported incomplete."""
    result = pipeline.analyse(garble(polite(tmp_path / "garbled.flac"), 0.5, 4000))
    assert result.damage is not None and result.damage.cut_at_s is None
    assert missing(result) == [] and result.not_judged == ()
    assert result.duration_s > 25.0

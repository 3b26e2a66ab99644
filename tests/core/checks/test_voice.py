"""fast_speech (语速过快) and raised_voice (声音过高) on real recordings of the voice checks'
evaluation set (benchmarks/voice_checks/tune, rendered from its scripts): the batch pipeline
flags the line said fast and the line shouted, not the others, and rules/checks.yaml refuses
thresholds that make no sense, naming the check, the field and the line."""

from __future__ import annotations

import re
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from etiquette.core.checks.base import SessionView, Turn
from etiquette.core.checks.rules import CheckRulesError, load_check_rules
from etiquette.core.checks.voice import RaisedVoice, speech_rate
from etiquette.core.records import Incident, IncidentKind, Speaker, Transcript, Word
from etiquette.core.sessions import Session, session_of
from etiquette.pipeline import Analysis, PipelineOptions, SpeechPipeline
from etiquette.speech.audio import read_audio
from etiquette.speech.recogniser import Recogniser
from etiquette.speech.segmenter import segment
from etiquette.speech.turns import session_turns

from factories import ROOT
from factories.live import judged_live

SET = ROOT / "benchmarks" / "voice_checks" / "tune"
SHEBAO = SET / "v01_shebao.ogg"
STARTED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
KINDS = (IncidentKind.FAST_SPEECH, IncidentKind.RAISED_VOICE)
LABELS: dict[str, Any] = yaml.safe_load((SET / "labels.yaml").read_text(encoding="utf-8"))


def labelled(file: str, kind: str) -> list[dict[str, Any]]:
    return [t for t in LABELS["files"][file]["turns"] if kind in t["expect"]]


def on(turn: dict[str, Any], start_s: float, end_s: float) -> bool:
    return start_s < turn["end_s"] and turn["start_s"] < end_s


@pytest.fixture(scope="module")
def speech(recogniser: Recogniser, tmp_path_factory: pytest.TempPathFactory) -> SpeechPipeline:
    clips = tmp_path_factory.mktemp("clips")
    return SpeechPipeline(PipelineOptions(clip_dir=clips), recogniser=recogniser)


@pytest.fixture(scope="module")
def shebao(speech: SpeechPipeline) -> Analysis:
    """A stereo session whose clerk says one long line fast and shouts one line at the citizen
    (+13 dB), in hall noise; the other lines at the clerk's own pace and level."""
    return speech.analyse(SHEBAO, "w1", STARTED)


def voice(incidents: tuple[Incident, ...] | list[Incident]) -> list[tuple[str, int]]:
    return sorted((i.kind.value, round(i.offset_s)) for i in incidents if i.kind in KINDS)


def flagged_alone_on_its_line(analysis: Analysis, kind: IncidentKind) -> Incident:
    """The one incident of `kind` in v01_shebao, on the line its labels say."""
    (line,) = labelled(SHEBAO.name, kind.value)
    flagged = [i for i in analysis.incidents if i.kind == kind]
    assert len(flagged) == 1, [i.explanation for i in flagged]
    assert on(line, flagged[0].offset_s, flagged[0].end_s)
    return flagged[0]


@pytest.mark.slow
def test_the_line_said_fast_is_flagged_with_its_rate(shebao: Analysis) -> None:
    fast = flagged_alone_on_its_line(shebao, IncidentKind.FAST_SPEECH)
    rate = re.fullmatch(r"工作人员语速约 (\d+) 字/分钟（阈值 380 字/分钟），本句约 [\d.]+ 秒",
                        fast.explanation)
    assert rate is not None, fast.explanation
    assert int(rate.group(1)) > 380
    assert fast.speaker == Speaker.STAFF and fast.transcript


@pytest.mark.slow
def test_the_shouted_line_is_flagged_and_the_others_are_not(shebao: Analysis) -> None:
    shouted = flagged_alone_on_its_line(shebao, IncidentKind.RAISED_VOICE)
    rise = re.match(r"工作人员音量比本人本次服务其他语句的中位音量高 (\d+) LU（阈值 7 LU",
                    shouted.explanation)
    assert rise is not None and int(rise.group(1)) >= 7, shouted.explanation


@pytest.mark.slow
def test_live_flags_the_same_lines_as_batch_with_their_clips(speech: SpeechPipeline,
                                                              shebao: Analysis,
                                                              tmp_path: Path) -> None:
    """Fed as a microphone would (100 ms blocks), judged when the session ends."""
    emitted, _ = judged_live(speech, SHEBAO, STARTED, tmp_path)
    assert voice(emitted) == voice(shebao.incidents)
    assert len(voice(emitted)) == 2
    assert all("clip" in i.evidence for i in emitted if i.kind in KINDS)


def staff_view(file: str) -> SessionView:
    """A stereo session's turns as the checks see them, without transcripts (loudness needs
    none)."""
    path = SET / file
    utterances = segment(read_audio(path), str(path), file)
    session = session_of(utterances)
    assert session is not None
    return SessionView(session=session, turns=session_turns(utterances, ()))


def test_a_voice_loud_throughout_and_a_shouting_citizen_are_not_raised_voices() -> None:
    """A clerk 9 dB louder than usual all session long, and a citizen who shouts once."""
    loud, usual = staff_view("v07_geshui.ogg"), staff_view("v01_shebao.ogg")

    def level(view: SessionView) -> float:
        return statistics.median(t.loudness_lufs for t in view.of(Speaker.STAFF)
                                 if t.loudness_lufs is not None)

    assert level(loud) - level(usual) > 5  # what a fixed loudness limit would flag
    assert len([t for t in loud.of(Speaker.STAFF) if t.loudness_lufs is not None]) >= 5
    assert RaisedVoice().judge(loud) == []
    assert [t for t in loud.of(Speaker.CITIZEN) if t.loudness_lufs is not None]


def test_the_citizen_heard_on_the_staff_microphone_is_no_measure_of_the_clerk() -> None:
    """On two microphones the citizen's voice leaking into the staff microphone can be cut into
    short, quiet "staff" utterances while the citizen speaks (test half v12: six of them, 9-14 LU
    under the clerk): they are not the clerk's level, so ordinary lines are not raised over
    them; a line shouted over the citizen is judged all the same."""
    clerk = [Turn(speaker=Speaker.STAFF, channel=0, start_s=s, end_s=s + 3, loudness_lufs=-30.0)
             for s in (0.0, 10.0, 20.0, 30.0)]
    citizen = [Turn(speaker=Speaker.CITIZEN, channel=1, start_s=s, end_s=s + 4,
                    loudness_lufs=-29.0) for s in (4.0, 14.0, 24.0, 34.0, 44.0)]
    leaks = [Turn(speaker=Speaker.STAFF, channel=0, start_s=s + d, end_s=s + d + 1,
                  loudness_lufs=-42.0) for s in (4.0, 14.0, 24.0) for d in (0.5, 2.5)]
    shout = Turn(speaker=Speaker.STAFF, channel=0, start_s=45.0, end_s=47.0, loudness_lufs=-19.0)
    turns = sorted([*clerk, *citizen, *leaks, shout], key=lambda t: t.start_s)
    view = SessionView(session=Session("s", "w", 0.0, 48.0), turns=tuple(turns))
    (flagged,) = RaisedVoice().judge(view)
    assert (flagged.offset_s, flagged.end_s) == (45.0, 47.0)
    assert "高 11 LU（阈值 7 LU，参照 4 句）" in flagged.explanation


def transcript(words: list[tuple[str, float, float]]) -> Transcript:
    return Transcript(source="s", window_id="w", speaker=Speaker.STAFF, channel=0,
                      start_s=words[0][1], end_s=words[-1][2],
                      words=tuple(Word(text, a, b, 0.9) for text, a, b in words))


def test_a_number_read_out_counts_neither_its_digits_nor_their_time() -> None:
    # 您的编号是 (5 characters over 1.0 s) then 13 digits read in 2.0 s, then 请记好 (3 in 0.6 s)
    said = transcript([("您的编号是", 0.0, 1.0), ("2026120300471", 1.0, 3.0),
                       ("，请记好", 3.0, 3.6)])
    rate = speech_rate(said)
    assert rate is not None
    assert rate[1] == pytest.approx(1.6)
    assert rate[0] == pytest.approx(8 / 1.6 * 60)
    chinese = transcript([("编号是", 0.0, 0.6), ("二零二六一二零三", 0.6, 2.6),
                          ("请记好", 2.6, 3.2)])
    assert speech_rate(chinese) == pytest.approx((6 / 1.2 * 60, 1.2))


def test_bad_thresholds_are_refused_naming_check_field_and_line(tmp_path: Path) -> None:
    text = ('version: "t"\n'
            "fast_speech:\n"
            "  max_chars_per_min: -380\n"
            "raised_voice:\n"
            "  min_rise_lu: 7\n"
            "  min_reference: 0\n"
            "  min_rise: 9\n")
    path = tmp_path / "checks.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CheckRulesError) as e:
        load_check_rules(path)
    message = str(e.value)
    assert "fast_speech -> max_chars_per_min (line 3)" in message
    assert "raised_voice -> min_reference (line 6)" in message
    assert "raised_voice -> min_rise (line 7)" in message


def test_the_shipped_rules_have_both_voice_checks_on() -> None:
    checks = load_check_rules()
    assert checks.fast_speech is not None and checks.fast_speech.enabled
    assert checks.raised_voice is not None and checks.raised_voice.enabled

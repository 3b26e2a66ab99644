"""未使用普通话 (non_mandarin) on sessions described by their turns and the recogniser's language
identification (the recordings' tests are in tests/test_language_checks.py): what is flagged,
what is never judged, and a checks file with a bad threshold."""

from __future__ import annotations

from pathlib import Path

import pytest

from etiquette.core.checks.base import SessionView, Turn
from etiquette.core.checks.rules import CheckRulesError, judge_checks, load_check_rules
from etiquette.core.records import IncidentKind, Speaker, Transcript, Word
from etiquette.core.sessions import Session

STAFF, CITIZEN = Speaker.STAFF, Speaker.CITIZEN
ENGLISH = (("en", 0.88), ("nn", 0.02), ("la", 0.02), ("zh", 0.013))


def turn(speaker: Speaker, start: float, end: float, text: str,
         languages: tuple[tuple[str, float], ...]) -> Turn:
    channel = 0 if speaker == STAFF else 1
    transcript = Transcript("rec.wav", "w1", speaker, channel, start, end,
                            (Word(text, start, end, 0.9),), languages=languages)
    return Turn(speaker=speaker, channel=channel, start_s=start, end_s=end, transcript=transcript)


def view(*turns: Turn) -> SessionView:
    session = Session("rec.wav", "w1", min(t.start_s for t in turns), max(t.end_s for t in turns))
    return SessionView(session=session, turns=tuple(sorted(turns, key=lambda t: t.start_s)))


def non_mandarin(v: SessionView) -> list[tuple[float, float]]:
    return [(i.offset_s, i.end_s) for i in judge_checks(load_check_rules(), v)
            if i.kind == IncidentKind.NON_MANDARIN]


def test_a_staff_line_in_another_language_is_flagged_saying_how_probable_and_which():
    v = view(turn(STAFF, 0.0, 3.0, "您好请问办理什么业务", (("zh", 0.99), ("en", 0.003))),
             turn(STAFF, 4.0, 7.8, "Please show me your passport", ENGLISH))
    incidents = [i for i in judge_checks(load_check_rules(), v)
                 if i.kind == IncidentKind.NON_MANDARIN]
    (incident,) = incidents
    assert (incident.offset_s, incident.end_s, incident.speaker) == (4.0, 7.8, STAFF)
    assert incident.rule_name == "未使用普通话" and incident.transcript
    assert "不是普通话的概率 0.99" in incident.explanation
    assert "最可能为英语（0.88）" in incident.explanation
    assert incident.explanation.startswith("工作人员未使用普通话：")


def test_what_counts_is_how_improbable_mandarin_is_not_the_top_language_alone():
    # Whisper base spreads speech it knows badly over several languages: French as 0.28
    # English, 0.24 Latin; Mandarin at 0.003 is what says it is not Mandarin.
    scattered = (("en", 0.28), ("la", 0.24), ("fr", 0.2), ("zh", 0.003))
    # Robotic Mandarin with a doubtful top language: zh 0.53 is not "not Mandarin".
    doubtful = (("zh", 0.53), ("en", 0.26), ("th", 0.1))
    v = view(turn(STAFF, 0.0, 4.0, "不如可不一定", scattered),
             turn(STAFF, 5.0, 9.5, "大大小小儿这会能回击", doubtful))
    assert non_mandarin(v) == [(0.0, 4.0)]


@pytest.mark.parametrize("case", [
    turn(STAFF, 0.0, 0.4, "好", (("ur", 0.9), ("zh", 0.002))),  # too short to identify
    turn(CITIZEN, 0.0, 4.0, "Hello I need a permit", ENGLISH),  # the citizen's language is theirs
    turn(STAFF, 0.0, 4.0, "请问您是陈家豪先生吗", (("zh", 0.9), ("en", 0.05))),  # a name in dialect
    turn(STAFF, 0.0, 4.0, "", ()),  # language not identified
])
def test_short_lines_citizens_mandarin_and_unidentified_lines_are_never_flagged(case: Turn):
    assert non_mandarin(view(case)) == []


def test_an_untranscribed_staff_turn_is_not_judged():
    untranscribed = Turn(speaker=STAFF, channel=0, start_s=0.0, end_s=5.0)
    assert non_mandarin(view(untranscribed)) == []


@pytest.mark.parametrize(("value", "line"), [("0.3", 4), ("1.5", 4), ("x", 4)])
def test_a_bad_threshold_is_refused_naming_check_field_and_line(tmp_path: Path, value: str,
                                                                line: int):
    path = tmp_path / "checks.yaml"
    path.write_text(f"version: x\nnon_mandarin:\n  name: 未使用普通话\n  min_probability: {value}\n"
                    "  min_duration_s: 2\n", encoding="utf-8")
    with pytest.raises(CheckRulesError) as e:
        load_check_rules(path)
    assert f"non_mandarin -> min_probability (line {line})" in str(e.value)


def test_an_unknown_field_is_refused_naming_it(tmp_path: Path):
    path = tmp_path / "checks.yaml"
    path.write_text("version: x\nnon_mandarin:\n  name: 未使用普通话\n  min_seconds: 2\n",
                    encoding="utf-8")
    with pytest.raises(CheckRulesError) as e:
        load_check_rules(path)
    assert "non_mandarin -> min_seconds (line 4)" in str(e.value)

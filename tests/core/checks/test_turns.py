"""The turn-taking checks on sessions described by their turns (the recordings' tests are in
tests/test_turn_checks.py): what counts as talking over the citizen and as a question left
unanswered, and a checks file that is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from etiquette.core.checks.base import SessionView, Turn
from etiquette.core.checks.rules import CheckRulesError, judge_checks, load_check_rules
from etiquette.core.context import asks
from etiquette.core.records import Speaker, Transcript, Word
from etiquette.core.sessions import Session, Unheard

STAFF, CITIZEN = Speaker.STAFF, Speaker.CITIZEN


def turn(speaker: Speaker, start: float, end: float, text: str | None = None) -> Turn:
    channel = 0 if speaker == STAFF else 1
    transcript = None if text is None else Transcript(
        "rec.wav", "w1", speaker, channel, start, end, (Word(text, start, end, 0.9),))
    return Turn(speaker=speaker, channel=channel, start_s=start, end_s=end, transcript=transcript)


def view(*turns: Turn, own_microphones: bool = True) -> SessionView:
    session = Session("rec.wav", "w1", min(t.start_s for t in turns), max(t.end_s for t in turns))
    return SessionView(session=session, turns=tuple(sorted(turns, key=lambda t: t.start_s)),
                       own_microphones=own_microphones)


def found(v: SessionView) -> list[tuple[str, float]]:
    return [(i.kind.value, i.offset_s) for i in judge_checks(load_check_rules(), v)]


def test_staff_talking_over_the_citizen_is_an_interruption_with_its_overlap():
    v = view(turn(CITIZEN, 0.0, 6.0), turn(STAFF, 4.0, 8.0, "你先别说了，把合同给我"))
    (incident,) = judge_checks(load_check_rules(), v)
    assert (incident.kind.value, incident.offset_s, incident.end_s) == ("interruption", 4.0, 6.0)
    assert "重叠 2.0 秒" in incident.explanation and "你先别说了" in incident.explanation


@pytest.mark.parametrize("staff", [
    turn(STAFF, 3.0, 3.8, "嗯"),  # short
    turn(STAFF, 3.0, 5.0, "对对对，好的"),  # only back-channel words, however long
    turn(STAFF, 5.6, 8.0, "好的，请您出示身份证"),  # a quick start: 0.4 s over
])
def test_back_channel_and_a_quick_turn_start_are_no_interruption(staff: Turn):
    assert found(view(turn(CITIZEN, 0.0, 6.0), staff)) == []


def test_the_citizen_talking_over_the_staff_is_no_interruption():
    # The staff speak on after the citizen cut in (their next utterance after a breath).
    v = view(turn(STAFF, 0.0, 6.0, "请您先填表，填好以后再交过来"), turn(CITIZEN, 4.0, 9.0),
             turn(STAFF, 6.5, 10.0, "然后去那边拍照"))
    assert found(v) == []


def test_on_one_microphone_no_overlap_is_judged():
    v = view(turn(CITIZEN, 0.0, 6.0), turn(STAFF, 4.0, 8.0, "你先别说了"), own_microphones=False)
    assert found(v) == []


def test_a_question_left_unanswered_past_the_wait_is_flagged_with_the_wait():
    v = view(turn(CITIZEN, 0.0, 2.0, "补办要多长时间？"), turn(STAFF, 14.0, 16.0, "十分钟"))
    (incident,) = judge_checks(load_check_rules(), v)
    assert incident.kind.value == "unanswered_question" and incident.offset_s == 0.0
    assert incident.explanation == (
        "工作人员在群众问「补办要多长时间？」后 12 秒内未回应（阈值 8 秒）")


@pytest.mark.parametrize("turns", [
    # answered after a pause shorter than the wait
    (turn(CITIZEN, 0.0, 2.0, "补办要多长时间？"), turn(STAFF, 7.0, 9.0, "十分钟")),
    # a statement nobody answers
    (turn(CITIZEN, 0.0, 2.0, "材料放在台子上了。"), turn(STAFF, 14.0, 16.0, "好的")),
    # the recording ends (no speech after the wait): the answer may be cut off
    (turn(STAFF, 0.0, 2.0, "您好"), turn(CITIZEN, 3.0, 5.0, "补办要多长时间？")),
    # the citizen goes on after the question; the answer comes within the wait of their end
    (turn(CITIZEN, 0.0, 2.0, "要多长时间？"), turn(CITIZEN, 3.0, 9.0, "我下午还要上班"),
     turn(STAFF, 15.0, 16.0, "十分钟")),
])
def test_no_unanswered_question(turns: tuple[Turn, ...]):
    assert found(view(*turns)) == []


def test_a_question_is_told_by_its_words():
    for text in ("补办要多长时间？", "能不能一起报", "申请表在哪里领", "这个要交多少钱",
                 "下个月几号发", "可以吗"):
        assert asks(text), text
    for text in ("我把材料放在台子上了", "那我明天再来吧", "好的，谢谢你", ""):
        assert not asks(text), text


def test_a_checks_file_with_a_bad_threshold_or_an_unknown_field_is_refused_naming_them(
        tmp_path: Path):
    path = tmp_path / "checks.yaml"
    path.write_text("version: x\ninterruption:\n  name: 抢话\n  min_overlap_s: -1\n"
                    "unanswered_question:\n  name: 问有答声\n  answer_within: 8\n",
                    encoding="utf-8")
    with pytest.raises(CheckRulesError) as e:
        load_check_rules(path)
    message = str(e.value)
    assert "interruption -> min_overlap_s (line 4)" in message
    assert "unanswered_question -> answer_within (line 7)" in message
    assert {p.line for p in e.value.problems} == {4, 7}


def test_a_citizen_utterance_broken_by_the_staff_talking_over_it_counts_whole():
    # Double talk: the segmenter lost the citizen at 10.2-10.8 s, where neither microphone was
    # the louder; the staff talked over the citizen from 9.7 s until 11.2 s.
    v = view(turn(CITIZEN, 3.5, 10.2), turn(STAFF, 9.7, 11.2, "你先别说了"),
             turn(CITIZEN, 10.8, 12.3))
    assert found(v) == [("interruption", 9.7)]
    # A pause the staff spoke into, the citizen then talking over them: no interruption.
    v = view(turn(CITIZEN, 3.5, 10.2), turn(STAFF, 10.4, 13.0, "好的，请您出示身份证"),
             turn(CITIZEN, 10.9, 12.3))
    assert found(v) == []


def test_no_question_is_found_unanswered_where_the_audio_of_the_wait_was_lost():
    turns = (turn(CITIZEN, 0.0, 2.0, "补办要多长时间？"), turn(STAFF, 14.0, 16.0, "十分钟"))
    lost = view(*turns).model_copy(update={"unheard": (Unheard(at_s=5.0, lost_s=3.0),)})
    assert found(lost) == []
    assert found(view(*turns)) == [("unanswered_question", 0.0)]

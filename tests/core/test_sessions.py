"""来有迎声、走有送声: greeting and farewell are due near the start and the end of a session."""

from __future__ import annotations

import numpy as np

from etiquette.core.judging import judge
from etiquette.core.records import Speaker, Utterance
from etiquette.core.sessions import SessionTracker, session_of

from factories.transcripts import said


def kinds(rules, matcher, transcripts):
    incidents, _, _ = judge(rules, matcher, transcripts, session_of(transcripts))
    return sorted((i.kind.value, i.rule_id) for i in incidents)


def test_a_session_with_greeting_and_farewell_has_no_incident(rules, matcher):
    session = [said("您好，请问您需要办理什么业务", start_s=1),
               said("我想办理营业执照", Speaker.CITIZEN, start_s=6),
               said("请您出示身份证", start_s=10),
               said("请收好您的材料，再见", start_s=50)]
    assert kinds(rules, matcher, session) == []


def test_missing_greeting_and_farewell_are_incidents_with_their_window(rules, matcher):
    session = [said("我想办理营业执照", Speaker.CITIZEN, start_s=0),
               said("身份证给我", start_s=5), said("好了", start_s=80)]
    incidents, _, _ = judge(rules, matcher, session, session_of(session))
    by_kind = {i.kind.value: i for i in incidents}
    assert set(by_kind) == {"missing_greeting", "missing_farewell"}
    greeting = by_kind["missing_greeting"]
    assert (greeting.offset_s, greeting.end_s) == (0, rules.session.greeting_within_s)
    assert "身份证给我" in greeting.transcript
    farewell = by_kind["missing_farewell"]
    assert farewell.end_s == session[-1].end_s
    assert farewell.deduction == 1 and farewell.severity.value == "minor"


def test_a_greeting_said_late_does_not_count(rules, matcher):
    session = [said("我想办理营业执照", Speaker.CITIZEN, start_s=0),
               said("您好，请问您需要办理什么业务", start_s=45),
               said("请收好您的材料，再见", start_s=70)]
    assert kinds(rules, matcher, session) == [("missing_greeting", "R-greeting")]


def test_a_greeting_by_the_citizen_does_not_count(rules, matcher):
    session = [said("您好，请问您需要办理什么业务", Speaker.CITIZEN, start_s=0),
               said("请收好您的材料，再见", start_s=20)]
    assert kinds(rules, matcher, session) == [("missing_greeting", "R-greeting")]


def test_a_recording_without_speech_is_no_session(rules, matcher):
    assert kinds(rules, matcher, []) == []


def test_a_citizen_served_in_silence_misses_both(rules, matcher):
    citizen_only = [said("我想办理营业执照", Speaker.CITIZEN, start_s=2)]
    incidents, _, _ = judge(rules, matcher, [], session_of(citizen_only))
    assert sorted(i.kind.value for i in incidents) == ["missing_farewell", "missing_greeting"]
    assert {i.source for i in incidents} == {"test.wav"}


def test_forbidden_and_missing_incidents_are_sorted_by_time(rules, matcher):
    session = [said("不知道", start_s=3), said("你问别人去", start_s=8)]
    incidents, _, _ = judge(rules, matcher, session, session_of(session))
    assert [i.offset_s for i in incidents] == sorted(i.offset_s for i in incidents)
    assert {i.rule_id for i in incidents} == {"F1-1", "F1-2", "R-greeting", "R-farewell"}


# ---------------------------------------------------------------- live sessions

def heard(start_s: float, end_s: float, speaker: Speaker = Speaker.STAFF) -> Utterance:
    return Utterance("live", "w1", speaker, 0, start_s, end_s, np.zeros(0, np.float32))


def test_live_session_opens_with_speech_and_closes_after_the_quiet_spell(rules):
    tracker = SessionTracker("live", "w1", rules)
    quiet = rules.session.end_after_silence_s
    assert tracker.tick(100.0) == []  # nobody there: nothing to close
    assert tracker.speech(heard(10, 12, Speaker.CITIZEN)) == []
    assert tracker.speech(heard(13, 15)) == []
    assert tracker.tick(15 + quiet - 1) == []  # a pause while the staff types is no end
    (closed,) = tracker.tick(15 + quiet)
    assert (closed.start_s, closed.end_s) == (10, 15)  # first to last speech, as in batch
    assert tracker.current is None


def test_speech_after_a_long_silence_starts_the_next_session(rules):
    tracker = SessionTracker("live", "w1", rules)
    tracker.speech(heard(0, 5))
    later = 5 + rules.session.end_after_silence_s + 10
    (closed,) = tracker.speech(heard(later, later + 2))
    assert (closed.start_s, closed.end_s) == (0, 5)
    assert tracker.current is not None and tracker.current.start_s == later


def test_a_queue_call_ends_the_session_at_once(rules):
    tracker = SessionTracker("live", "w1", rules)
    tracker.speech(heard(0, 5))
    tracker.speech(heard(6, 9, Speaker.CITIZEN))
    (closed,) = tracker.close()  # 叫号: the next citizen is called
    assert (closed.start_s, closed.end_s) == (0, 9)
    assert tracker.close() == []  # a second call with nobody served closes nothing
    tracker.speech(heard(10, 12))
    assert tracker.current is not None and tracker.current.start_s == 10

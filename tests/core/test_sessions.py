"""来有迎声、走有送声: greeting and farewell are due near the start and the end of a session."""

from __future__ import annotations

import numpy as np
import pytest

from etiquette.core.judging import judge
from etiquette.core.records import Speaker, Utterance
from etiquette.core.sessions import SessionTracker, Unheard, session_of, withheld

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


def served(opening, farewell, speaker=Speaker.STAFF):
    """A session opened and closed by `speaker`'s words, the citizen between."""
    return [said(opening, speaker, start_s=1), said("我想办理营业执照", Speaker.CITIZEN, start_s=8),
            said("请您出示身份证", start_s=12), said(farewell, speaker, start_s=50)]


@pytest.mark.parametrize("opening", [
    "老师傅您好，今天办什么？",  # a form of address, then the business in few words
    "你好，办么子？",  # 赣语
    "您好，请坐，请问要办什么业务？",  # a courtesy between greeting and question
    "您好，让您久等了，八点半了，请问办什么业务？",
    "上午好，您是要办什么业务？",
    "同学你好，办助学贷款的吧？",  # the business guessed
    "大姐您好，办居住证是吧？",
    "您好，您办开户还是销户？",
    "您好，请坐，有什么事？",
    "欢迎，请坐，您是来办开户的吧？",  # 欢迎 for 您好
    "大爷好，您先请坐。",  # a greeting and a seat offered, the business asked later
    "阿婆您好，这边坐，慢慢讲。",  # the seat offered in other words
    "师傅，请坐，今天办点什么？",  # a seat offered, then the business: no greeting word
    "您好",  # the whole greeting, the question in the next utterance
    # A greeting word alone from the staff greets (来有迎声), whatever follows it: every blind
    # half's writer labelled such openings greetings.
    "你好，号给我。",
    "你好，大叔，来，坐下慢慢讲。",
    "同学，你好，到你了，准考证号报一下。",
    "好了，你好，上班了，刚才问什么？",
    "同志你好你好，号给我。",  # said twice, written by Whisper without a comma
])
def test_a_greeting_in_the_staffs_own_words_is_a_greeting(rules, matcher, opening):
    session = served(opening, "请收好您的材料，再见")
    if opening == "您好":
        session.insert(1, said("办什么业务？", start_s=2.2))
    assert kinds(rules, matcher, session) == []


@pytest.mark.parametrize(("opening", "speaker"), [
    ("下一个，办什么？", Speaker.STAFF),  # the business asked without a greeting
    ("什么事？说。", Speaker.STAFF),
    ("请坐。", Speaker.STAFF),  # a seat offered, nothing asked, no greeting
    # a greeting word inside other words is no greeting
    ("你好像没带身份证，号给我。", Speaker.STAFF),
    ("你好好看一下，号给我。", Speaker.STAFF),
    ("你好烦啊，说了几遍了，号给我。", Speaker.STAFF),
    ("我这是为你好，材料不全办不了。", Speaker.STAFF),
    ("有什么意见，欢迎提出来，号给我。", Speaker.STAFF),
    # the citizen's own greeting, told apart on one microphone
    ("你好，我来审运输证，还没开始办吗？", Speaker.CITIZEN),
    # a greeting word inside other words, whoever said it
    ("你好像没带身份证，停车场备案在你这里办吗？", Speaker.UNKNOWN),
])
def test_an_opening_that_is_no_greeting_leaves_the_greeting_missing(
        rules, matcher, opening, speaker):
    session = served(opening, "请收好您的材料，再见")
    session[0] = said(opening, speaker, start_s=1)
    assert kinds(rules, matcher, session) == [("missing_greeting", "R-greeting")]


@pytest.mark.parametrize("opening", ["你好，号给我。", "你好，我来审运输证，还没开始办吗？"])
def test_a_greeting_word_alone_from_a_voice_not_told_apart_is_no_missing_greeting(
        rules, matcher, opening):
    """On one microphone with the two voices not told apart, a greeting word said alone may be
    the staff's: a missing greeting charges the staff, so it is not charged (the citizen's own
    你好 spares a clerk who said nothing; blind15 showed the other way wrong far more often)."""
    session = served(opening, "请收好您的材料，再见")
    session[0] = said(opening, Speaker.UNKNOWN, start_s=1)
    assert kinds(rules, matcher, session) == []
    [(rule, hit)] = matcher.required(session[0])
    assert rule.id == "R-greeting" and "未能确定是不是工作人员" in hit.explanation


@pytest.mark.parametrize(("farewell", "missing"), [
    ("证件收好，路上小心。", False),
    ("条子收好，路上慢点走。", False),
    ("回执拿好，路上注意安全。", False),
    ("材料都还给您了，您慢点走。", False),
    ("好，您走好。", False),  # the staff's own send-off words, said exactly (`staff_alone`)
    ("表收了，等电话，明天见。", False),
    ("表做好了再拿来。", True),  # 做好 sounds like 走好 but is not said as it
    ("其他的下次见面再说。", True),  # 下次见 inside other words
    ("好，拜拜。", False),
    ("好，弄好了再来。", True),  # sent away to come back: no send-off
    ("下一位。", True),
])
def test_a_send_off_in_the_staffs_own_words_is_a_farewell(rules, matcher, farewell, missing):
    session = served("您好，请问您需要办理什么业务", farewell)
    assert kinds(rules, matcher, session) == ([("missing_farewell", "R-farewell")] if missing
                                              else [])


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

# ---------------------------------------------------------------- audio that was never heard

def judged(rules, matcher, transcripts, unheard):
    incidents, _, _ = judge(rules, matcher, transcripts, session_of(transcripts),
                            unheard=unheard)
    return sorted((i.kind.value, i.rule_id) for i in incidents)


def test_no_farewell_is_judged_missing_where_the_recording_was_cut_off(rules, matcher):
    """A file cut at 14 s of the 30 its header states: the farewell may have been said later."""
    session = [said("您好，请问您需要办理什么业务", start_s=1), said("请您出示身份证", start_s=10)]
    assert judged(rules, matcher, session, []) == [("missing_farewell", "R-farewell")]
    assert judged(rules, matcher, session, [Unheard(14.0, 16.0)]) == []
    assert judged(rules, matcher, session, [Unheard(14.0)]) == []  # how much: unknown


def test_no_greeting_is_judged_missing_where_the_start_was_lost(rules, matcher):
    """Audio lost before the first speech heard (or within the greeting's window after it):
    the session may have begun, and been greeted, in it; its farewell is still judged."""
    session = [said("身份证给我", start_s=40), said("好了", start_s=120)]
    both = [("missing_farewell", "R-farewell"), ("missing_greeting", "R-greeting")]
    assert judged(rules, matcher, session, []) == both
    for lost in (Unheard(0.0, 5.0), Unheard(35.0), Unheard(60.0, 1.0)):
        assert judged(rules, matcher, session, [lost]) == [("missing_farewell", "R-farewell")]


def test_a_loss_far_from_both_ends_leaves_both_judged(rules, matcher):
    session = [said("身份证给我", start_s=5), said("好了", start_s=200)]
    assert judged(rules, matcher, session, [Unheard(100.0, 3.0)]) == [
        ("missing_farewell", "R-farewell"), ("missing_greeting", "R-greeting")]


def test_what_was_heard_is_judged_all_the_same(rules, matcher):
    """Forbidden phrases in the audio that is there stand, and so does a greeting said."""
    session = [said("您好", start_s=1), said("这个我也不知道", start_s=4)]
    assert judged(rules, matcher, session, [Unheard(6.0)]) == [("forbidden_phrase", "F1-1")]


def test_withheld_names_what_the_loss_left_undecided(rules, matcher):
    session = [said("您好，请问您需要办理什么业务", start_s=1), said("请您出示身份证", start_s=10)]
    _, required, _ = judge(rules, matcher, session, session_of(session))
    held = withheld(rules, session_of(session), session, required, [Unheard(14.0)])
    assert [m.rule.id for m in held] == ["R-farewell"]  # the greeting was said: decided
    assert withheld(rules, session_of(session), session, required, []) == []


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


def test_a_greeting_the_words_miss_is_looked_for_in_the_audio(rules, matcher):
    """Whisper base writes an unfamiliar voice's greeting as 您靠前文您需要参与陈河严屋: before
    the greeting is reported missing, its near misses are put to the audio (here a stand-in
    check that answers how much less likely the phrase is than the words)."""
    mangled = [said("您靠前文您需要参与陈河严屋", start_s=1),
               said("我想办理营业执照", Speaker.CITIZEN, start_s=6),
               said("请收好您的材料，再见", start_s=20)]
    asked: list[str] = []

    def supports(transcript, hit):
        asked.append(hit.variant)
        return 0.8  # the audio fits the phrase almost as well as the words

    incidents, _, _ = judge(rules, matcher, mangled, session_of(mangled), check=supports)
    assert [i.kind.value for i in incidents] == []
    assert asked and all(v.startswith("您好") for v in asked)  # only the missing phrase is asked

    incidents, _, _ = judge(rules, matcher, mangled, session_of(mangled),
                            check=lambda transcript, hit: 25.0)  # the audio says otherwise
    assert [i.kind.value for i in incidents] == ["missing_greeting"]
    incidents, _, _ = judge(rules, matcher, mangled, session_of(mangled))  # no audio to ask
    assert [i.kind.value for i in incidents] == ["missing_greeting"]


def test_a_farewell_word_said_alone_that_whisper_misspelt_is_put_to_the_audio(rules, matcher):
    """Whisper base writes a clerk's 嗯，走好 as 嗯，做好: a word the rule takes said alone is put
    to the audio as its phrases are, and only where it would stand alone, never inside
    表做好了再拿来."""
    def session(last: str):
        return [said("您好，请坐", start_s=1), said("我来办证", Speaker.CITIZEN, start_s=4),
                said(last, start_s=20)]

    asked: list[tuple[str, str]] = []

    def supports(transcript, hit):
        asked.append((hit.variant, hit.matched))
        return 0.5 if transcript.text == "嗯，做好。" else 25.0  # the audio of the last line fits

    mangled = session("嗯，做好。")
    incidents, _, _ = judge(rules, matcher, mangled, session_of(mangled), check=supports)
    assert ("走好", "做好") in asked
    assert "missing_farewell" not in [i.kind.value for i in incidents]
    incidents, _, _ = judge(rules, matcher, mangled, session_of(mangled),
                            check=lambda transcript, hit: 25.0)  # the audio says otherwise
    assert "missing_farewell" in [i.kind.value for i in incidents]

    asked.clear()
    inside = session("表做好了再拿来")
    judge(rules, matcher, inside, session_of(inside), check=supports)
    assert ("走好", "做好") not in asked


def test_the_audio_is_not_asked_about_words_too_far_from_the_phrase_or_the_citizen(
        rules, matcher):
    def always(transcript, hit):
        raise AssertionError(f"asked about {transcript.text}")

    nothing_like = [said("身份证给我", start_s=1), said("好了", start_s=20)]
    by_citizen = [said("您好，请问您需要办理什么业务", Speaker.CITIZEN, start_s=1),
                  said("好了", start_s=20)]
    for session in (nothing_like, by_citizen):
        incidents, _, _ = judge(rules, matcher, session, session_of(session), check=always)
        assert "missing_greeting" in [i.kind.value for i in incidents]

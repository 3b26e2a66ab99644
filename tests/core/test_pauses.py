"""A phrase said with a pause inside it: the segmenter cuts there, the judge looks across."""

from __future__ import annotations

from dataclasses import replace

from etiquette.core.judging import (
    TURN_MAX,
    joined,
    judge,
    judge_pause,
    previous,
    runs_ending,
)
from etiquette.core.records import Speaker
from etiquette.core.sessions import session_of

from factories.transcripts import said


def test_two_halves_of_a_phrase_across_a_short_pause_are_one_incident(rules, matcher):
    first = said("有指示牌。", start_s=3.0, end_s=4.2)
    second = said("自己看", start_s=5.1, end_s=5.9)
    incidents, _, _ = judge(rules, matcher, [first, second], session_of([first, second]))
    (inc,) = [i for i in incidents if i.kind == "forbidden_phrase"]
    assert inc.rule_id == "F1-3" and inc.speaker == Speaker.STAFF
    assert inc.transcript == "有指示牌，自己看"  # the reviewer reads both halves, one break
    assert inc.transcript[inc.hit_start:inc.hit_end] == "有指示牌，自己看"
    assert inc.offset_s == 3.0 and inc.end_s == 5.9  # the clip spans both


def test_a_long_pause_or_another_speaker_keeps_the_halves_apart(rules, wordings):
    """Judged by the wordings alone: the meaning model reads 还是听你的 on its own as the taunt
    it is."""
    first = said("听我的", start_s=0.0, end_s=1.0)
    late = said("还是听你的", start_s=3.0, end_s=4.5)  # 2 s later: two sentences
    assert previous(late, [first], rules.matching.join_pause_s) is None
    citizen = said("还是听你的", Speaker.CITIZEN, start_s=1.5, end_s=2.5)
    assert previous(citizen, [first], rules.matching.join_pause_s) is None
    incidents, _, _ = judge(rules, wordings, [first, late], session_of([first, late]))
    assert [i for i in incidents if i.kind == "forbidden_phrase"] == []


def test_a_phrase_inside_one_half_is_not_reported_twice(rules, matcher):
    first = said("催什么催", start_s=0.0, end_s=1.0)
    second = said("我这不是在办吗", start_s=1.6, end_s=3.0)
    incidents, _, _ = judge(rules, matcher, [first, second], session_of([first, second]))
    assert [i.rule_id for i in incidents if i.kind == "forbidden_phrase"] == ["F2-2"]
    assert judge_pause(rules, matcher, [first, second])[0] == []


def test_the_join_keeps_times_and_one_clause_break():
    first = said("你懂。", start_s=0.0, end_s=0.9)
    second = said("还是我懂", start_s=1.7, end_s=2.9)
    whole, cuts = joined([first, second])
    assert whole.text == "你懂，还是我懂" and cuts == [2]
    assert (whole.start_s, whole.end_s) == (0.0, 2.9)
    assert whole.time_of(3, 7) == (1.7, 2.9)
    # Punctuation Whisper put at the second half's start gives no second break either.
    assert joined([first, said("，还是我懂", start_s=1.7, end_s=2.9)])[0].text == "你懂，还是我懂"


def test_on_one_microphone_halves_join_unless_one_is_the_citizens(rules, wordings):
    pause = rules.matching.join_pause_s
    staff = said("还没上班", start_s=0.0, end_s=1.0)
    unsure = replace(said("先等着", Speaker.UNKNOWN, start_s=1.8, end_s=2.6),
                     speaker_note="声音未能区分")
    assert previous(unsure, [staff], pause) is staff
    (inc,) = judge_pause(rules, wordings, [staff, unsure])[0]
    assert inc.rule_id == "F5-1" and inc.speaker == Speaker.UNKNOWN
    assert "说话人未能确定" in inc.explanation and "声音未能区分" in inc.explanation
    citizen = replace(unsure, speaker=Speaker.CITIZEN)
    assert previous(citizen, [staff], pause) is None


def test_a_phrase_written_without_a_comma_may_still_be_said_with_a_pause(rules, wordings):
    """有意见找领导去 has no comma in Appendix B, but people pause after 有意见: in one utterance
    Whisper writes the comma, across two the join puts a clause break there."""
    found, _ = wordings.forbidden(said("有意见，找领导去"))
    assert [r.id for r, _ in found] == ["F6-2"]
    first = said("有意见。", start_s=0.0, end_s=1.0)
    second = said("照领到去", start_s=1.9, end_s=2.8)  # Whisper's homophones
    (inc,) = judge_pause(rules, wordings, [first, second])[0]
    assert inc.rule_id == "F6-2" and (inc.offset_s, inc.end_s) == (0.0, 2.8)


def test_a_short_phrase_does_not_run_across_a_clause_break(matcher):
    """急什么 is three sounds: 急，什么 across a break is two clauses (您别急，什么时候都能办)."""
    found, _ = matcher.forbidden(said("这个急，什么时候都能办"))
    assert found == []


def test_words_put_between_the_clauses_of_a_long_phrase_do_not_hide_it(matcher):
    """A clerk adds what is wrong between 填错了 and 快点改, and where the sign is between 有指示牌
    and 自己看: the phrase's clause break is a place the speaker may fill."""
    for text, rule in [("你这表上车辆信息填错了，发动机号少了两位，快点改一下", "F3-1"),
                       ("门口有指示牌，上面写着要带什么，自己看去", "F1-3"),
                       ("急什么，我这边，忙着呢", "F2-1")]:
        found, _ = matcher.forbidden(said(text))
        assert [r.id for r, _ in found] == [rule], text
    # The filling is a clause at most, not a conversation (a slot's length).
    found, _ = matcher.forbidden(said("表格第三栏填错了，没关系，我们这里有样表，您照着样表慢慢改"))
    assert found == []


def test_a_phrase_across_three_utterances_is_one_incident(rules, wordings, matcher):
    """说了几遍了 (pause) 签名加盖章 (pause) 怎么还不会: three utterances, one phrase, one
    incident whose clip spans all three; a run only judges what no shorter run holds."""
    run = [said("说了几遍了", start_s=0.0, end_s=1.2), said("签名加盖章", start_s=2.0, end_s=3.1),
           said("怎么还不会呢", start_s=3.9, end_s=5.0)]
    assert [len(r) for r, _ in runs_ending(run[2], run, rules.matching.join_pause_s)] == [2, 3]
    incidents, _, _ = judge(rules, wordings, run, session_of(run))
    (inc,) = [i for i in incidents if i.kind == "forbidden_phrase"]
    assert inc.rule_id == "F3-2" and inc.offset_s == 0.0 and inc.end_s > 3.9
    assert inc.transcript == "说了几遍了，签名加盖章，怎么还不会呢"
    # Said in two utterances, the pair finds it and the run of three adds nothing.
    two = [said("说几遍了", start_s=0.0, end_s=1.0), said("怎么还不会", start_s=1.8, end_s=2.9),
           said("签名加盖章", start_s=3.5, end_s=4.5)]
    incidents, _, _ = judge(rules, wordings, two, session_of(two))
    assert [i.rule_id for i in incidents if i.kind == "forbidden_phrase"] == ["F3-2"]
    # With the meaning model each half may mean the phrase alone: the first is the incident,
    # and the halves after it are the same phrase going on, not more.
    for heard in (run, two):
        incidents, _, _ = judge(rules, matcher, heard, session_of(heard))
        (inc,) = [i for i in incidents if i.kind == "forbidden_phrase"]
        assert inc.rule_id == "F3-2" and inc.offset_s == 0.0


def test_a_phrase_run_on_into_a_third_utterance_is_not_flagged_again(rules, matcher):
    """有指示牌，（停顿）自己看，（停顿）墙上贴着: the pair 有指示牌 + 自己看 is the F1-3; the pair
    自己看 + 墙上贴着 says it too, with the words that ran on from the first pair, and is not a
    second incident."""
    run = [said("有指示牌", start_s=0.0, end_s=1.0), said("自己看", start_s=2.0, end_s=2.8),
           said("墙上贴着医院的名字", start_s=3.8, end_s=5.8)]
    incidents, _, _ = judge(rules, matcher, run, session_of(run))
    (inc,) = [i for i in incidents if i.kind == "forbidden_phrase"]
    assert inc.rule_id == "F1-3" and inc.offset_s == 0.0
    # Said again after a pause long enough to end the run, it is a second incident.
    again = [*run, said("自己看", start_s=8.0, end_s=8.8),
             said("墙上贴着", start_s=9.8, end_s=10.8)]
    incidents, _, _ = judge(rules, matcher, again, session_of(again))
    assert [i.rule_id for i in incidents if i.kind == "forbidden_phrase"] == ["F1-3", "F1-3"]


def test_a_phrase_said_again_after_a_short_pause_is_one_incident(rules, matcher):
    """你去投诉嘛，（停顿）去投诉我啊: the clerk says it twice in one breath; the supervisor
    reviews one incident. After a real gap, the second is an incident of its own."""
    dare = [said("你去投诉嘛", start_s=0.0, end_s=1.2), said("去投诉我啊", start_s=2.0, end_s=3.2)]
    incidents, _, _ = judge(rules, matcher, dare, session_of(dare))
    assert [(i.rule_id, i.offset_s) for i in incidents if i.kind == "forbidden_phrase"] == [
        ("F6-1", 0.0)]
    apart = [dare[0], said("去投诉我啊", start_s=6.0, end_s=7.2)]
    incidents, _, _ = judge(rules, matcher, apart, session_of(apart))
    assert [i.rule_id for i in incidents if i.kind == "forbidden_phrase"] == ["F6-1", "F6-1"]


def test_two_unsettled_voices_on_one_microphone_are_not_taken_for_one_phrase_said_twice(
        rules, matcher):
    """On one microphone the citizen's 我也不知道 and the clerk's 我不晓得，你自己去查 may follow
    each other closely: neither speaker settled, the clerk's refusal is not the citizen's
    words going on."""
    mono = [said("我也不知道，当年厂里管的", Speaker.UNKNOWN, start_s=0.0, end_s=2.0),
            said("我不晓得，你自己去查", Speaker.UNKNOWN, start_s=2.6, end_s=4.6)]
    incidents, _, _ = judge(rules, matcher, mono, session_of(mono))
    assert [i.rule_id for i in incidents
            if i.kind == "forbidden_phrase" and i.offset_s >= 2.6] == ["F1-1"]


def test_one_voice_on_one_microphone_saying_a_phrase_again_is_one_incident(rules, matcher):
    """说几遍了，（停顿）怎么还不会听 on one microphone, which of its two voices is the staff's
    not settled: where the same voice said both, the second is the first going on; where the
    other voice answered, it is its own incident."""
    first = said("跟你说几遍了，要盖章", Speaker.UNKNOWN, start_s=0.0, end_s=2.5)
    again = said("怎么还是不会听", Speaker.UNKNOWN, start_s=3.2, end_s=4.5)
    one = [replace(first, voice="A"), replace(again, voice="A")]
    incidents, _, _ = judge(rules, matcher, one, session_of(one))
    assert [(i.rule_id, i.offset_s) for i in incidents if i.kind == "forbidden_phrase"] == [
        ("F3-2", 0.0)]
    two = [replace(first, voice="A"), replace(again, voice="B")]
    incidents, _, _ = judge(rules, matcher, two, session_of(two))
    assert [(i.rule_id, i.offset_s) for i in incidents if i.kind == "forbidden_phrase"] == [
        ("F3-2", 0.0), ("F3-2", 3.2)]


def test_a_phrase_said_again_long_into_a_turn_is_said_anew(rules, matcher):
    """A turn holds the same incident for TURN_MAX utterances: a clerk who says 催什么催 again
    after many more sentences without a long pause has said it twice (batch and live alike, live
    keeping only the last utterances)."""
    pause = rules.matching.join_pause_s
    texts = ["催什么催", *["材料我再看一下"] * TURN_MAX, "催什么催"]
    heard, start = [], 0.0
    for text in texts:
        heard.append(said(text, start_s=start, end_s=start + 1.0))
        start += 1.0 + pause / 2
    incidents, _, _ = judge(rules, matcher, heard, session_of(heard))
    assert [i.rule_id for i in incidents if i.kind == "forbidden_phrase"] == ["F2-2", "F2-2"]
    near = [heard[0], heard[1], replace(heard[-1], start_s=heard[1].end_s + pause / 2,
                                        end_s=heard[1].end_s + pause / 2 + 1.0)]
    incidents, _, _ = judge(rules, matcher, near, session_of(near))
    assert [i.rule_id for i in incidents if i.kind == "forbidden_phrase"] == ["F2-2"]


def test_a_phrase_whose_second_half_the_model_hears_alone_spans_both_halves(rules, matcher):
    """马上下班了。（停顿）你快点去: the model hears 你快点去 by itself as the hurry, but the
    supervisor replays the whole phrase from 马上下班了, flagged once. Where the utterance
    before says nothing of the phrase, the second half alone is the incident."""
    hurry = [said("马上下班了。", start_s=0.0, end_s=1.5),
             said("你快点去。", start_s=2.0, end_s=3.2)]
    assert [r.id for r, _ in matcher.forbidden(hurry[1])[0]] == ["F5-2"]  # by meaning, alone
    incidents, _, _ = judge(rules, matcher, hurry, session_of(hurry))
    (inc,) = [i for i in incidents if i.kind == "forbidden_phrase"]
    assert inc.rule_id == "F5-2" and inc.offset_s == 0.0 and inc.end_s > 2.0
    other = [said("材料给我。", start_s=0.0, end_s=1.5), hurry[1]]
    incidents, _, _ = judge(rules, matcher, other, session_of(other))
    assert [(i.rule_id, i.offset_s) for i in incidents
            if i.kind == "forbidden_phrase"] == [("F5-2", 2.0)]


def test_a_phrase_said_across_a_pause_and_then_again_in_the_same_turn_is_one_incident(
        rules, matcher):
    """有指示牌，（停顿）自己看，（停顿）有指示牌，自己看: the clerk repeats the phrase the pause
    cut in two; the turn said it already, across its pause, and the supervisor reviews one
    incident."""
    turn = [said("有指示牌", start_s=0.0, end_s=1.0), said("自己看", start_s=1.8, end_s=2.6),
            said("有指示牌，自己看", start_s=3.4, end_s=5.0)]
    incidents, _, _ = judge(rules, matcher, turn, session_of(turn))
    assert [(i.rule_id, i.offset_s) for i in incidents if i.kind == "forbidden_phrase"] == [
        ("F1-3", 0.0)]


def test_a_phrase_the_model_hears_in_an_utterance_ending_with_its_part_is_not_lost(
        rules, matcher):
    """这个单子上写了，自己看吗？ ends with 自己看, one part of 有指示牌，自己看: the model's
    reading waits for the next utterance, since the phrase may run on across the pause. Where
    the citizen answers, or the clerk goes on to something else, it is flagged on its own."""
    ends_in_part = said("这个单子上写了，自己看吗？", start_s=0.0, end_s=2.5)
    assert matcher.forbidden(ends_in_part)[0] == []
    assert matcher.held(ends_in_part) is not None
    for after in ([], [said("哦，看到了。", Speaker.CITIZEN, start_s=3.0, end_s=4.0)],
                  [said("邮编写在这里。", start_s=3.0, end_s=4.0)]):
        heard = [ends_in_part, *after]
        incidents, _, _ = judge(rules, matcher, heard, session_of(heard))
        (inc,) = [i for i in incidents if i.kind == "forbidden_phrase"]
        # (the clerk's next words may be read with it: the clip then runs on into them)
        assert inc.rule_id == "F1-3" and inc.offset_s == 0.0 and inc.end_s >= 2.5
        assert inc.explanation.startswith("按意思判断")
    # Said again in the same turn it is the same incident going on.
    again = [ends_in_part, said("自己看嘛，写了的。", start_s=3.0, end_s=4.2)]
    incidents, _, _ = judge(rules, matcher, again, session_of(again))
    assert [(i.rule_id, i.offset_s) for i in incidents if i.kind == "forbidden_phrase"] == [
        ("F1-3", 0.0)]


def test_a_weak_wording_for_an_unknown_speaker_leaves_the_phrase_to_a_sure_model(rules, matcher):
    """言错了，快点改 on one microphone: 言错了 is too weak a 填错了 for a speaker who may be the
    citizen, but the model is sure of the scolding, and the flag says the speaker is unsettled."""
    scold = said("身份证号码少写了一位，言错了，快点改。", Speaker.UNKNOWN, start_s=0.0, end_s=3.0)
    (excluded,) = matcher.forbidden(scold)[1]
    assert excluded.unsure and "说话人未能确定" in excluded.reason
    incidents, _, _ = judge(rules, matcher, [scold], session_of([scold]))
    (inc,) = [i for i in incidents if i.kind == "forbidden_phrase"]
    assert inc.rule_id == "F3-1" and "说话人未能确定" in inc.explanation

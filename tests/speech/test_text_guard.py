"""The text normaliser: simplified output and no hallucinated text ever reaching the rules."""

from __future__ import annotations

from etiquette.core.records import Word
from etiquette.speech.text_guard import Guard, clean_words, to_simplified


def words(*texts: str) -> list[Word]:
    return [Word(t, float(k), float(k) + 1, 0.9) for k, t in enumerate(texts)]


def test_traditional_output_becomes_simplified():
    assert to_simplified("您好請問您需要辦理什麼業務") == "您好请问您需要办理什么业务"


def test_subtitle_credits_are_removed():
    guard = Guard.load()
    for credit in ["字幕由Amara.org社群提供",
                   "请不吝点赞订阅转发打赏支持明镜与点点栏目",
                   "谢谢观看"]:
        kept, dropped = clean_words(words(credit), guard)
        assert kept == () and dropped


def test_repetition_loops_keep_only_the_first_occurrence():
    kept, dropped = clean_words(words("请收好", "的", "哀", "哀", "哀", "哀", "哀", "哀"),
                                Guard.load())
    assert "".join(w.text for w in kept) == "请收好的哀"
    kept, _ = clean_words(words("寂寞" * 20), Guard.load())
    assert "".join(w.text for w in kept) == "寂寞"
    kept, _ = clean_words(words("您的热衣范围,", *["I open 墨水,"] * 8), Guard.load())
    assert "".join(w.text for w in kept) == "您的热衣范围,I open 墨水,"


def test_prompt_echo_is_removed_but_speech_kept():
    kept, dropped = clean_words(words("以下是普通话的句子。", "不知道"), Guard.load(),
                                prompt="以下是普通话的句子。")
    assert [w.text for w in kept] == ["不知道"] and dropped == ("以下是普通话的句子。",)


def test_ordinary_speech_passes_untouched():
    ws = words("您好，", "请问", "您", "需要", "办理", "什么", "业务")
    kept, dropped = clean_words(ws, Guard.load())
    assert list(kept) == ws and dropped == ()

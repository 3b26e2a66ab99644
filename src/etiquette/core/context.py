"""What surrounds a phrase hit, in terms of language: words, clause, sentence type, who is meant.

A forbidden phrase is often said politely: 不知道 asked of the citizen (「不知道您是否方便？」)
or in a supposition (「如果不知道怎么填，可以问我」) is no refusal. Listing such sentences does not
generalise; rules instead say in which language context a hit does or does not count
(`ContextCondition` in etiquette.core.rules), and this module reads that context off the transcript.
Words are jieba's (the product's word segmenter), so 急 inside 着急 is no hit on 急什么.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

import jieba

from etiquette.core.records import HeardBy
from etiquette.core.rules import (
    NO_SUBJECT,
    OTHERS,
    PRONOUNS,
    ContextCondition,
    ContextRules,
    Position,
    SentenceType,
)

jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter is not ours to log

_CLAUSE_BREAK = re.compile(r"[，,。.！!？?；;：:、\s]")
_SENTENCE_BREAK = re.compile(r"[。.！!？?；;]")
# A question marked as one: a question mark after the phrase in its sentence, or a final 吗.
# (呢, 嘛 and 吧 end statements as often as questions: 不知道，忙着呢 / 问别人去吧.)
_QUESTION_MARK = re.compile(r"[？?]")
# Question forms after a phrase in its sentence, which make it an indirect question: 是否,
# A不A / A没A (方不方便, 有没有), interrogative words, 还是, and a clause closed by 没有 (您带手机
# 没有): 不知道您要办什么业务.
_QUESTION_FORM = re.compile(r"是否|(\w)[不没]\1|什么|哪|怎么|怎样|为什么|多少|几|谁|还是"
                            r"|没有(?=[，,。.！!？?；;]|$)")


# Nouns for other people: a word with 人 in it (好多人 segments as 好多/人, 家里人 and 老人 are
# words; 人来 is jieba's word in 好多人来之前) or 群众. The staff themselves (工作人员, 本人,
# 个人) are no others: 我们工作人员不知道 is the clerk's own refusal.
_PEOPLE = re.compile(r"人|群众")
_NOT_OTHERS = frozenset({"工作人员", "本人", "个人"})


@lru_cache(maxsize=4096)
def words(text: str) -> tuple[tuple[str, int, int], ...]:
    """jieba's words of `text` with their character spans (punctuation is a word of its own)."""
    return tuple(jieba.tokenize(text))


def on_word_boundaries(text: str, start: int, end: int) -> bool:
    """Whether characters [start, end) of `text` are whole words: no jieba word runs across
    either edge unless it holds the whole phrase (真不知道 holds 不知道; 着急 runs across the
    start of 急什么 without holding it)."""
    return all(a >= start and b <= end or a <= start and b >= end
               for _, a, b in words(text) if a < end and b > start)


@dataclass(frozen=True)
class Surroundings:
    """The language around one hit, read once and tested against each condition."""

    before: tuple[str, ...]  # words of the hit's clause before it, in order
    after: tuple[str, ...]  # words of the hit's clause after it
    clause: tuple[str, ...]  # every word of the hit's clause(s), the hit's own included
    next_clause: tuple[str, ...]  # the words of the clause after the hit's
    question: bool  # marked as a question
    indirect_question: bool  # marked, or with a question form after the hit
    embedded_question: bool  # a question form after the hit in its own clause
    clause_start: bool
    clause_end: bool
    sentence_start: bool
    sentence_end: bool
    heard_by: HeardBy  # how the speaker is known
    said: str | None  # the rule's phrase or variant the hit says; None for a hit in parts

    @classmethod
    def of(cls, text: str, start: int, end: int, heard_by: HeardBy, said: str | None = None
           ) -> Surroundings:
        clause_a = max((m.end() for m in _CLAUSE_BREAK.finditer(text, 0, start)), default=0)
        m = _CLAUSE_BREAK.search(text, end)
        clause_b = m.start() if m else len(text)
        m = _CLAUSE_BREAK.search(text, clause_b + 1)
        next_b = m.start() if m else len(text)
        sentence_a = max((m.end() for m in _SENTENCE_BREAK.finditer(text, 0, start)), default=0)
        m = _SENTENCE_BREAK.search(text, end)
        sentence_b = m.end() if m else len(text)
        sentence = text[sentence_a:sentence_b]
        question = bool(_QUESTION_MARK.search(text, end, sentence_b)
                        or sentence.rstrip("。.！!？?；;，, ").endswith("吗"))
        ws = words(text)
        return cls(
            before=tuple(w for w, a, b in ws if a >= clause_a and b <= start),
            after=tuple(w for w, a, b in ws if a >= end and b <= clause_b),
            clause=tuple(w for w, a, b in ws if b > clause_a and a < clause_b),
            next_clause=tuple(w for w, a, b in ws if a > clause_b and b <= next_b),
            question=question,
            indirect_question=question or bool(_QUESTION_FORM.search(text, end, sentence_b)),
            embedded_question=bool(_QUESTION_FORM.search(text, end, clause_b)),
            clause_start=not text[clause_a:start].strip(),
            clause_end=not text[end:clause_b].strip(),
            sentence_start=not _CLAUSE_BREAK.sub("", text[sentence_a:start]),
            sentence_end=not _CLAUSE_BREAK.sub("", text[end:sentence_b]),
            heard_by=heard_by, said=said)

    @property
    def subject(self) -> str:
        """The last pronoun before the hit in its clause, `OTHERS` for a noun of other people
        there (这个好多人不知道), or `NO_SUBJECT`."""
        for w in reversed(self.before):
            if w in PRONOUNS:
                return w
            if _PEOPLE.search(w) and w not in _NOT_OTHERS:
                return OTHERS
        return NO_SUBJECT

    @property
    def addressee(self) -> str | None:
        """The first pronoun after the hit in its clause."""
        return next((w for w in self.after if w in PRONOUNS), None)

    def sentence_is(self, kind: SentenceType) -> bool:
        return {SentenceType.QUESTION: self.question,
                SentenceType.INDIRECT_QUESTION: self.indirect_question,
                SentenceType.EMBEDDED_QUESTION: self.embedded_question,
                SentenceType.STATEMENT: not self.indirect_question}[kind]

    def at(self, position: Position) -> bool:
        return {Position.CLAUSE_START: self.clause_start, Position.CLAUSE_END: self.clause_end,
                Position.SENTENCE_START: self.sentence_start,
                Position.SENTENCE_END: self.sentence_end}[position]

    def holds(self, c: ContextCondition) -> bool:
        """Whether every term the condition sets is true here."""
        return all((
            c.said is None or self.said in c.said,
            c.sentence is None or self.sentence_is(c.sentence),
            c.speaker is None or self.heard_by in c.speaker,
            c.subject is None or self.subject in c.subject,
            c.addressee is None or self.addressee in c.addressee,
            c.preceded_by is None or any(w in c.preceded_by for w in self.before),
            c.followed_by is None or any(w in c.followed_by for w in self.after),
            c.next_word is None or (self.after[:1] != () and self.after[0] in c.next_word),
            c.clause_has is None or any(w in c.clause_has for w in self.clause),
            c.next_clause_has is None or any(w in c.next_clause_has for w in self.next_clause),
            c.position is None or self.at(c.position),
        ))


def describe(c: ContextCondition) -> str:
    """A condition in the words a reviewer reads (Chinese)."""
    parts = []
    if c.said is not None:
        parts.append("说的是「" + "/".join(c.said) + "」")
    if c.sentence is not None:
        parts.append({SentenceType.QUESTION: "问句", SentenceType.INDIRECT_QUESTION: "问句或探询",
                      SentenceType.EMBEDDED_QUESTION: "后接所不知的内容（宾语从句）",
                      SentenceType.STATEMENT: "陈述句"}[c.sentence])
    if c.speaker is not None:
        parts.append("说话人" + "或".join({HeardBy.MICROPHONE: "由本人麦克风确定",
                                         HeardBy.ATTRIBUTED: "由声音和用语推定（单麦克风）",
                                         HeardBy.UNKNOWN: "未能确定"}[h] for h in c.speaker))
    if c.subject is not None:
        parts.append("无主语" if c.subject == (NO_SUBJECT,) else "主语为" + "/".join(
            {NO_SUBJECT: "无", OTHERS: "别的人（好多人、家里人）"}.get(s, s) for s in c.subject))
    if c.addressee is not None:
        parts.append("其后称呼「" + "/".join(c.addressee) + "」")
    if c.preceded_by is not None:
        parts.append("前有「" + "/".join(c.preceded_by) + "」")
    if c.followed_by is not None:
        parts.append("后有「" + "/".join(c.followed_by) + "」")
    if c.next_word is not None:
        parts.append("紧接「" + "/".join(c.next_word) + "」")
    if c.clause_has is not None:
        parts.append("分句中有「" + "/".join(c.clause_has) + "」")
    if c.next_clause_has is not None:
        parts.append("下一分句中有「" + "/".join(c.next_clause_has) + "」")
    if c.position is not None:
        parts.append({Position.CLAUSE_START: "位于分句开头", Position.CLAUSE_END: "位于分句末尾",
                      Position.SENTENCE_START: "位于句首",
                      Position.SENTENCE_END: "位于句末"}[c.position])
    return "、".join(parts)


def excluded_by(rules: ContextRules, text: str, start: int, end: int, heard_by: HeardBy,
                said: str | None = None) -> str | None:
    """Why the hit at [start, end) of `text`, said by a speaker known `heard_by` and saying the
    rule's phrase or variant `said`, is no violation in its context (Chinese), or None if it
    stands."""
    if rules.word_boundary and not on_word_boundaries(text, start, end):
        return "命中处不是完整的词"
    if not rules.unless and not rules.only_if:
        return None
    here = Surroundings.of(text, start, end, heard_by, said)
    hit = next((c for c in rules.unless if here.holds(c)), None)
    if hit is not None:
        return f"语境不构成违规（{describe(hit)}）"
    if rules.only_if and not any(here.holds(c) for c in rules.only_if):
        return "语境不符合（须" + "，或".join(describe(c) for c in rules.only_if) + "）"
    return None


# A whole utterance that asks something (问有答声: a citizen's question wants an answer): a
# question mark, a final 吗/么/呢, or a question form: 是否, A不A / A没A (能不能, 是不是, 有没有),
# an interrogative word (几 only before a measure word: 几点, 几号; not 几乎). A final 吧 is left
# out: it ends requests and statements (那我明天再来吧) as often as guesses.
_ASKS = re.compile(r"[？?]|[吗么呢][，,。.！!；;\s]*$|是否|(\w)[不没]\1|什么|哪|怎么|怎样|为什么"
                   r"|多少|几[个点号天次楼层份张岁年月]|谁")


def asks(text: str) -> bool:
    """Whether an utterance's text is (or holds) a question."""
    return bool(_ASKS.search(text))

"""Find rule phrases in transcripts the way a listener would: by sound as well as by character.

Whisper base gets about one Mandarin character in five wrong, mostly homophones and
near-homophones (不只道 for 不知道). Each phrase is aligned against the transcript with a
semi-global edit distance over syllables, where substituting a homophone costs little and a
different sound costs a full edit; the score is one minus the cost per phrase character.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import pairwise, product
from types import MappingProxyType
from typing import TypeVar

import jieba
from pypinyin import Style, pinyin
from pypinyin.style._utils import get_finals, get_initials

from etiquette.core.context import excluded_by
from etiquette.core.meaning import MeaningModel, meaning_model
from etiquette.core.records import HeardBy, PhraseHit, Speaker, Transcript
from etiquette.core.rules import ForbiddenRule, Parts, RequiredRule, RuleSet

SLOT = "×"  # ×× in Appendix B: a part the speaker fills in (a material, a window name)

# Costs of one edit, in phrase characters.
EXACT, HOMOPHONE, NEAR_HOMOPHONE, SIMILAR, DIFFERENT = 0.0, 0.1, 0.3, 0.65, 1.0
MISSING = 1.0  # a phrase character the speaker did not say
EXTRA = 0.7  # a character said inside the phrase that it does not have
SLOT_CHAR = 0.05  # each character filling a slot; keeps slots short
SLOT_MAX = 12
# A phrase of this many sounds or more may be heard with one clause break its text does not have:
# a speaker's pause inside it (有意见，找领导去), which Whisper marks with a comma and the joining
# of two utterances across a pause with a clause break. Shorter phrases may not (急，什么).
PAUSE_MIN_SOUNDS = 5

_CLAUSE_BREAK = re.compile(r"[，,。.！!？?；;：:、]")
_PUNCT = re.compile(r"[\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
                    r"!-/:-@\[-`{-~…—·‘’“”]")
_BRACKETED = re.compile(r"（[^）]*）|\([^)]*\)")
# Sounds that Mandarin speakers and Whisper commonly confuse (平翘舌, 前后鼻音, n/l, h/f).
_FUZZY_INITIALS = {"zh": "z", "ch": "c", "sh": "s", "l": "n", "f": "h", "r": "l"}
_FUZZY_FINALS = {"ing": "in", "eng": "en", "ang": "an", "iang": "ian", "uang": "uan", "ong": "eng"}

_EDIT_NAMES = {HOMOPHONE: "同音", NEAR_HOMOPHONE: "近音", SIMILAR: "音近", DIFFERENT: "不同"}


@dataclass(frozen=True)
class _Token:
    char: str
    readings: frozenset[str]
    fuzzy: frozenset[str]
    initials: frozenset[str]
    finals: frozenset[str]


def _fuzz(initial: str, final: str) -> str:
    return _FUZZY_INITIALS.get(initial, initial) + "|" + _FUZZY_FINALS.get(final, final)


R = TypeVar("R", ForbiddenRule, RequiredRule)
Readings = Mapping[str, tuple[str, ...]]  # extra readings of a character, from the rules file
NO_READINGS: Readings = MappingProxyType({})


@lru_cache(maxsize=20000)
def _token(char: str, extra: tuple[str, ...] = ()) -> _Token:
    if "\u4e00" <= char <= "\u9fff":
        # The two main readings only: rare ones (体 read cui) make false homophones.
        readings = frozenset(pinyin(char, style=Style.NORMAL, heteronym=True)[0][:2]) | set(extra)
    else:
        readings = frozenset({char.lower()})
    initials = {get_initials(r, strict=False) for r in readings}
    finals = {get_finals(r, strict=False) for r in readings}
    fuzzy = {_fuzz(get_initials(r, strict=False), get_finals(r, strict=False)) for r in readings}
    return _Token(char, readings, frozenset(fuzzy), frozenset(i for i in initials if i),
                  frozenset(f for f in finals if f))


def substitution_cost(said: str, expected: str, readings: Readings = NO_READINGS) -> float:
    """Cost of hearing `said` where the phrase has `expected` (two single characters)."""
    if said == expected:
        return EXACT
    a, b = _token(said, readings.get(said, ())), _token(expected, readings.get(expected, ()))
    if a.readings & b.readings:
        return HOMOPHONE
    if a.fuzzy & b.fuzzy:
        return NEAR_HOMOPHONE
    if a.initials & b.initials or a.finals & b.finals:
        return SIMILAR
    return DIFFERENT


def phrase_chars(phrase: str) -> str:
    """The characters of a rule phrase that are matched: no punctuation, no (alternative)."""
    return _PUNCT.sub("", _BRACKETED.sub("", phrase))


@dataclass(frozen=True)
class Pattern:
    rule_id: str
    canonical: str  # the Appendix B phrase reported for a hit
    text: str  # the phrase or variant actually aligned
    min_score: float
    pause_inside: bool = False  # may be heard with a pause inside it (PAUSE_MIN_SOUNDS)
    origin: str = ""  # the phrase or variant of the rules file this text says ("" = `text`)

    @property
    def chars(self) -> str:
        """What is aligned: a long phrase's clause breaks are places the speaker may fill
        (填错了，发动机号少了两位，快点改), as a slot is."""
        text = self.text
        if self.pause_inside and len(phrase_chars(text).replace(SLOT, "")) >= PAUSE_MIN_SOUNDS:
            text = _CLAUSE_BREAK.sub(SLOT, text)
        return phrase_chars(text)


@dataclass(frozen=True)
class _Alignment:
    cost: float
    first: int  # index into the text's tokens
    last: int
    edits: tuple[tuple[str, str, float], ...]  # (said, expected, cost) of every non-exact step


def _text_positions(text: str) -> list[int]:
    """Indexes of the characters of `text` that take part in matching."""
    return [i for i, ch in enumerate(text) if not _PUNCT.match(ch)]


def _align(phrase: str, said: str, readings: Readings) -> list[_Alignment]:
    """Every local best alignment of `phrase` (all of it) inside `said` (any part of it)."""
    m, n = len(phrase), len(said)
    inf = float("inf")
    # cost[i][j]: best cost of phrase[:i] ending just before said[j]; starting anywhere is free.
    cost = [[0.0] * (n + 1)] + [[inf] * (n + 1) for _ in range(m)]
    back: list[list[tuple[int, int, float, str] | None]] = [[None] * (n + 1) for _ in range(m + 1)]
    for i in range(1, m + 1):
        p = phrase[i - 1]
        slot = p == SLOT
        row, prev = cost[i], cost[i - 1]
        for j in range(n + 1):
            skip = 0.0 if slot else MISSING
            best, step = prev[j] + skip, (i - 1, j, skip, "")
            if j:
                c = SLOT_CHAR if slot else substitution_cost(said[j - 1], p, readings)
                if prev[j - 1] + c < best:
                    best, step = prev[j - 1] + c, (i - 1, j - 1, c, said[j - 1])
                extra = SLOT_CHAR if slot else EXTRA
                if ((i < m or slot) and row[j - 1] + extra < best
                        and (not slot or _run(back, i, j - 1) < SLOT_MAX)):
                    best, step = row[j - 1] + extra, (i, j - 1, extra, said[j - 1])
            row[j] = best
            back[i][j] = step
    results = []
    last_row = cost[m]
    for j in range(1, n + 1):
        # a local minimum over end positions is one candidate occurrence
        # (on a plateau the earliest end: a different sound costs what a missing one does, and
        # the shorter match is the one that does not run into the next clause)
        here = last_row[j]
        if here < inf and here < last_row[j - 1] and (j == n or here <= last_row[j + 1]):
            results.append(_backtrack(back, phrase, m, j, last_row[j]))
    return [r for r in results if r is not None]


def _run(back: list[list[tuple[int, int, float, str] | None]], i: int, j: int) -> int:
    """How many characters a slot at phrase position i has absorbed up to said[j]."""
    k = 0
    while j > 0 and (step := back[i][j]) is not None and step[0] == i and k <= SLOT_MAX:
        k, j = k + 1, step[1]
    return k


def _backtrack(back: list[list[tuple[int, int, float, str] | None]], phrase: str,
               i: int, j: int, total: float) -> _Alignment | None:
    end = j - 1
    first = j
    edits: list[tuple[str, str, float]] = []
    while i > 0:
        step = back[i][j]
        assert step is not None
        pi, pj, c, said_char = step
        expected = phrase[i - 1] if pi == i - 1 else ""
        if pj == j - 1:
            first = pj
        if c and expected != SLOT and not (pi == i and phrase[i - 1] == SLOT):
            edits.append((said_char, expected, c))
        i, j = pi, pj
    if first > end:
        return None
    return _Alignment(total, first, end, tuple(reversed(edits)))


def _explain(matched: str, pattern: Pattern, edits: tuple[tuple[str, str, float], ...],
             score: float) -> str:
    parts = []
    for said, expected, c in edits:
        if said and expected:
            parts.append(f"{said}→{expected} {_EDIT_NAMES.get(c, '不同')}")
        elif expected:
            parts.append(f"缺「{expected}」")
        else:
            parts.append(f"多「{said}」")
    detail = "；".join(parts) if parts else "逐字相同"
    of = f"，属「{pattern.canonical}」" if pattern.text != pattern.canonical else ""
    return f"「{matched}」匹配「{pattern.text}」（{detail}）{of}，相似度 {score:.2f}"


def find(text: str, patterns: Iterable[Pattern], readings: Readings = NO_READINGS
         ) -> list[PhraseHit]:
    """The best occurrence of each rule's patterns in `text`, if it scores its min_score."""
    return _best_per_rule(occurrences(text, patterns, readings))


def occurrences(text: str, patterns: Iterable[Pattern], readings: Readings = NO_READINGS
                ) -> list[PhraseHit]:
    """Every occurrence of the patterns in `text` that scores its pattern's min_score."""
    positions = _text_positions(text)
    said = "".join(text[i] for i in positions)
    said_fuzzy = (set().union(*(_token(c, readings.get(c, ())).fuzzy for c in said)) if said
                  else set())
    hits: list[PhraseHit] = []
    for pattern in patterns:
        phrase = pattern.chars
        sounds = [ch for ch in phrase if ch != SLOT]
        if not sounds:
            continue
        # Each phrase sound absent from the text costs at least SIMILAR: skip hopeless patterns.
        absent = sum(1 for ch in sounds
                     if not (_token(ch, readings.get(ch, ())).fuzzy & said_fuzzy))
        if 1 - absent * SIMILAR / len(sounds) < pattern.min_score:
            continue
        for a in _align(phrase, said, readings):
            score = round(max(0.0, 1 - a.cost / len(sounds)), 3)
            if score < pattern.min_score:
                continue
            start, end = positions[a.first], positions[a.last] + 1
            matched = text[start:end]
            # A phrase does not run across a clause break it does not have itself:
            # 「不知道，您问别人去吧」 is not the polite 「不知道您…」; but a long one may have been
            # said with a pause inside.
            extra = len(_CLAUSE_BREAK.findall(matched)) - len(_CLAUSE_BREAK.findall(pattern.text))
            if extra > (1 if pattern.pause_inside and len(sounds) >= PAUSE_MIN_SOUNDS else 0):
                continue
            hits.append(PhraseHit(pattern.rule_id, pattern.canonical, pattern.text, matched, start,
                                  end, score, _explain(matched, pattern, a.edits, score)))
    return hits


def _rank(h: PhraseHit) -> tuple[float, int, int]:  # best score, then the fuller phrase, earliest
    return h.score, h.char_end - h.char_start, -h.char_start


# A word of `staff_alone` is said alone where it stands between clause breaks, beside a form
# of address (大姐您好 / 你好，大叔), a particle (走好啊) or itself again (你好你好, which Whisper
# writes without a comma): not inside other words, where it is part of them (你好烦, 为你好,
# 下午好不好, 不欢迎, 欢迎提出来, 下次见面, 你再会签).
_ADDRESS = ("先生", "女士", "同志", "同学", "师傅", "老师", "老表", "老板", "阿姨", "阿婆",
            "阿叔", "大爷", "大伯", "大叔", "大姐", "大哥", "大嫂", "大妈", "叔叔", "奶奶",
            "爷爷", "老人家", "小伙子", "姑娘", "妹子", "您")
_BREAK = r"\s，,。.！!？?；;：:、…"


def _alone(words: Iterable[str]) -> re.Pattern[str]:
    after_address = "|".join(f"(?<={a})" for a in _ADDRESS)  # one fixed width each, as re needs
    said = "|".join(map(re.escape, words))
    return re.compile(f"(?:^|(?<=[{_BREAK}])|{after_address})(?P<word>{said})"
                      f"(?=$|[{_BREAK}啊呀啦嘞哈哦]|请|{'|'.join(_ADDRESS)}|(?P=word))")


def _said_alone(rule: RequiredRule, m: re.Match[str], speaker: Speaker) -> PhraseHit:
    why = (f"工作人员说了「{m.group()}」：说话人确定是工作人员时，单说这一句即为{rule.name}"
           if speaker == Speaker.STAFF else
           f"单麦克风上有人说了「{m.group()}」，未能确定是不是工作人员：可能是工作人员说的，"
           f"不判未说{rule.name}")
    return PhraseHit(rule.id, rule.canonical, m.group(), m.group(), m.start(), m.end(), 1.0, why)


def _best_per_rule(hits: list[PhraseHit]) -> list[PhraseHit]:
    """One hit per rule and text: a sentence that says a phrase twice is one incident."""
    best: dict[str, PhraseHit] = {}
    for hit in hits:
        if hit.rule_id not in best or _rank(hit) > _rank(best[hit.rule_id]):
            best[hit.rule_id] = hit
    return sorted(best.values(), key=lambda h: (h.char_start, h.rule_id))


def _overlap(a: PhraseHit, b: PhraseHit) -> bool:
    return a.char_start < b.char_end and b.char_start < a.char_end


# Sentence-final particles carry tone, not meaning: 你去投诉我 is 你去投诉我啊 said flatly.
_FINAL_PARTICLES = "啊吧呀呢嘛啦哦"


Lexicon = Mapping[str, tuple[str, ...]]  # a phrase's word -> what is said for it (equivalents)


def _said_as(texts: dict[str, str], lexicon: Lexicon) -> dict[str, str]:
    """`texts` (text -> the rules' phrase it says) and each with one of its words said as the
    lexicon has it (催什么 -> 催么子), which says the same phrase."""
    forms = dict(texts)
    for t, origin in texts.items():
        for word, saids in lexicon.items():
            if word in t:
                for said in saids:
                    forms.setdefault(t.replace(word, said), origin)
    return forms


def _patterns(rule: ForbiddenRule | RequiredRule, min_score: float,
              lexicon: Lexicon) -> list[Pattern]:
    score = rule.min_score if rule.min_score is not None else min_score
    texts = {t: t for t in (*rule.phrases, *rule.variants)}
    for t in list(texts):
        if len(c := phrase_chars(t)) > 3 and c[-1] in _FINAL_PARTICLES:
            texts.setdefault(c[:-1], t)
    return [Pattern(rule.id, rule.canonical, t, score, pause_inside=True, origin=origin)
            for t, origin in _said_as(texts, lexicon).items()]


@dataclass(frozen=True)
class _Parts:
    """A rule's parts compiled: each part's patterns, and the window they must fall in."""

    parts: tuple[tuple[Pattern, ...], ...]
    spec: Parts


def _compile_parts(rule: ForbiddenRule | RequiredRule, min_score: float, lexicon: Lexicon
                   ) -> _Parts | None:
    if rule.parts is None:
        return None
    score = rule.min_score if rule.min_score is not None else min_score
    return _Parts(tuple(
        tuple(Pattern(rule.id, rule.canonical, t, p.min_score or score)
              for t in _said_as({w: w for w in p.says}, lexicon))
        for p in rule.parts.items), rule.parts)


def _distinct(hits: list[PhraseHit]) -> list[PhraseHit]:
    """The best of each group of overlapping hits (one place aligned to several texts)."""
    kept: list[PhraseHit] = []
    for h in sorted(hits, key=_rank, reverse=True):
        if not any(_overlap(h, k) for k in kept):
            kept.append(h)
    return kept


def part_hits(text: str, compiled: _Parts, readings: Readings = NO_READINGS, margin: float = 0.0
              ) -> list[PhraseHit]:
    """The places where every part of a phrase is heard, each at its own threshold (plus
    `margin`), close together as the rule's window allows: one hit from the first part's start
    to the last part's end, its score the parts' mean by length."""
    spec = compiled.spec
    found = [_distinct([h for h in occurrences(text, pats, readings)
                        if h.score >= pats[0].min_score + margin])
             for pats in compiled.parts]
    ranked: list[tuple[tuple[float, int, int], PhraseHit]] = []
    for combo in product(*found):
        ordered = sorted(combo, key=lambda h: h.char_start)
        if not spec.any_order and list(combo) != ordered:
            continue
        if any(_overlap(a, b) for a, b in pairwise(ordered)):
            continue
        start, end = ordered[0].char_start, max(h.char_end for h in ordered)
        span = text[start:end]
        clauses = len(_CLAUSE_BREAK.findall(span)) + 1
        if clauses > spec.within_clauses or len(phrase_chars(span)) > spec.within_chars:
            continue
        sizes = [len(phrase_chars(h.variant).replace(SLOT, "")) or 1 for h in combo]
        score = round(sum(h.score * n for h, n in zip(combo, sizes, strict=True)) / sum(sizes), 3)
        said = "、".join(f"「{h.matched}」" for h in combo)
        explanation = (f"分段说出{said}（{clauses} 个分句内）：" + "；".join(
            h.explanation for h in combo))
        variant = "＋".join(h.variant for h in combo)
        hit = PhraseHit(combo[0].rule_id, combo[0].phrase, variant, span, start, end, score,
                        explanation)
        # Of combinations over the same words, the best scored, then the one whose parts say
        # most (指示牌上 rather than 写着 beside it), then the tightest.
        ranked.append(((score, sum(sizes), start - end), hit))
    kept: list[PhraseHit] = []
    for _, hit in sorted(ranked, key=lambda r: r[0], reverse=True):
        if not any(_overlap(hit, k) for k in kept):
            kept.append(hit)
    return kept


_REQUIRED_CHECKS = 3  # near misses of a required phrase checked per utterance, best first

# Given a transcript and a near-miss hit in it, how many nats less likely the audio makes the
# rule phrase than the transcript; None if it cannot tell (see etiquette.speech.acoustic_check).
AcousticCheck = Callable[[Transcript, PhraseHit], float | None]


@dataclass(frozen=True)
class ExcludedHit:
    """A hit that is no violation, and why: a listed look-alike (`exclusion`) that explains the
    words better, or the language around it (rules' `context`)."""

    hit: PhraseHit
    reason: str
    exclusion: PhraseHit | None = None
    # Not excused by its words: only too weak a match where the speaker is not known (the model,
    # sure enough of the phrase, may still find it)
    unsure: bool = False


class PhraseMatcher:
    """The rules of one RuleSet, compiled for matching transcripts."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        jieba.initialize()  # its dictionary loads now, not at a live window's first transcript
        m = rules.matching
        self._readings = {c: tuple(r) for c, r in m.readings.items()}
        self._forbidden = {r.id: r for r in rules.forbidden}
        self._required = {r.id: r for r in rules.required}
        lexicon = {e.means: e.said for e in m.equivalents}
        self._forbidden_patterns = [p for r in rules.forbidden
                                    for p in _patterns(r, m.min_score, lexicon)]
        self._parts = {r.id: c for r in rules.forbidden
                       if (c := _compile_parts(r, m.min_score, lexicon)) is not None}
        near = m.acoustic_check_min_score
        self._near_miss_patterns = [replace(p, min_score=min(p.min_score, near))
                                    for p in self._forbidden_patterns] if near else []
        self._min_score = {p.rule_id: p.min_score for p in self._forbidden_patterns}
        # which of its rule's phrases or variants each aligned text says (context's `said`)
        self._says = {(p.rule_id, p.text): p.origin or p.text for p in self._forbidden_patterns}
        self._required_patterns = [p for r in rules.required
                                   for p in _patterns(r, m.required_min_score, lexicon)]
        self._required_parts = [c for r in rules.required
                                if (c := _compile_parts(r, m.required_min_score, lexicon))]
        self._staff_alone = {r.id: _alone(r.staff_alone) for r in rules.required if r.staff_alone}
        self._exclusions = {
            r.id: [Pattern(r.id, e, e, m.exclusion_min_score) for e in r.exclusions]
            for r in rules.forbidden
        }
        # the clauses of phrases said in one breath (听我的，还是听你的): a part as well
        self._clauses = {r.id: [replace(p, text=c, pause_inside=False)
                                for p in self._forbidden_patterns if p.rule_id == r.id
                                for c in _CLAUSE_BREAK.split(p.text) if len(phrase_chars(c)) >= 3
                                and c != p.text]
                         for r in rules.forbidden}
        self._judged: dict[Transcript, tuple[list[tuple[ForbiddenRule, PhraseHit]],
                                             list[ExcludedHit]]] = {}
        read = rules.meaning is not None and bool(rules.examples)
        self._meaning = meaning_model(rules.examples, set(self._forbidden)) if read else None
        # the required phrases whose absence is an incident: a greeting or farewell missed is
        # a false flag against the staff member
        self._required_meaning = (meaning_model(rules.examples,
                                                {r.id for r in rules.required if r.missing})
                                  if read else None)

    def forbidden(self, transcript: Transcript, check: AcousticCheck | None = None
                  ) -> tuple[list[tuple[ForbiddenRule, PhraseHit]], list[ExcludedHit]]:
        """Forbidden phrases said by a speaker the rule applies to, less the polite look-alikes.

        With `check`, near misses (from matching.acoustic_check_min_score up) stand if the audio
        supports the rule phrase almost as well as the transcript.
        """
        if check is not None:
            return self._forbidden_in(transcript, check)
        # Judging reads an utterance again for each later one of its turn (what is going on).
        judged = self._judged.get(transcript)
        if judged is None:
            if len(self._judged) > 10_000:  # a live window runs for months
                self._judged.clear()
            judged = self._judged[transcript] = self._forbidden_in(transcript, None)
        return list(judged[0]), list(judged[1])

    def _forbidden_in(self, transcript: Transcript, check: AcousticCheck | None
                      ) -> tuple[list[tuple[ForbiddenRule, PhraseHit]], list[ExcludedHit]]:
        text = transcript.text
        found: list[tuple[ForbiddenRule, PhraseHit]] = []
        excluded: list[ExcludedHit] = []
        patterns = (self._near_miss_patterns if check and self._near_miss_patterns
                    else self._forbidden_patterns)
        unknown = transcript.speaker == Speaker.UNKNOWN
        margin = self.rules.matching.unknown_speaker_margin if unknown else 0.0
        # (hit, whether its parts each met their own threshold already)
        candidates: dict[str, list[tuple[PhraseHit, bool]]] = {}
        for hit in occurrences(text, patterns, self._readings):
            candidates.setdefault(hit.rule_id, []).append((hit, False))
        for parts in self._parts.values():
            for hit in part_hits(text, parts, self._readings, margin):
                candidates.setdefault(hit.rule_id, []).append((hit, True))
        # A phrase said twice is one incident, but an occurrence its context excuses must not
        # hide a later one that it does not (不知道怎么开……这个我不知道).
        for rule_id, hits in candidates.items():
            if transcript.speaker not in self._forbidden[rule_id].speakers:
                continue
            judged: list[PhraseHit] = []
            for hit, parted in sorted(hits, key=lambda c: _rank(c[0]), reverse=True):
                if any(_overlap(hit, other) for other in judged):
                    continue  # the same words aligned another way, or to another variant
                judged.append(hit)
                verdict = self._judge(transcript, self._forbidden[rule_id], hit,
                                      None if parted else check, parted)
                if isinstance(verdict, ExcludedHit):
                    excluded.append(verdict)
                elif verdict is not None:
                    found.append((self._forbidden[rule_id], verdict))
                    break
        # The wordings outrank the model: a phrase they found or their context excused (这个我也
        # 不知道，我帮你问问) is theirs to judge. One whose part ends the utterance (听我的, its
        # other part perhaps coming after the pause: the incident then spans both) is held back
        # for the judge (`held`). A part said with more after it (你快点改，还有三分钟) is the
        # model's.
        if (by_meaning := self._meant(transcript, found, excluded)) is not None:
            if not self._ends_with_a_part(text, by_meaning[0].id):
                found.append(by_meaning)
        found.sort(key=lambda f: (f[1].char_start, f[0].id))
        return found, excluded

    def _meant(self, transcript: Transcript, found: list[tuple[ForbiddenRule, PhraseHit]],
               excluded: list[ExcludedHit]) -> tuple[ForbiddenRule, PhraseHit] | None:
        """The model's phrase in the utterance where the wordings leave it to the model: they
        neither found it nor excused it by its words (a match too weak for an unknown speaker
        excuses nothing: the model may be surer, 言错了，快点改)."""
        by_meaning = self._by_meaning(transcript, self._meaning, self._forbidden)
        if by_meaning is None:
            return None
        theirs = {r.id for r, _ in found} | {e.hit.rule_id for e in excluded if not e.unsure}
        return by_meaning if by_meaning[0].id not in theirs else None

    def held(self, transcript: Transcript) -> tuple[ForbiddenRule, PhraseHit] | None:
        """The model's phrase that `forbidden` held back because the utterance ends with one
        part of it (自己看吗？): the judge reports it over the run with the next utterance where
        that holds the phrase, else on this utterance alone."""
        return self._meant(transcript, *self.forbidden(transcript))  # None where it was found

    def runs_on(self, before: Transcript, transcript: Transcript) -> set[str]:
        """The phrases the model alone found in `transcript` whose first part ended `before`
        (马上下班了。（停顿）你快点去): one phrase said across the pause, whose incident should
        span both halves rather than the second alone."""
        found, _ = self.forbidden(transcript)
        meant = self._by_meaning(transcript, self._meaning, self._forbidden)
        if meant is None or meant not in found:
            return set()
        rule_id = meant[0].id
        return {rule_id} if self._ends_with_a_part(before.text, rule_id) else set()

    def _ends_with_a_part(self, text: str, rule_id: str) -> bool:
        """Whether `text` ends with one part of the rule's phrase in parts, or one clause of a
        phrase of it said in one breath (trailing punctuation and particles aside)."""
        end = len(text.rstrip("，,。.！!？?；;：:、 …呢吗吧啊呀哦嘛"))
        parts = self._parts[rule_id].parts if rule_id in self._parts else ()
        hits = [h for pats in parts for h in occurrences(text, pats, self._readings)
                if h.score >= pats[0].min_score]
        hits += find(text, self._clauses[rule_id], self._readings)
        return any(h.char_end >= end for h in hits)

    def _by_meaning(self, transcript: Transcript, model: MeaningModel | None,
                    rules: Mapping[str, R]) -> tuple[R, PhraseHit] | None:
        """The phrase of `rules` the utterance means, as `model` reads it, where it is sure
        enough (surer where the speaker could not be told apart): the whole utterance is the
        hit."""
        settings = self.rules.meaning
        if model is None or settings is None:
            return None
        text = transcript.text
        p = model.probabilities(text)
        if not p or len(phrase_chars(text)) < settings.min_chars:
            return None
        rule = rules[max(p, key=p.__getitem__)]
        unknown = transcript.speaker == Speaker.UNKNOWN
        need = settings.unknown_speaker_min_probability if unknown else settings.min_probability
        if transcript.speaker not in rule.speakers or p[rule.id] < need:
            return None
        nearest = model.nearest(text, rule.id)
        why = (f"按意思判断：与例句「{nearest}」意思相近，把握 {p[rule.id]:.2f}"
               f"（要求 {need:.2f}{'，说话人未能确定' if unknown else ''}）")
        return rule, PhraseHit(rule.id, rule.canonical, nearest, text, 0, len(text),
                               round(p[rule.id], 3), why)

    def _judge(self, transcript: Transcript, rule: ForbiddenRule, hit: PhraseHit,
               check: AcousticCheck | None, parted: bool = False
               ) -> PhraseHit | ExcludedHit | None:
        """One occurrence of a rule's phrase: the hit to flag (its explanation completed), the
        reason it is no violation, or None for a near miss that does not stand. `parted`: a hit
        of the rule's parts, each of which met its own threshold (with the unknown speaker's
        margin) already."""
        text = transcript.text
        if parted:
            if transcript.speaker == Speaker.UNKNOWN:
                hit = replace(hit, explanation=f"{hit.explanation}；说话人未能确定，各段按更高的"
                              "相似度要求判定")
        elif hit.score < self._min_score[rule.id]:
            checked = (self._acoustic(transcript, hit, check)
                       if transcript.speaker != Speaker.UNKNOWN else None)
            if checked is None:  # it stands on the audio, and only where the speaker is known
                return None
            hit = checked
        elif transcript.speaker == Speaker.UNKNOWN:
            # Perhaps the citizen's words: only a clear match is put to a supervisor.
            need = min(1.0, self._min_score[rule.id] + self.rules.matching.unknown_speaker_margin)
            if hit.score < need:
                return ExcludedHit(hit, f"说话人未能确定，相似度 {hit.score:.2f} 低于说话人未确定时"
                                        f"要求的 {need:.2f}", unsure=True)
            hit = replace(hit, explanation=f"{hit.explanation}；说话人未能确定，"
                          f"按更高的相似度要求 {need:.2f} 判定")
        # A look-alike that fits the words at least as well as the rule phrase explains them:
        # 「我知道您是否方便」 is nearer 不知道您… than 不知道.
        exclusions = [replace(e, min_score=min(e.min_score, hit.score))
                      for e in self._exclusions[rule.id]]
        clash = next((e for e in find(text, exclusions, self._readings) if _overlap(e, hit)), None)
        if clash:
            return ExcludedHit(hit, f"与礼貌用语「{clash.phrase}」相符", clash)
        said = None if parted else self._says.get((rule.id, hit.variant))
        if reason := excluded_by(rule.context, text, hit.char_start, hit.char_end,
                                 transcript.heard_by, said):
            return ExcludedHit(hit, reason)
        return self._vetoed(transcript, rule, hit) or hit

    def _vetoed(self, transcript: Transcript, rule: ForbiddenRule, hit: PhraseHit
                ) -> ExcludedHit | None:
        """A wording's hit on one microphone for both sides that the meaning model all but
        rules out: the words of the phrase in a sentence that means something else, most often
        the citizen's own 我不知道要带什么 heard with the clerk's."""
        settings = self.rules.meaning
        if (self._meaning is None or settings is None
                or transcript.heard_by == HeardBy.MICROPHONE):
            return None
        p = self._meaning.probabilities(transcript.text).get(rule.id, 0.0)
        if p >= settings.one_microphone_veto_below:
            return None
        return ExcludedHit(hit, f"单麦克风，按意思判断不像「{rule.canonical}」（把握 {p:.2f}，"
                                f"低于 {settings.one_microphone_veto_below:.2f}），多是群众在说")

    def _acoustic(self, transcript: Transcript, hit: PhraseHit,
                  check: AcousticCheck | None) -> PhraseHit | None:
        loss = check(transcript, hit) if check else None
        limit = self.rules.matching.acoustic_check_max_loss
        if loss is None or loss > limit:
            return None
        why = (f"声学复核通过：以「{hit.variant}」代入后似然仅降低 {max(loss, 0):.1f}"
               f"（上限 {limit:.1f}）")
        return replace(hit, explanation=f"{hit.explanation}；{why}")

    def heard_after_all(self, transcript: Transcript, rule: RequiredRule, check: AcousticCheck
                        ) -> PhraseHit | None:
        """A required phrase the words of `transcript` miss but its audio supports: Whisper base
        writes a greeting in a voice it knows badly as 您靠前文您需要参与陈河严屋, which the
        phrase explains as well, and a farewell said alone as 嗯，做好. The best few near misses
        of at least two characters are checked, of the rule's phrases and of the words it takes
        alone (those only where the word would stand alone). None if none stands."""
        floor = self.rules.matching.required_check_min_score
        if floor is None or transcript.speaker not in rule.speakers:
            return None
        text = transcript.text
        patterns = [replace(p, min_score=floor) for p in self._required_patterns
                    if p.rule_id == rule.id]
        alone = self._staff_alone.get(rule.id)
        if alone is not None and transcript.speaker in (Speaker.STAFF, Speaker.UNKNOWN):
            patterns += [Pattern(rule.id, rule.canonical, w, floor) for w in rule.staff_alone]
        near = [h for h in occurrences(text, patterns, self._readings)
                if len(phrase_chars(h.matched)) >= 2
                and (h.variant not in rule.staff_alone or alone is not None and alone.match(
                    text[:h.char_start] + h.variant + text[h.char_end:], h.char_start))]
        for hit in sorted(near, key=_rank, reverse=True)[:_REQUIRED_CHECKS]:
            if (checked := self._acoustic(transcript, hit, check)) is not None:
                return checked
        return None

    def required(self, transcript: Transcript) -> list[tuple[RequiredRule, PhraseHit]]:
        """Required phrases said by a speaker the rule applies to, whole, in their parts (您好
        …今天办什么) or, from the staff or a voice not told apart, in a word that alone says them
        (`staff_alone`): the best place of each."""
        text = transcript.text
        hits = find(text, self._required_patterns, self._readings)
        hits += [h for parts in self._required_parts
                 for h in part_hits(text, parts, self._readings)]
        said = [(self._required[h.rule_id], h) for h in _best_per_rule(hits)
                if transcript.speaker in self._required[h.rule_id].speakers]
        # 你好，大叔，来，坐下慢慢讲. From a voice not told apart on one microphone too: the
        # phrase is looked for to judge it missing, a charge against the staff, and the word may
        # be theirs; never from a voice told to be the citizen's.
        if transcript.speaker in (Speaker.STAFF, Speaker.UNKNOWN):
            found = {r.id for r, _ in said}
            said += [(self._required[i], _said_alone(self._required[i], m, transcript.speaker))
                     for i, alone in self._staff_alone.items()
                     if i not in found and transcript.speaker in self._required[i].speakers
                     and (m := alone.search(text))]
        # what the wordings did not find, the meaning may (同学你好，开证明吗)
        by_meaning = self._by_meaning(transcript, self._required_meaning, self._required)
        if by_meaning is not None and by_meaning[0].id not in {r.id for r, _ in said}:
            said.append(by_meaning)
        return said

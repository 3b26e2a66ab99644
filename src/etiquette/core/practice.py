"""Staff self-training, judged: the transcript of a practice recording against the required
phrase practised, with the same matcher (and the same rules) that judges a window's speech.

What the recording is turned into text with is not here: the speech side does that
(`etiquette.practice`) and the supervision service only receives the verdict.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from etiquette.core.matching import PhraseMatcher, phrase_chars
from etiquette.core.records import Transcript
from etiquette.core.rules import RequiredRule, RuleSet


class RecordingError(ValueError):
    """A practice recording that cannot be judged (not audio, too short, too long). The message
    is for the staff member who recorded it, Chinese first."""


class UndecodableRecording(RecordingError):
    """A practice recording that is not audio any decoder reads."""


@dataclass(frozen=True)
class PracticeVerdict:
    rule_id: str
    phrase: str  # the standard phrase practised
    transcript: str
    recognised: bool
    score: float
    matched: str  # the words that matched the phrase, as heard
    missed: tuple[str, ...]  # runs of the phrase's characters that were not heard
    duration_s: float  # of the recording


def judge_practice(rules: RuleSet, rule: RequiredRule, transcript: Transcript,
                   duration_s: float) -> PracticeVerdict:
    """Whether `transcript` says `rule` (one of `rules`, whose matching settings apply), and
    which words of the phrase were not heard."""
    # The standard phrase by its words: a sentence that only means it (同学你好，开证明吗 for a
    # greeting) or a word that alone stands for it at the window (你好) is no practice of it, so
    # the meaning model and `staff_alone` are left out.
    wordings = PhraseMatcher(rules.wordings_only())
    hits = [h for r, h in wordings.required(transcript) if r.id == rule.id]
    best = max(hits, key=lambda h: h.score, default=None)
    phrase = rule.phrases[0]
    if best is None:
        return PracticeVerdict(rule.id, phrase, transcript.text, False, 0.0, "",
                               missed_words(phrase_chars(phrase), transcript.text), duration_s)
    return PracticeVerdict(rule.id, phrase, transcript.text, True, round(best.score, 3),
                           best.matched, missed_words(phrase_chars(best.variant), best.matched),
                           duration_s)


def missed_words(phrase: str, heard: str) -> tuple[str, ...]:
    """The runs of `phrase`'s characters that `heard` lacks ("××" slots stand for any words
    and are never missed)."""
    blocks = difflib.SequenceMatcher(a=phrase, b=heard, autojunk=False).get_matching_blocks()
    covered = [False] * len(phrase)
    for b in blocks:
        for i in range(b.a, b.a + b.size):
            covered[i] = True
    runs: list[str] = []
    current = ""
    for ch, ok in zip(phrase, covered, strict=True):
        if ok or ch == "×":
            if current:
                runs.append(current)
            current = ""
        else:
            current += ch
    if current:
        runs.append(current)
    return tuple(runs)

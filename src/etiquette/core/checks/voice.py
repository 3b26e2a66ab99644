"""How the staff speak rather than what they say: 语速过快 (fast_speech; Appendix B 二(一)
语言表达简洁、清晰) and 声音过高/呵斥 (raised_voice; 三(一) 真诚自然, and the 耐心 that window
service asks for).

fast_speech is the speaking rate of one staff utterance: characters said per minute over the
time from its first word to its last (the recogniser's word times). The VAD's span would add
its padding and the silence around the words (0.3-0.5 s an utterance on the evaluation set:
10-17 % of a 3 s line, 3-5 % of a 10 s one, so the same pace would read slower on short
lines); pauses between the utterance's phrases are kept, as in the usual 200-280 字/分 of
conversational Mandarin, which counts them too. A number read out digit by digit (an ID, a
phone or case number) is left out of both the count and the time: it is read in its own
rhythm, and a clerk reading it back is checking it, not hurrying.

raised_voice compares a staff utterance's loudness (ITU-R BS.1770, measured by
etiquette.speech.loudness) with the same person's other utterances in the session, never with
a fixed level: a naturally loud voice or a microphone turned up for the whole session moves
every utterance alike. A level that goes up and stays up (the microphone turned up halfway) is
no raised voice either: the utterance must also stand above the ones after it. On two
microphones, what the staff microphone hears while the citizen speaks is no reference: it is
mostly the citizen's voice leaking in, cut into short quiet "staff" utterances.
"""

from __future__ import annotations

import re
import statistics
from typing import Literal

from pydantic import Field

from etiquette.core.checks.base import CheckRule, SessionView, Turn
from etiquette.core.records import Incident, IncidentKind, Speaker, Transcript

_COUNTED = re.compile(r"[\u3400-\u9fff0-9０-９]")  # one syllable each: Han characters, digits
# Four or more digits in a row (Arabic or Chinese numerals): a number read out.
_NUMBER = re.compile(r"[0-9０-９零〇一二三四五六七八九幺]{4,}")


def speech_rate(transcript: Transcript) -> tuple[float, float] | None:
    """(characters per minute, seconds of speech) of one utterance, numbers read out left
    out of both; None where no word is left to time."""
    text = transcript.text
    numbers = [m.span() for m in _NUMBER.finditer(text)]

    def in_number(a: int, b: int) -> bool:
        return any(a < e and s < b for s, e in numbers)

    chars = sum(1 for m in _COUNTED.finditer(text) if not in_number(m.start(), m.end()))
    timed: list[tuple[float, float, bool]] = []  # (start, end, read out as a number)
    pos = 0
    for w in transcript.words:
        a, b, pos = pos, pos + len(w.text), pos + len(w.text)
        if _COUNTED.search(w.text):
            timed.append((w.start_s, w.end_s, in_number(a, b)))
    said = [(a, b) for a, b, number in timed if not number]
    if not said or chars == 0:
        return None
    first, last = said[0][0], said[-1][1]
    seconds = last - first - sum(b - a for a, b, number in timed
                                 if number and first <= a and b <= last)
    if seconds <= 0:
        return None
    return chars / seconds * 60.0, seconds


class FastSpeech(CheckRule):
    """A staff utterance of at least `min_speech_s` spoken faster than `max_chars_per_min`."""

    kind: Literal[IncidentKind.FAST_SPEECH] = IncidentKind.FAST_SPEECH
    id: str = "fast_speech"
    name: str = "语速过快"
    max_chars_per_min: float = Field(380.0, gt=0, le=1000)
    min_speech_s: float = Field(3.0, gt=0, le=60)

    def judge(self, view: SessionView) -> list[Incident]:
        return self.each_utterance(view, self._too_fast)

    def _too_fast(self, turn: Turn) -> tuple[str, float] | None:
        measured = speech_rate(turn.transcript) if turn.transcript is not None else None
        if measured is None:
            return None
        rate, seconds = measured
        if seconds < self.min_speech_s or rate <= self.max_chars_per_min:
            return None
        return (f"工作人员语速约 {rate:.0f} 字/分钟（阈值 {self.max_chars_per_min:g} 字/分钟），"
                f"本句约 {seconds:.1f} 秒", 1.0)


class RaisedVoice(CheckRule):
    """A staff utterance `min_rise_lu` louder than the median of the same person's other
    utterances in the session (at least `min_reference` of them), and than those after it."""

    kind: Literal[IncidentKind.RAISED_VOICE] = IncidentKind.RAISED_VOICE
    id: str = "raised_voice"
    name: str = "声音过高"
    min_rise_lu: float = Field(7.0, gt=0, le=40)
    min_reference: int = Field(3, ge=1, le=50)

    def judge(self, view: SessionView) -> list[Incident]:
        measured = [t for t in view.of(Speaker.STAFF) if t.loudness_lufs is not None]
        # On two microphones, staff "speech" heard mostly while the citizen speaks is mostly the
        # citizen's voice leaking into the staff microphone: quiet, and no measure of the
        # clerk's own level (it would pull the median down). It is judged, never a reference.
        citizen = view.of(Speaker.CITIZEN) if view.own_microphones else []
        own = [t for t in measured if not _heard_over(t, citizen)]
        found = []
        for turn in measured:
            reference = [t for t in own if t is not turn]
            if len(reference) < self.min_reference:
                continue
            rise = self._rise(turn, reference)
            later = [t for t in reference if t.start_s > turn.start_s]
            if rise < self.min_rise_lu or (later and self._rise(turn, later) < self.min_rise_lu):
                continue
            found.append(self.incident(
                view, turn.start_s, turn.end_s,
                f"工作人员音量比本人本次服务其他语句的中位音量高 {rise:.0f} LU（阈值 "
                f"{self.min_rise_lu:g} LU，参照 {len(reference)} 句）", turn=turn))
        return found

    @staticmethod
    def _rise(turn: Turn, others: list[Turn]) -> float:
        """How much louder `turn` is than the median of `others` (LU); all are measured."""
        assert turn.loudness_lufs is not None
        return turn.loudness_lufs - statistics.median(
            t.loudness_lufs for t in others if t.loudness_lufs is not None)


def _heard_over(turn: Turn, others: list[Turn]) -> bool:
    """Whether at least half of `turn` lies within `others`' speech."""
    overlap = sum(max(0.0, min(turn.end_s, o.end_s) - max(turn.start_s, o.start_s))
                  for o in others)
    return overlap >= 0.5 * turn.duration_s

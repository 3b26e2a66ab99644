"""未使用普通话 (non_mandarin), Appendix B 二(一) 使用普通话接待服务对象: a staff utterance the
recogniser's language identification gives as not Mandarin with high probability.

The recogniser identifies each utterance's language from the encoder output it decodes with
(Transcript.languages: Whisper's most probable languages, Mandarin's among them). What counts
is how improbable Mandarin is (1 - P(zh)), not how probable the top language is: on speech it
knows badly Whisper base spreads the rest over several languages (French given as 0.28 English,
0.24 Latin, 0.003 Chinese), so the top language's probability says little while Mandarin's
says what the check asks.

Limits (benchmarks/results.md): Whisper base has no Cantonese ("yue") of its own; its training
gave Cantonese (and other Chinese dialects) as Chinese, "zh", so it cannot be relied on to tell
Cantonese, Gan or Hakka from Mandarin, and with no recording of real dialect speech here that
was not measured. espeak-ng's robotic Cantonese is mostly flagged, for sounding robotic and
foreign rather than for being Cantonese. What it tells is other languages (measured per
language on espeak-ng's voices of them). Short utterances (好, 嗯) are identified
unreliably (嗯嗯 given as 0.006 Mandarin), so an utterance shorter than `min_duration_s` is
never judged; one in Mandarin with a name or a word in dialect or English stays Mandarin.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from etiquette.core.checks.base import CheckRule, SessionView, Turn
from etiquette.core.records import MANDARIN, Incident, IncidentKind

# Chinese names of the languages a staff member might be heard in; others by their code.
LANGUAGE_NAMES = {
    "zh": "汉语", "yue": "粤语", "en": "英语", "ja": "日语", "ko": "韩语", "fr": "法语",
    "de": "德语", "ru": "俄语", "vi": "越南语", "th": "泰语", "es": "西班牙语", "pt": "葡萄牙语",
    "it": "意大利语", "ar": "阿拉伯语", "ms": "马来语", "id": "印尼语", "tl": "他加禄语",
    "la": "拉丁语", "nn": "挪威语", "my": "缅甸语", "km": "高棉语", "lo": "老挝语", "mn": "蒙古语",
    "bo": "藏语", "ug": "维吾尔语",
}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


class NonMandarin(CheckRule):
    """A staff utterance of at least `min_duration_s` whose probability of not being Mandarin
    (1 - P(zh) by the recogniser's language identification) is at least `min_probability`."""

    kind: Literal[IncidentKind.NON_MANDARIN] = IncidentKind.NON_MANDARIN
    id: str = "non_mandarin"
    name: str = "未使用普通话"
    min_probability: float = Field(0.9, gt=0.5, le=1.0)
    min_duration_s: float = Field(2.5, ge=0.5, le=60)

    def judge(self, view: SessionView) -> list[Incident]:
        return self.each_utterance(view, self._not_mandarin)

    def _not_mandarin(self, turn: Turn) -> tuple[str, float] | None:
        t = turn.transcript
        mandarin = t.probability_of(MANDARIN) if t is not None else None
        if t is None or mandarin is None or turn.duration_s < self.min_duration_s:
            return None
        other = 1.0 - mandarin
        if other < self.min_probability:
            return None
        top = next(((code, p) for code, p in t.languages if code != MANDARIN), None)
        likely = f"，最可能为{language_name(top[0])}（{top[1]:.2f}）" if top else ""
        return (f"工作人员未使用普通话：语种识别不是普通话的概率 {other:.2f}"
                f"（阈值 {self.min_probability:g}）{likely}", round(other, 3))

"""Turn-taking checks: 问有答声 (a citizen's question gets an answer) and 抢话 (the staff do not
start talking while the citizen is still speaking), from when each side spoke in a session.

Overlap is observable only where each side has its own microphone: the segmenter gives speech
to a channel only where that microphone hears it clearly louder than the other one, so the
citizen's voice leaking faintly into the staff microphone makes no staff speech (and no
overlap). On one microphone speech never overlaps, and 抢话 is not judged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from etiquette.core.checks.base import CheckRule, SessionView, Turn
from etiquette.core.context import asks
from etiquette.core.records import Incident, IncidentKind, Speaker

_PUNCTUATION = re.compile(r"[，,。.！!？?；;：:、…\s]")
# Speech over speech is cut where neither microphone is clearly the louder one: a citizen's
# utterance broken for up to this long while the staff speak over it is one utterance.
_MASKED_GAP_S = 1.0


class Interruption(CheckRule):
    """抢话: a staff utterance that begins while the citizen is speaking and runs over them by
    more than `min_overlap_s`. Back-channel (嗯, 好的, 对对: a listener's acknowledgement, by
    its words or its length) is no interruption, nor is the citizen talking over the staff."""

    kind: Literal[IncidentKind.INTERRUPTION] = IncidentKind.INTERRUPTION
    id: str = "interruption"
    name: str = "抢话"
    min_overlap_s: float = Field(1.0, gt=0)
    backchannel_max_s: float = Field(1.0, ge=0)
    backchannel_words: tuple[str, ...] = ("嗯", "好", "好的", "对", "是", "是的", "啊", "哦", "噢",
                                          "行", "明白", "知道", "知道了", "可以")

    def backchannel(self, turn: Turn) -> bool:
        """A listener's acknowledgement: short, or nothing but back-channel words."""
        if turn.duration_s <= self.backchannel_max_s:
            return True
        rest = _PUNCTUATION.sub("", turn.text)
        if not rest:
            return turn.transcript is not None  # heard, and nothing was said
        words = sorted(self.backchannel_words, key=len, reverse=True)
        while rest:
            word = next((w for w in words if w and rest.startswith(w)), None)
            if word is None:
                return False
            rest = rest[len(word):]
        return True

    def judge(self, view: SessionView) -> list[Incident]:
        if not view.own_microphones:
            return []
        staff = view.of(Speaker.STAFF)
        citizen = _unmasked(view.of(Speaker.CITIZEN), staff)
        found: list[Incident] = []
        taken: set[int] = set()  # citizen turns already interrupted: one incident each
        for s in staff:
            if self.backchannel(s):
                continue
            for k, c in enumerate(citizen):
                if k in taken or not c.start_s < s.start_s < c.end_s:
                    continue
                # The citizen began while the staff were still talking and the staff went on:
                # the citizen talked over them, not the other way round.
                if any(t.start_s <= c.start_s and t.end_s >= c.start_s + self.min_overlap_s
                       for t in staff):
                    continue
                overlap = min(s.end_s, c.end_s) - s.start_s
                if overlap <= self.min_overlap_s:
                    continue
                taken.add(k)
                said = f"：「{s.text}」" if s.text else ""
                found.append(self.incident(
                    view, s.start_s, s.start_s + overlap,
                    f"工作人员在群众说话时插话，重叠 {overlap:.1f} 秒"
                    f"（阈值 {self.min_overlap_s:g} 秒）{said}", turn=s,
                    hit=(0, len(s.text)) if s.text else None))
                break
        return found


def _unmasked(citizen: list[Turn], staff: list[Turn]) -> list[Turn]:
    """The citizen's utterances with those that the staff's speech over them broke apart (a
    gap of at most _MASKED_GAP_S that a staff utterance spans) joined again."""
    out: list[Turn] = []
    for c in citizen:
        last = out[-1] if out else None
        if last is not None and c.start_s - last.end_s <= _MASKED_GAP_S and any(
                s.start_s <= last.end_s and s.end_s >= c.start_s for s in staff):
            out[-1] = last.model_copy(update={"end_s": c.end_s})
        else:
            out.append(c)
    return out


@dataclass(frozen=True)
class CitizenTurn:
    """The citizen's utterances said one after another (a pause of at most `same_turn_gap_s`
    between each two, nobody else starting in between), and when an answer was due."""

    turns: tuple[Turn, ...]
    due_s: float  # the last utterance's end plus `answer_within_s`
    answered_s: float | None  # when the other side began answering; None: not by `due_s`

    @property
    def end_s(self) -> float:
        return self.turns[-1].end_s


class UnansweredQuestion(CheckRule):
    """问有答声: a citizen's question with no staff speech starting within `answer_within_s` of
    the citizen's turn ending. Judged only where the session's speech goes on past that time: a
    question last in a session (or a recording) may have been answered after it was cut off;
    nor where audio was lost between the question and that time."""

    kind: Literal[IncidentKind.UNANSWERED_QUESTION] = IncidentKind.UNANSWERED_QUESTION
    id: str = "unanswered_question"
    name: str = "问有答声"
    answer_within_s: float = Field(8.0, gt=0)
    same_turn_gap_s: float = Field(1.5, ge=0)

    def citizen_turns(self, turns: Sequence[Turn]) -> list[CitizenTurn]:
        """The citizen's turns in time order, each with when it was answered. Speech of an
        unknown speaker (one microphone, undecided) may be the staff's answer, so it counts as
        one: a question is never found unanswered on speech that may have answered it."""
        ordered = sorted(turns, key=lambda t: t.start_s)
        out: list[CitizenTurn] = []
        run: list[Turn] = []
        other = False  # the other side began speaking since the citizen's turn began
        for t in ordered:
            if t.speaker != Speaker.CITIZEN:
                other = other or bool(run and t.start_s > run[0].start_s)
                continue
            if run and (t.start_s - run[-1].end_s > self.same_turn_gap_s or other):
                out.append(self._answered(tuple(run), ordered))
                run, other = [], False
            run.append(t)
        if run:
            out.append(self._answered(tuple(run), ordered))
        return out

    def _answered(self, run: tuple[Turn, ...], turns: Sequence[Turn]) -> CitizenTurn:
        end = run[-1].end_s
        due = end + self.answer_within_s
        # An answer: the other side speaking after the citizen stopped, begun by the time due
        # (a 嗯 inside the question, over before it ends, answers nothing).
        starts = [max(o.start_s, end) for o in turns
                  if o.speaker != Speaker.CITIZEN and o.end_s > end]
        first = min(starts, default=None)
        return CitizenTurn(run, due, first if first is not None and first <= due else None)

    def awaiting_words(self, turns: Sequence[Turn], until_s: float) -> list[Turn]:
        """The citizen utterances whose words decide this check (is it a question?): those of
        citizen turns not answered by a time before `until_s`. Only these need transcribing."""
        return [t for c in self.citizen_turns(turns)
                if c.answered_s is None and c.due_s < until_s for t in c.turns]

    def judge(self, view: SessionView) -> list[Incident]:
        found: list[Incident] = []
        for c in self.citizen_turns(view.turns):
            if c.answered_s is not None or c.due_s >= view.session.end_s or any(
                    c.turns[0].start_s <= u.at_s <= c.due_s for u in view.unheard):
                continue
            question = next((t for t in reversed(c.turns) if asks(t.text)), None)
            if question is None:
                continue
            later = min((o.start_s for o in view.turns
                         if o.speaker != Speaker.CITIZEN and o.start_s > c.end_s), default=None)
            limit = f"阈值 {self.answer_within_s:g} 秒"
            if later is not None:
                waited = f"后 {later - c.end_s:.0f} 秒内未回应（{limit}）"
            else:
                waited = (f"后未回应（至本次服务最后的说话 "
                          f"{view.session.end_s - c.end_s:.0f} 秒，{limit}）")
            found.append(self.incident(
                view, question.start_s, c.due_s, f"工作人员在群众问「{question.text}」{waited}",
                turn=question, hit=(0, len(question.text))))
        return found

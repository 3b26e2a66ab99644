"""What every check sees and gives: a session's turns in, incidents of one kind out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from etiquette.core.records import (
    Incident,
    IncidentKind,
    Severity,
    Speaker,
    Transcript,
    absolute_time,
    incident_id,
)
from etiquette.core.sessions import Session, Unheard


class Turn(BaseModel):
    """One utterance of a session as the checks see it: who spoke, on which channel, when,
    what was said (None where it was not transcribed) and how loud it was."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    speaker: Speaker
    channel: int
    start_s: float
    end_s: float
    transcript: Transcript | None = None
    # ITU-R BS.1770 integrated loudness of the utterance's audio (LUFS); None: not measured
    # (too short to measure, or a path that does not measure it).
    loudness_lufs: float | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def text(self) -> str:
        return self.transcript.text if self.transcript is not None else ""


class SessionView(BaseModel):
    """One service session as the checks see it: both sides' turns in time order."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    session: Session
    turns: tuple[Turn, ...]
    recorded_at: datetime | None = None  # absolute time of offset 0, where known
    # True where each side has its own microphone (stereo): speakers are known, and speech
    # can overlap; False on one microphone, where speakers were attributed.
    own_microphones: bool = True
    # Audio the recording (or the live source) lost near the session: what a check would find
    # missing there (an answer) may have been said in it.
    unheard: tuple[Unheard, ...] = ()

    @property
    def source(self) -> str:
        return self.session.source

    @property
    def window_id(self) -> str:
        return self.session.window_id

    def of(self, speaker: Speaker) -> list[Turn]:
        return [t for t in self.turns if t.speaker == speaker]


class CheckRule(BaseModel, ABC):
    """A check's section of rules/checks.yaml: what every check has. Subclasses add their
    thresholds and `judge`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: IncidentKind  # fixed by each subclass
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1)  # Chinese, as reviewers read it
    enabled: bool = True
    severity: Severity = Severity.MINOR
    deduction: float = Field(1.0, ge=0)

    @abstractmethod
    def judge(self, view: SessionView) -> list[Incident]:
        """This check's incidents in one session."""

    def each_utterance(self, view: SessionView, fault: Callable[[Turn], tuple[str, float] | None],
                       speaker: Speaker = Speaker.STAFF) -> list[Incident]:
        """An incident over each of `speaker`'s utterances in which `fault` finds one: its
        explanation and score (None: none in it)."""
        return [self.incident(view, t.start_s, t.end_s, found[0], turn=t, score=found[1])
                for t in view.of(speaker) if (found := fault(t)) is not None]

    def incident(self, view: SessionView, start_s: float, end_s: float, explanation: str,
                 turn: Turn | None = None, hit: tuple[int, int] | None = None,
                 speaker: Speaker = Speaker.STAFF, score: float = 1.0) -> Incident:
        """An incident of this check over start_s..end_s of the session's recording; `turn`
        the utterance it is about (its transcript is shown, `hit` highlighted in it)."""
        transcript = turn.transcript if turn is not None else None
        if transcript is not None and transcript.speaker_note:
            explanation += f"；说话人：{transcript.speaker_note}"
        return Incident(
            id=incident_id(view.source, view.window_id, self.kind, self.id, start_s),
            source=view.source, window_id=view.window_id, kind=self.kind, rule_id=self.id,
            rule_name=self.name, phrase=None, speaker=speaker, offset_s=round(start_s, 2),
            end_s=round(end_s, 2), at=absolute_time(view.recorded_at, start_s),
            transcript=transcript.text if transcript is not None else "", score=score,
            severity=self.severity, deduction=self.deduction, explanation=explanation,
            hit_start=hit[0] if hit else None, hit_end=hit[1] if hit else None)

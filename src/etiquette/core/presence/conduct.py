"""行为举止 at the counter: 睡岗 (asleep at the post) and 聚集 (staff gathering at a window).

Each sampled frame says whether a condition holds (`frame_conduct`): asleep, when the staff
member's head is down on the desk (her face does not show and the top of her person mask is
far below where it is when she sits up, `UprightHead`) while no citizen is at the window;
gathering, when more than one face is inside the staff region. A face that does not show is
not enough: reading, writing, the keyboard, the printer behind her all hide it for minutes.
A `ConductTracker` per condition turns those per-frame verdicts into stretches, bridging
gaps up to the rule's `tolerance_s` (the head lifted for a moment, a face the detector
missed); a stretch is an incident when its part in service hours, outside the declared
pauses its rule names, is longer than the rule's threshold. So a colleague passing behind
stays shorter than the threshold and is no incident.
Pure domain logic: verdicts in, stretches, judgements and incidents out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from etiquette.core.presence.hours import Span, pause_spans, service_spans, total, weigh
from etiquette.core.presence.offpost import over_allowed, when
from etiquette.core.presence.records import DeclaredPause
from etiquette.core.presence.rules import ConductRule, PresenceRules
from etiquette.core.records import Incident, IncidentKind, Speaker, absolute_time, incident_id

CONDUCT_KINDS = (IncidentKind.ASLEEP_AT_POST, IncidentKind.GATHERING)


@dataclass(frozen=True)
class FrameConduct:
    """What one sampled frame shows of the conduct conditions."""

    asleep: bool  # her head down at the seat, no face in the staff region, no citizen
    staff: int  # faces inside the staff region


def frame_conduct(staff_faces: int, head_down: bool, citizen: bool) -> FrameConduct:
    return FrameConduct(head_down and staff_faces == 0 and not citizen, staff_faces)


class UprightHead:
    """Where the staff member's head is when she sits up, learnt in this stream from the frames
    that show her face at the seat: the top of her person mask and the height of her face
    (medians of the latest `keep`, so one odd frame does not move them). A head resting on the
    desk or on folded arms is lower than that by more than `drop` face heights; a head bowed
    over a document or a keyboard, or turned to the printer, is not. Until she has been seen
    sitting up, no head counts as down: nothing to compare it with."""

    def __init__(self, drop: float, keep: int = 60) -> None:
        self.drop = drop
        self._tops: deque[float] = deque(maxlen=keep)
        self._faces: deque[float] = deque(maxlen=keep)

    def observe(self, head_top: float, face_height: float) -> None:
        self._tops.append(head_top)
        self._faces.append(face_height)

    def is_down(self, head_top: float) -> bool:
        if not self._tops:
            return False
        return head_top - median(self._tops) > self.drop * median(self._faces)


@dataclass(frozen=True)
class Stretch:
    """One stretch during which a condition held, first to last frame that showed it."""

    source: str
    window_id: str
    kind: IncidentKind
    start_s: float
    end_s: float
    samples: int  # sampled frames from the first to the last that showed it
    hits: int  # of them, frames that showed it
    peak: int  # gathering: most faces in the staff region in one frame (1 otherwise)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def confidence(self) -> float:
        return self.hits / self.samples if self.samples else 0.0


class ConductTracker:
    """One condition of one window, fed one verdict per sampled frame in time order."""

    def __init__(self, source: str, window_id: str, kind: IncidentKind,
                 tolerance_s: float) -> None:
        self.source, self.window_id, self.kind = source, window_id, kind
        self.tolerance_s = tolerance_s
        self._start: float | None = None
        self._last_hit = 0.0
        self._samples = self._hits = self._peak = 0
        self._samples_at_hit = 0

    @property
    def open_since(self) -> float | None:
        """Start of the stretch going on, if any."""
        return self._start

    def update(self, t_s: float, held: bool, count: int = 1) -> Stretch | None:
        """Take the next frame's verdict; return the stretch it ends, if any."""
        if held:
            if self._start is None:
                self._start, self._samples, self._hits, self._peak = t_s, 0, 0, 0
            self._samples += 1
            self._hits += 1
            self._peak = max(self._peak, count)
            self._last_hit, self._samples_at_hit = t_s, self._samples
            return None
        if self._start is None:
            return None
        self._samples += 1
        if t_s - self._last_hit <= self.tolerance_s:
            return None
        return self.finish()

    def peek(self) -> Stretch | None:
        """The open stretch as it stands (live: judged before it has ended)."""
        if self._start is None:
            return None
        return Stretch(self.source, self.window_id, self.kind, self._start, self._last_hit,
                       self._samples_at_hit, self._hits, self._peak)

    def finish(self) -> Stretch | None:
        """End the open stretch at its last frame that showed the condition (the end of the
        stream, pictures lost, or a gap longer than the tolerance)."""
        stretch = self.peek()
        self._start = None
        return stretch


@dataclass(frozen=True)
class ConductJudgement:
    """How much of one stretch counts against its rule, and why the rest does not."""

    stretch: Stretch
    rule: ConductRule
    counted: tuple[Span, ...]
    excused: tuple[tuple[str, float], ...]

    @property
    def counted_s(self) -> float:
        return total(self.counted)

    @property
    def breaks_rule(self) -> bool:
        return self.counted_s > self.rule.threshold_s

    @property
    def offset_s(self) -> float:
        return self.counted[0][0] if self.counted else self.stretch.start_s

    @property
    def end_s(self) -> float:
        return self.counted[-1][1] if self.counted else self.stretch.end_s


def conduct_rule(rules: PresenceRules, kind: IncidentKind) -> ConductRule | None:
    return rules.asleep_at_post if kind is IncidentKind.ASLEEP_AT_POST else rules.gathering


def judge_conduct(stretches: Sequence[Stretch], rules: PresenceRules, started: datetime | None,
                  duration_s: float, pauses: Sequence[DeclaredPause] = ()
                  ) -> list[ConductJudgement]:
    """Weigh every stretch against service hours, its rule's pauses and threshold (stretches
    of a kind the rules switch off are left out).

    Raises:
      ValueError: a declared pause has a status the rules do not define.
    """
    service = service_spans(rules.service_hours, started, duration_s)
    out = []
    for s in stretches:
        rule = conduct_rule(rules, s.kind)
        if rule is None:
            continue
        declared = pause_spans(pauses, rules.pauses, s.window_id, started, duration_s)
        counted, excused = weigh((s.start_s, s.end_s), service, declared, rule.pauses)
        out.append(ConductJudgement(s, rule, tuple(counted), tuple(excused)))
    return out


def conduct_id(judgement: ConductJudgement) -> str:
    """The incident's id before it is built, to name its evidence files after it."""
    s = judgement.stretch
    return incident_id(s.source, s.window_id, s.kind, judgement.rule.id, judgement.offset_s)


def explain_conduct(judgement: ConductJudgement, rules: PresenceRules,
                    started: datetime | None) -> str:
    s, rule = judgement.stretch, judgement.rule
    span = f"自 {when(started, s.start_s, rules)}至 {when(started, s.end_s, rules)}"
    what = ("座位上有人伏案（看不到脸，头部远低于本人坐直时），且窗口前没有群众办事"
            if s.kind is IncidentKind.ASLEEP_AT_POST
            else f"工作人员区域内同时有多名人员（最多 {s.peak} 人）")
    return f"{span}{what}；" + over_allowed(judgement.counted_s, rule.threshold_s,
                                           judgement.excused)


def conduct_incident(judgement: ConductJudgement, rules: PresenceRules, started: datetime | None,
                     evidence: dict[str, str] | None = None) -> Incident:
    """The incident of a stretch that breaks its rule; `evidence` maps roles to snapshots."""
    if not judgement.breaks_rule:
        raise ValueError("only a stretch longer than its rule allows becomes an incident")
    s, rule = judgement.stretch, judgement.rule
    return Incident(
        id=conduct_id(judgement), source=s.source, window_id=s.window_id, kind=s.kind,
        rule_id=rule.id, rule_name=rule.name, phrase=None, speaker=Speaker.STAFF,
        offset_s=round(judgement.offset_s, 2), end_s=round(judgement.end_s, 2),
        at=absolute_time(started, judgement.offset_s), transcript="",
        score=round(s.confidence, 3), severity=rule.severity, deduction=rule.deduction,
        explanation=explain_conduct(judgement, rules, started), evidence=dict(evidence or {}))

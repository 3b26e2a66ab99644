"""离岗: which absences break the rule, and the incidents a reviewer sees for them.

An absence counts only in service hours and outside declared pauses; when what is left is
longer than the allowed time, it is an `off_post` incident. An absence never spans pictures a
recording lost (`PresenceTracker.lose` ends it there), so none is judged on time nobody saw.
Pure domain logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from etiquette.core.presence.hours import (
    PauseSpan,
    Span,
    pause_spans,
    service_spans,
    total,
    weigh,
)
from etiquette.core.presence.records import Absence, DeclaredPause
from etiquette.core.presence.rules import OffPostRule, PresenceRules
from etiquette.core.records import Incident, IncidentKind, Speaker, absolute_time, incident_id


@dataclass(frozen=True)
class OffPostJudgement:
    """How much of one absence counts, and why the rest does not."""

    absence: Absence
    counted: tuple[Span, ...]  # in service hours and not excused by a declared pause
    excused: tuple[tuple[str, float], ...]  # (reason, seconds): outside hours, or a pause status
    threshold_s: float

    @property
    def counted_s(self) -> float:
        return total(self.counted)

    @property
    def off_post(self) -> bool:
        return self.counted_s > self.threshold_s

    @property
    def offset_s(self) -> float:
        """Where the counted absence begins in the source (the incident's offset_s)."""
        return self.counted[0][0] if self.counted else self.absence.start_s

    @property
    def end_s(self) -> float:
        return self.counted[-1][1] if self.counted else self.absence.end_s


def judge(absences: Sequence[Absence], rules: PresenceRules, started: datetime | None,
          duration_s: float, pauses: Sequence[DeclaredPause] = ()) -> list[OffPostJudgement]:
    """Weigh every absence of one source against service hours, pauses and the threshold.

    Raises:
      ValueError: a declared pause has a status the rules do not define.
    """
    out: list[OffPostJudgement] = []
    service = service_spans(rules.service_hours, started, duration_s)
    by_window: dict[str, list[PauseSpan]] = {}
    for a in absences:
        if a.window_id not in by_window:
            by_window[a.window_id] = pause_spans(pauses, rules.pauses, a.window_id, started,
                                                 duration_s)
        counted, excused = weigh((a.start_s, a.end_s), service, by_window[a.window_id])
        out.append(OffPostJudgement(a, tuple(counted), tuple(excused), rules.off_post.threshold_s))
    return out


def off_post_id(judgement: OffPostJudgement, rule: OffPostRule) -> str:
    """The incident's id before it is built, to name its evidence files after it."""
    a = judgement.absence
    return incident_id(a.source, a.window_id, IncidentKind.OFF_POST, rule.id, judgement.offset_s)


def duration_text(seconds: float) -> str:
    """'1 小时 2 分 5 秒', '15 分', '20 秒'."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    parts = [f"{h} 小时" if h else "", f"{m} 分" if m else "",
             f"{sec} 秒" if sec or not (h or m) else ""]
    return " ".join(p for p in parts if p)


def when(started: datetime | None, offset_s: float, rules: PresenceRules) -> str:
    if started is None:
        return f"第 {offset_s:.1f} 秒"
    local = (started + timedelta(seconds=offset_s)).astimezone(rules.service_hours.zone)
    return f"{local:%H:%M:%S}（第 {offset_s:.1f} 秒）"


def explain(judgement: OffPostJudgement, rules: PresenceRules, started: datetime | None) -> str:
    a = judgement.absence
    seen = ("此前画面缺失" if a.after_loss
            else "此前未见工作人员" if a.last_seen_s is None
            else f"最后一次看到工作人员：{when(started, a.last_seen_s, rules)}")
    back = (f"{when(started, a.end_s, rules)}返回" if a.returned
            else f"截至 {when(started, a.end_s, rules)}仍未返回，其后画面缺失" if a.before_loss
            else f"截至 {when(started, a.end_s, rules)}仍未返回")  # end of a file, or now live
    return (f"座位自 {when(started, a.start_s, rules)}起无人（{seen}），{back}；"
            + over_allowed(judgement.counted_s, judgement.threshold_s, judgement.excused,
                           "未声明的离座"))


def over_allowed(counted_s: float, threshold_s: float, excused: Sequence[tuple[str, float]],
                 counted_as: str = "") -> str:
    """How a presence incident's time was weighed, for its explanation: what counted (in
    service hours, not excused) against what is allowed, and what was not counted and why."""
    text = (f"服务时间内{counted_as}共 {duration_text(counted_s)}，"
            f"超过允许的 {duration_text(threshold_s)}")
    if excused:
        text += "；不计：" + "、".join(f"{why} {duration_text(t)}" for why, t in excused)
    return text


def off_post_incident(judgement: OffPostJudgement, rules: PresenceRules, started: datetime | None,
                      evidence: dict[str, str] | None = None) -> Incident:
    """The incident of an absence judged off post; `evidence` maps roles to snapshot paths."""
    if not judgement.off_post:
        raise ValueError("only an absence judged off post becomes an incident")
    a, rule = judgement.absence, rules.off_post
    return Incident(
        id=off_post_id(judgement, rule), source=a.source, window_id=a.window_id,
        kind=IncidentKind.OFF_POST, rule_id=rule.id, rule_name=rule.name, phrase=None,
        speaker=Speaker.STAFF, offset_s=round(judgement.offset_s, 2),
        end_s=round(judgement.end_s, 2), at=absolute_time(started, judgement.offset_s),
        transcript="",
        score=round(a.confidence, 3), severity=rule.severity, deduction=rule.deduction,
        explanation=explain(judgement, rules, started), evidence=dict(evidence or {}))

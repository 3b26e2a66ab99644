"""Monthly, quarterly and yearly reports: window and staff scores with their ranking, the
change against the previous period, the red-flag windows, incidents by kind, rule and week.

A month is scored by the scheme in force for it (services.scoring). A quarter or year is the
mean of its months' scores, over the months that have begun (a year in progress: January to
now); its red flags follow the red-flag rule of its last scored month, and a window with a
disqualifying incident in any of its months is barred. Red flags are chosen per center; one
the rule chooses while an incident of a disqualifying severity awaits review is 待定
(core.scoring.red_flags says why it keeps its place). Equal scores share a rank (并列).
The public variant (公开) carries no staff rows and no personal data at all.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from etiquette.core.scoring import (
    Fact,
    Month,
    Period,
    RedFlagRule,
    Score,
    ScoringScheme,
    awaiting_review,
    buckets,
    mean,
    rank,
    red_flags,
    score,
)
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import feedback
from etiquette.service.crud import scoring as crud
from etiquette.service.crud.scoring import IncidentFacts
from etiquette.service.errors import Invalid, NotFound
from etiquette.service.labels import KIND_NAMES, SEVERITY_NAMES
from etiquette.service.models import Staff, Window
from etiquette.service.schemas import (
    POOR_LEVELS,
    CountRow,
    ReportPublic,
    SchemeUsed,
    StaffScore,
    WindowScore,
)
from etiquette.service.services import scoring
from etiquette.service.services.access import Permission, Principal


@dataclass
class Tally:
    """One subject over a period: its monthly scores and what counted."""

    scores: list[float] = field(default_factory=list)
    counted: int = 0
    deducted: float = 0.0
    bonus: float = 0.0
    severities: set[str] = field(default_factory=set)
    awaiting_review: int = 0  # pending incidents of a disqualifying severity

    def add(self, s: Score) -> None:
        self.scores.append(s.score)
        self.counted += s.counted
        self.deducted = round(self.deducted + s.deducted, 2)
        self.bonus = round(self.bonus + s.bonus, 2)
        self.severities |= s.severities

    @property
    def score(self) -> float:
        return mean(self.scores)


@dataclass
class PeriodScores:
    period: Period
    months: list[Month]
    schemes: list[SchemeUsed]
    rule: RedFlagRule
    windows: dict[int, Tally]
    staff: dict[int, Tally]
    facts: list[IncidentFacts]
    counted_ids: set[str]
    points: dict[str, float]  # incident id → points it cost its window
    commendations: int = 0


def _fact(f: IncidentFacts) -> Fact:
    return Fact(f.id, f.when, f.kind, f.rule_id, f.severity, f.deduction, f.status)


def score_period(session: Session, settings: Settings, period: Period,
                 center_ids: frozenset[int] | None, window_rows: list[Window],
                 staff_rows: list[Staff]) -> PeriodScores:
    zone = ZoneInfo(settings.display_timezone)
    now = scoring.current_month(settings)
    months = [m for m in period.months if m <= now]
    windows = {w.id: Tally() for w in window_rows}
    staff = {s.id: Tally() for s in staff_rows}
    schemes: list[SchemeUsed] = []
    facts: list[IncidentFacts] = []
    counted: set[str] = set()
    points: dict[str, float] = {}
    commended = 0
    scheme: ScoringScheme | None = None
    for month in months:
        row, scheme = scoring.in_force(session, month)
        schemes.append(SchemeUsed(month=str(month), version_id=row.id, version=row.version))
        month_facts = crud.incidents_between(session=session, start=month.start(zone),
                                             end=month.next().start(zone), center_ids=center_ids)
        facts += month_facts
        counted |= {f.id for f in month_facts if scheme.counts(_fact(f))}
        by_window: dict[int, list[Fact]] = defaultdict(list)
        by_staff: dict[int, list[Fact]] = defaultdict(list)
        for f in month_facts:
            if f.window_pk is not None:
                by_window[f.window_pk].append(_fact(f))
            if f.staff_id is not None:
                by_staff[f.staff_id].append(_fact(f))
        praise = crud.commendations_between(session=session, start=month.start(zone),
                                            end=month.next().start(zone), center_ids=center_ids)
        commended += len(praise)
        praised_windows = Counter(c.window_pk for c in praise)
        praised_staff = Counter(c.staff_id for c in praise if c.staff_id is not None)
        for pk, tally in windows.items():
            s = score(scheme, by_window.get(pk, ()), praised_windows[pk])
            points.update({d.incident_id: d.points for d in s.deductions})
            tally.add(s)
            tally.awaiting_review += awaiting_review(scheme.red_flag, by_window.get(pk, ()))
        for sid, tally in staff.items():
            tally.add(score(scheme, by_staff.get(sid, ()), praised_staff[sid]))
    if scheme is None:
        scheme = scoring.in_force(session, now)[1]
    return PeriodScores(period, months, schemes, scheme.red_flag, windows, staff, facts, counted,
                        points, commended)


def describe_rule(rule: RedFlagRule) -> str:
    parts = []
    if rule.min_score is not None:
        parts.append(f"得分不低于 {rule.min_score:g} 分")
    if rule.disqualifying_severities:
        parts.append(f"无{_severities(rule)}事件")
    text = "、".join(parts) + "的窗口中" if parts else "全部窗口中"
    text += f"按得分取前 {rule.top_n} 名（同分并列入选）" if rule.top_n else "均评为红旗窗口"
    text += "；各中心分别评选"
    if rule.disqualifying_severities:
        text += f"；入选窗口如有待审核的{_severities(rule)}事件，暂列“待定”，审核后确定"
    return text


def _severities(rule: RedFlagRule) -> str:
    return "、".join(SEVERITY_NAMES[s.value] for s in rule.disqualifying_severities)


RANK_RULE = "同分名次并列（如 1、2、2、4），并列者按中心、窗口号排列"
# 评价与监测不一致: citizens rate a window poorly while monitoring finds (almost) nothing there.
# Below RATINGS_ENOUGH ratings a rate says too little to set against the incidents.
RATINGS_ENOUGH = 10
POOR_RATE_HIGH = 0.2
FEW_INCIDENTS = 1
AGREEMENT_RULE = (f"差评率 = （不满意 + 非常不满意）÷ 全部评价。本期评价不少于 "
                  f"{RATINGS_ENOUGH} 条、差评率不低于 {POOR_RATE_HIGH:.0%}，而计分事件不超过 "
                  f"{FEW_INCIDENTS} 条的窗口标为「评价与监测不一致」：群众不满意，监测却几乎没有"
                  "发现问题，宜调取该窗口的服务记录和投诉核查（可能是监测规则未覆盖的问题，"
                  "也可能是评价器使用不当）")


def disagrees(ratings: int, poor: int, counted: int) -> bool:
    """评价与监测不一致 (AGREEMENT_RULE)."""
    return (ratings >= RATINGS_ENOUGH and poor / ratings >= POOR_RATE_HIGH
            and counted <= FEW_INCIDENTS)


def build(*, session: Session, settings: Settings, principal: Principal, period: Period,
          center_id: int | None = None, public: bool = False) -> ReportPublic:
    """The report of `period`, over one center or (None) every center the principal sees.
    Raises NotFound (no such center, or one the principal does not see), Invalid (a period not
    begun)."""
    principal.require(Permission.REPORTS_READ)
    zone = ZoneInfo(settings.display_timezone)
    centers = crud.centers(session=session)
    if center_id is not None and (center_id not in centers
                                  or not principal.sees_center(center_id)):
        raise NotFound(f"中心不存在 (no center {center_id})")
    center_ids = frozenset({center_id}) if center_id is not None else principal.centers
    if period.months[0] > scoring.current_month(settings):
        raise Invalid(f"{period.label}尚未开始 (the period has not begun)")
    end = period.end(zone)
    prev = period.previous()
    pstart = prev.start(zone)
    seen = crud.incidents_between(session=session, start=pstart, end=end, center_ids=center_ids)
    window_rows = crud.windows(session=session, center_ids=center_ids,
                               with_pks={f.window_pk for f in seen if f.window_pk is not None})
    staff_rows = [] if public else crud.staff(
        session=session, center_ids=center_ids, start=pstart, end=end,
        with_ids={f.staff_id for f in seen if f.staff_id is not None})
    now = score_period(session, settings, period, center_ids, window_rows, staff_rows)
    before = score_period(session, settings, prev, center_ids, window_rows, staff_rows)

    # Windows: ranking, change, red flags per center.
    rule = now.rule
    barred = {pk: worst for pk, t in now.windows.items() if (worst := _worst(rule, t))}
    pending = {pk for pk, t in now.windows.items() if t.awaiting_review}
    flags: set[int] = set()
    undecided: set[int] = set()
    by_center: dict[int, dict[int, float]] = defaultdict(dict)
    for w in window_rows:
        by_center[w.center_id][w.id] = now.windows[w.id].score
    for scores in by_center.values():
        chosen = red_flags(rule, scores, barred, pending)
        flags |= set(chosen.flags)
        undecided |= set(chosen.undecided)
    ranks = rank({pk: t.score for pk, t in now.windows.items()})
    shared = Counter(ranks.values())
    rated = feedback.rating_counts(session=session, start=period.start(zone), end=end,
                                   poor=POOR_LEVELS, center_ids=center_ids)
    rows = []
    for w in window_rows:
        t, p = now.windows[w.id], before.windows[w.id]
        r = rated.get(w.id, feedback.RatingCount(0, 0))
        previous = p.score if before.months else None
        rows.append(WindowScore(
            rank=ranks[w.id], window_pk=w.id, center=centers[w.center_id].name, window_id=w.code,
            number=w.number, department=w.department, score=t.score, previous_score=previous,
            change=round(t.score - previous, 2) if previous is not None else None,
            counted=t.counted, deducted=t.deducted, bonus=t.bonus, red_flag=w.id in flags,
            disqualified_by=barred.get(w.id), undecided=w.id in undecided,
            undecided_reason=(f"有 {t.awaiting_review} 条{_severities(rule)}事件待审核，审核后"
                              "确定是否评为红旗窗口") if w.id in undecided else None,
            tied=shared[ranks[w.id]] > 1, ratings=r.ratings, poor=r.poor,
            poor_rate=round(r.poor / r.ratings, 4) if r.ratings else None,
            disagrees=disagrees(r.ratings, r.poor, t.counted)))
    rows.sort(key=lambda r: (r.rank, r.center, r.number))

    staff_ranks = rank({sid: t.score for sid, t in now.staff.items()})
    staff_shared = Counter(staff_ranks.values())
    people = []
    for s in staff_rows:
        t, p = now.staff[s.id], before.staff[s.id]
        previous = p.score if before.months else None
        people.append(StaffScore(
            rank=staff_ranks[s.id], staff_id=s.id, name=s.name, employee_no=s.employee_no,
            score=t.score, previous_score=previous,
            change=round(t.score - previous, 2) if previous is not None else None,
            counted=t.counted, deducted=t.deducted, bonus=t.bonus,
            tied=staff_shared[staff_ranks[s.id]] > 1))
    people.sort(key=lambda r: (r.rank, r.employee_no))

    return ReportPublic(
        period=str(period), kind=period.kind, label=period.label, previous_period=str(prev),
        public=public,
        center="、".join(centers[c].name for c in sorted(center_ids)) if center_ids else None,
        timezone=settings.display_timezone, generated_at=utcnow(), schemes=now.schemes,
        red_flag_rule=describe_rule(rule), windows=rows, staff=people,
        red_flags=[r for r in rows if r.red_flag], undecided=[r for r in rows if r.undecided],
        rank_rule=RANK_RULE,
        by_kind=_count(now, lambda f: (f.kind, KIND_NAMES.get(f.kind, f.kind))),
        by_rule=_count(now, lambda f: (f.rule_id, f.rule_name)),
        by_time=_by_time(now, zone),
        incidents=len(now.facts), counted=len(now.counted_ids),
        pending=sum(f.status == "pending" for f in now.facts),
        unattributed=sum(f.window_pk is None for f in now.facts),
        commendations=now.commendations, ratings=sum(r.ratings for r in rows),
        agreement_rule=AGREEMENT_RULE)


def _worst(rule: RedFlagRule, tally: Tally) -> str | None:
    found = tally.severities & {s.value for s in rule.disqualifying_severities}
    return next((s for s in ("critical", "major", "minor") if s in found), None)


def _count(scores: PeriodScores,
           key: Callable[[IncidentFacts], tuple[str, str]]) -> list[CountRow]:
    rows: dict[str, CountRow] = {}
    for f in scores.facts:
        k, name = key(f)
        row = rows.setdefault(k, CountRow(key=k, name=name, counted=0, total=0))
        row.total += 1
        if f.id in scores.counted_ids:
            row.counted += 1
            row.points = round(row.points + scores.points.get(f.id, 0.0), 2)
    return sorted(rows.values(), key=lambda r: (-r.counted, -r.total, r.key))


def _by_time(scores: PeriodScores, zone: ZoneInfo) -> list[CountRow]:
    rows = []
    for label, start, end in buckets(scores.period, zone):
        inside = [f for f in scores.facts if start <= f.when < end]
        rows.append(CountRow(key=start.astimezone(zone).date().isoformat(), name=label,
                             counted=sum(f.id in scores.counted_ids for f in inside),
                             total=len(inside)))
    return rows


def parse_period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as e:
        raise Invalid(str(e)) from e

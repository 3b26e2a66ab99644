"""Monthly scoring as data: the scheme a supervisor edits (rules/scoring.yaml) and the pure
arithmetic over incidents: a score per window (or person), red-flag windows, periods.

No I/O here: the supervision service reads the incidents and the scheme in force for a month
from its database and passes them in as records.

A month's score: `base` minus the points of each counted incident plus the bonus points of its
commendations (at most `bonuses.max_per_month`), never below `floor`.
Points of one incident: the scheme's `by_rule`, else `by_kind`, else `by_severity`, else the
incident's own `deduction` (what its rule file says), times the escalation factor of its
repetition (the nth counted incident of the same rule for the same subject in the month).
A quarter's or year's score is the mean of its months' scores (each month by its own scheme).
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Generic, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from etiquette.core.records import IncidentKind, Severity
from etiquette.core.rules import DocumentError, load_yaml_model, parse_yaml_model

DEFAULT_SCHEME = Path(__file__).resolve().parents[3] / "rules" / "scoring.yaml"
# The statuses a scheme may count; never pending or dismissed.
Status = Literal["confirmed", "appealed"]
COUNTED_BY_DEFAULT: tuple[Status, ...] = ("confirmed", "appealed")
RuleId = str


class ScoringError(DocumentError):
    """The scoring scheme is malformed; the message names the key path and line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deductions(_Strict):
    by_rule: dict[RuleId, float] = Field(default_factory=dict, description="points per rule id")
    by_kind: dict[IncidentKind, float] = Field(default_factory=dict, description="points per kind")
    by_severity: dict[Severity, float] = Field(default_factory=dict,
                                               description="points per severity")

    @model_validator(mode="after")
    def _points_in_range(self) -> Deductions:
        for table in ("by_rule", "by_kind", "by_severity"):
            for key, points in getattr(self, table).items():
                if not 0 <= points <= 100:
                    raise PydanticCustomError(
                        "points_out_of_range", "{table} -> {key}: points must be between 0 and 100",
                        {"table": table, "key": str(key)})
        return self


class EscalationStep(_Strict):
    from_count: int = Field(ge=2, le=1000, description="from the nth incident of the same rule")
    factor: float = Field(gt=0, le=10, description="its points are multiplied by this")


class Bonuses(_Strict):
    commendation: float = Field(0, ge=0, le=100, description="points per commendation a "
                                                             "supervisor records (群众表扬、锦旗…)")
    max_per_month: float = Field(0, ge=0, le=100,
                                 description="at most this many bonus points a month")


class RedFlagRule(_Strict):
    top_n: int | None = Field(None, ge=1, le=1000, description="at most this many per center "
                                                                "(ties at the cut all included)")
    min_score: float | None = Field(None, ge=0, le=1000,
                                    description="a red flag scores at least this")
    disqualifying_severities: list[Severity] = Field(
        default_factory=lambda: [Severity.CRITICAL],
        description="a window with a counted incident of these severities is no red flag")

    @model_validator(mode="after")
    def _some_limit(self) -> RedFlagRule:
        if self.top_n is None and self.min_score is None:
            raise PydanticCustomError(
                "no_red_flag_limit",
                "give top_n, min_score or both: otherwise every window is a red flag")
        return self


class ScoringScheme(_Strict):
    version: str = Field(min_length=1, max_length=64)
    source: str = ""
    base: float = Field(100, gt=0, le=1000,
                        description="each window's score at the start of a month")
    floor: float = Field(0, ge=0, description="scores never go below this")
    counted_statuses: list[Status] = Field(default_factory=lambda: list(COUNTED_BY_DEFAULT))
    deductions: Deductions = Field(default_factory=Deductions)
    escalation: list[EscalationStep] = Field(default_factory=list)
    bonuses: Bonuses = Field(default_factory=Bonuses)
    red_flag: RedFlagRule

    @model_validator(mode="after")
    def _verify(self) -> ScoringScheme:
        if self.floor >= self.base:
            raise PydanticCustomError("floor_not_below_base", "floor must be below base")
        if "confirmed" not in self.counted_statuses:
            raise PydanticCustomError("confirmed_not_counted",
                                      "counted_statuses must include confirmed")
        counts = [s.from_count for s in self.escalation]
        if counts != sorted(set(counts)):
            raise PydanticCustomError("escalation_not_increasing",
                                      "escalation: from_count must increase from step to step")
        return self

    def points(self, fact: Fact) -> float:
        """An incident's points before escalation: rule, else kind, else severity, else its own."""
        d = self.deductions
        if fact.rule_id in d.by_rule:
            return d.by_rule[fact.rule_id]
        by_kind = {str(k): v for k, v in d.by_kind.items()}
        by_severity = {str(k): v for k, v in d.by_severity.items()}
        for points in (by_kind.get(fact.kind), by_severity.get(fact.severity)):
            if points is not None:
                return points
        return fact.deduction

    def factor(self, nth: int) -> float:
        """The escalation factor of the nth incident of one rule (1-based)."""
        factor = 1.0
        for step in self.escalation:
            if nth >= step.from_count:
                factor = step.factor
        return factor

    def counts(self, fact: Fact) -> bool:
        return fact.status in self.counted_statuses


def load_scheme(path: Path | None = None) -> ScoringScheme:
    return load_yaml_model(path or DEFAULT_SCHEME, ScoringScheme, ScoringError, "scoring scheme")


def parse_scheme(text: str, where: str = "<text>") -> ScoringScheme:
    return parse_yaml_model(text, ScoringScheme, ScoringError, "scoring scheme", where)


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class Fact:
    """One incident as scoring sees it."""

    id: str
    at: datetime
    kind: str
    rule_id: str
    severity: str
    deduction: float  # the incident's own points, from its rule file
    status: str


@dataclass(frozen=True)
class Deduction:
    incident_id: str
    rule_id: str
    severity: str
    nth: int  # the nth counted incident of this rule for this subject in the month
    factor: float
    points: float


@dataclass(frozen=True)
class Score:
    score: float
    deducted: float
    deductions: tuple[Deduction, ...]
    bonus: float = 0.0

    @property
    def counted(self) -> int:
        return len(self.deductions)

    @property
    def severities(self) -> frozenset[str]:
        return frozenset(d.severity for d in self.deductions)


def score(scheme: ScoringScheme, facts: Iterable[Fact], commendations: int = 0) -> Score:
    """One subject's (a window's or a person's) score for one month, with `commendations` the
    number of commendations it received in the month."""
    nth: dict[str, int] = defaultdict(int)
    deductions: list[Deduction] = []
    for fact in sorted(facts, key=lambda f: (f.at, f.id)):
        if not scheme.counts(fact):
            continue
        nth[fact.rule_id] += 1
        n = nth[fact.rule_id]
        factor = scheme.factor(n)
        deductions.append(Deduction(fact.id, fact.rule_id, fact.severity, n, factor,
                                    round(scheme.points(fact) * factor, 4)))
    deducted = round(sum(d.points for d in deductions), 2)
    bonus = round(min(scheme.bonuses.commendation * commendations, scheme.bonuses.max_per_month), 2)
    return Score(round(max(scheme.floor, scheme.base - deducted + bonus), 2), deducted,
                 tuple(deductions), bonus)


K = TypeVar("K", bound=Hashable)


def score_all(scheme: ScoringScheme, subjects: Iterable[K], facts: Mapping[K, Sequence[Fact]],
              commendations: Mapping[K, int] | None = None) -> dict[K, Score]:
    """Every subject scored; one without incidents or commendations keeps the base."""
    praised = commendations or {}
    return {s: score(scheme, facts.get(s, ()), praised.get(s, 0)) for s in subjects}


@dataclass(frozen=True)
class RedFlags(Generic[K]):
    """What the red-flag rule makes of one center's subjects, best first."""

    flags: list[K]
    # 待定: chosen by the rule, but with an incident of a disqualifying severity not yet
    # reviewed, which may still bar them.
    undecided: list[K]


def red_flags(rule: RedFlagRule, scores: Mapping[K, float], disqualified: Iterable[K] = (),
              pending: Iterable[K] = ()) -> RedFlags[K]:
    """The subjects (of one center) the rule makes red flags, and those it would but for
    incidents awaiting review.

    `disqualified`: those with a counted incident of a disqualifying severity in the period.
    `pending`: those with a pending one (awaiting_review): they are 待定 and keep their place
    in the top_n, so that a dismissal makes them red flags without taking the honour from
    another, and a confirmation bars them (the next in line then moves up).
    """
    barred = set(disqualified)
    eligible = sorted(((s, v) for s, v in scores.items() if s not in barred
                       and (rule.min_score is None or v >= rule.min_score)),
                      key=lambda sv: -sv[1])
    if rule.top_n is not None and len(eligible) > rule.top_n:
        cut = eligible[rule.top_n - 1][1]
        eligible = [(s, v) for s, v in eligible if v >= cut]
    held = set(pending)
    return RedFlags([s for s, _ in eligible if s not in held],
                    [s for s, _ in eligible if s in held])


def awaiting_review(rule: RedFlagRule, facts: Iterable[Fact]) -> int:
    """How many of a subject's incidents are pending review with a disqualifying severity."""
    severities = {s.value for s in rule.disqualifying_severities}
    return sum(f.status == "pending" and f.severity in severities for f in facts)


def disqualified(rule: RedFlagRule, score_: Score) -> str | None:
    """The worst disqualifying severity among a score's counted incidents, if any."""
    found = score_.severities & {s.value for s in rule.disqualifying_severities}
    for severity in (Severity.CRITICAL, Severity.MAJOR, Severity.MINOR):
        if severity.value in found:
            return severity.value
    return None


def mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 2) if values else 0.0


def rank(scores: Mapping[K, float]) -> dict[K, int]:
    """Competition ranking (1, 2, 2, 4): equal scores share a rank."""
    ordered = sorted(scores.values(), reverse=True)
    return {s: ordered.index(v) + 1 for s, v in scores.items()}


# ---------------------------------------------------------------- periods

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
YEAR = re.compile(r"^(\d{4})$")
PERIOD_PATTERN = r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$"


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        m = MONTH.match(text)
        if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2999:
            raise ValueError(f"月份有误：{text!r}（应写作 年-月，如 2026-11）")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, at: datetime, zone: ZoneInfo) -> Month:
        local = at.astimezone(zone)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{self.year}年{self.month}月"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    def start(self, zone: ZoneInfo) -> datetime:
        """Midnight of the month's first day in the center's time zone, as UTC."""
        return datetime(self.year, self.month, 1, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """A month, a quarter (2026-Q4) or a year (2026): the months it is made of."""

    kind: Literal["month", "quarter", "year"]
    year: int
    number: int  # the month or quarter; 0 for a year

    @classmethod
    def parse(cls, text: str) -> Period:
        text = text.strip()
        if MONTH.match(text):
            m = Month.parse(text)
            return cls("month", m.year, m.month)
        if q := QUARTER.match(text):
            return cls("quarter", int(q.group(1)), int(q.group(2)))
        if (y := YEAR.match(text)) and 2000 <= int(y.group(1)) <= 2999:
            return cls("year", int(y.group(1)), 0)
        raise ValueError(
            f"期间有误：{text!r}（应为月份 2026-11、季度 2026-Q4 或年度 2026）")

    def __str__(self) -> str:
        if self.kind == "month":
            return str(Month(self.year, self.number))
        return f"{self.year}-Q{self.number}" if self.kind == "quarter" else str(self.year)

    @property
    def label(self) -> str:
        if self.kind == "month":
            return Month(self.year, self.number).label
        return f"{self.year}年第{self.number}季度" if self.kind == "quarter" else f"{self.year}年度"

    @property
    def months(self) -> list[Month]:
        if self.kind == "month":
            return [Month(self.year, self.number)]
        if self.kind == "quarter":
            return [Month(self.year, 3 * (self.number - 1) + i) for i in (1, 2, 3)]
        return [Month(self.year, i) for i in range(1, 13)]

    def previous(self) -> Period:
        if self.kind == "month":
            p = Month(self.year, self.number).previous()
            return Period("month", p.year, p.month)
        if self.kind == "quarter":
            return (Period("quarter", self.year, self.number - 1) if self.number > 1
                    else Period("quarter", self.year - 1, 4))
        return Period("year", self.year - 1, 0)

    def start(self, zone: ZoneInfo) -> datetime:
        return self.months[0].start(zone)

    def end(self, zone: ZoneInfo) -> datetime:
        return self.months[-1].next().start(zone)


def buckets(period: Period, zone: ZoneInfo) -> list[tuple[str, datetime, datetime]]:
    """The time axis of a period's incident chart: weeks (Monday to Sunday, cut at the period's
    edges) for a month or quarter, months for a year. (label, start, end) in UTC."""
    if period.kind == "year":
        return [(m.label, m.start(zone), m.next().start(zone)) for m in period.months]
    first = period.months[0].first_day()
    last = period.months[-1].next().first_day()
    out: list[tuple[str, datetime, datetime]] = []
    day = first
    while day < last:
        end = min(day + timedelta(days=7 - day.weekday()), last)
        final = end - timedelta(days=1)
        label = f"{day.month}/{day.day}" + (f"–{final.month}/{final.day}" if final != day else "")
        out.append((label,
                    datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC),
                    datetime(end.year, end.month, end.day, tzinfo=zone).astimezone(UTC)))
        day = end
    return out

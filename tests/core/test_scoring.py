"""The scoring core: a constructed month scored by hand, red flags, periods, and a malformed
scheme naming its key and line."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from etiquette.core.scoring import (
    DEFAULT_SCHEME,
    Fact,
    Month,
    Period,
    RedFlags,
    ScoringError,
    awaiting_review,
    buckets,
    disqualified,
    load_scheme,
    mean,
    parse_scheme,
    rank,
    red_flags,
    score,
    score_all,
)

SCHEME = """
version: test
base: 100
floor: 0
counted_statuses: [confirmed, appealed]
deductions:
  by_rule: {F4-1: 5}
  by_kind: {off_post: 3}
  by_severity: {critical: 4}
escalation:
  - {from_count: 3, factor: 1.5}
  - {from_count: 5, factor: 2}
red_flag: {top_n: 2, min_score: 95, disqualifying_severities: [critical]}
"""
SHANGHAI = ZoneInfo("Asia/Shanghai")


def fact(n: int, rule: str = "F1-1", kind: str = "forbidden_phrase", severity: str = "major",
         deduction: float = 2.0, status: str = "confirmed") -> Fact:
    return Fact(f"i{n:03d}", datetime(2026, 11, 1 + n % 28, 10, tzinfo=UTC), kind, rule, severity,
                deduction, status)


def test_a_constructed_month_scored_by_hand() -> None:
    scheme = parse_scheme(SCHEME)
    window_a = [
        fact(1), fact(2), fact(3),                      # F1-1 ×3: 2 + 2 + 2×1.5 = 7
        fact(4, status="pending"),                      # not reviewed: does not count
        fact(5, status="dismissed"),                    # dismissed: does not count
        fact(6, rule="P-off-post", kind="off_post", deduction=5.0),  # by_kind: 3, not its own 5
        fact(7, rule="R-greet", kind="missing_greeting", severity="minor", deduction=1.0,
             status="appealed"),                        # under appeal: counts, its own 1
    ]
    s = score(scheme, window_a)
    assert s.deducted == 2 + 2 + 3 + 3 + 1
    assert s.score == 89
    assert s.counted == 5
    assert [(d.incident_id, d.nth, d.factor, d.points) for d in s.deductions] == [
        ("i001", 1, 1.0, 2.0), ("i002", 2, 1.0, 2.0), ("i003", 3, 1.5, 3.0),
        ("i006", 1, 1.0, 3.0), ("i007", 1, 1.0, 1.0)]

    # by_rule before by_severity: F4-1 is critical (4) but its rule says 5.
    assert score(scheme, [fact(8, rule="F4-1", severity="critical", deduction=3.0)]).score == 95
    # by_severity before the incident's own points.
    assert score(scheme, [fact(9, rule="F6-1", severity="critical", deduction=3.0)]).score == 96


def test_escalation_counts_per_rule_in_time_order() -> None:
    scheme = parse_scheme(SCHEME)
    # Six of one rule, given out of order: 2, 2, 3, 3, 4, 4 (×1 ×1 ×1.5 ×1.5 ×2 ×2).
    six = [fact(n) for n in (6, 1, 5, 2, 4, 3)]
    assert score(scheme, six).deducted == 18
    # Another rule in between starts its own count.
    mixed = [fact(1), fact(2), fact(3, rule="F2-1"), fact(4, rule="F2-1")]
    assert score(scheme, mixed).deducted == 8


def test_the_floor_stops_the_score() -> None:
    scheme = parse_scheme(SCHEME)
    many = [fact(n, rule="P-off-post", kind="off_post") for n in range(40)]
    assert score(scheme, many).score == 0


def test_red_flags_by_the_rule_in_the_scheme() -> None:
    scheme = parse_scheme(SCHEME)
    facts = {"A": [fact(1)] * 1 + [fact(2), fact(3)],                 # 93: below 95
             "B": [fact(4, rule="F4-1", severity="critical")],        # 95 but critical
             "D": [fact(5)]}                                          # 98
    scores = score_all(scheme, ["A", "B", "C", "D", "E"], facts)
    assert ({k: s.score for k, s in scores.items()}
            == {"A": 93, "B": 95, "C": 100, "D": 98, "E": 100})
    barred = [k for k, s in scores.items() if disqualified(scheme.red_flag, s)]
    assert barred == ["B"]
    values = {k: s.score for k, s in scores.items()}
    # top 2 of the eligible (C, E tie at 100; D 98 is third)
    assert red_flags(scheme.red_flag, values, barred).flags == ["C", "E"]
    # top 1 with a tie at the cut: both tied windows
    one = scheme.red_flag.model_copy(update={"top_n": 1})
    assert red_flags(one, values, barred).flags == ["C", "E"]
    # no top_n: everyone eligible at or above min_score
    all_above = scheme.red_flag.model_copy(update={"top_n": None})
    assert red_flags(all_above, values, barred) == RedFlags(["C", "E", "D"], [])
    assert rank(values) == {"A": 5, "B": 4, "C": 1, "D": 3, "E": 1}


def test_a_window_with_a_critical_incident_awaiting_review_is_undecided() -> None:
    """Issue 18: a 100-point window whose critical incident nobody has reviewed yet was shown
    as a red flag. It is 待定 and keeps its place: dismissed, it becomes a red flag and nobody
    loses theirs; confirmed, it is barred and the next in line moves up."""
    scheme = parse_scheme(SCHEME)
    rule = scheme.red_flag  # top 2, at least 95, no critical
    facts = {"C": [fact(1, rule="F4-1", severity="critical", status="pending"),
                   fact(2, severity="critical", status="dismissed"), fact(3, status="pending")],
             "D": [fact(4)]}
    scores = score_all(scheme, ["C", "D", "E"], facts)
    values = {k: s.score for k, s in scores.items()}
    assert values == {"C": 100, "D": 98, "E": 100}  # pending incidents cost nothing
    waiting = {k: awaiting_review(rule, facts.get(k, ())) for k in values}
    assert waiting == {"C": 1, "D": 0, "E": 0}  # a major one, a dismissed critical one: nothing
    pending = [k for k, n in waiting.items() if n]
    assert red_flags(rule, values, [], pending) == RedFlags(["E"], ["C"])
    # Dismissed: C joins E. Confirmed: C is barred and D moves up.
    assert red_flags(rule, values, [], []) == RedFlags(["C", "E"], [])
    assert red_flags(rule, values, ["C"], []) == RedFlags(["E", "D"], [])


def test_periods_and_their_months() -> None:
    assert str(Period.parse("2026-11")) == "2026-11"
    assert Period.parse("2026-11").label == "2026年11月"
    q = Period.parse("2026-Q4")
    assert q.months == [Month(2026, 10), Month(2026, 11), Month(2026, 12)]
    assert str(q.previous()) == "2026-Q3" and str(Period.parse("2026-Q1").previous()) == "2025-Q4"
    assert str(Period.parse("2026").previous()) == "2025" and len(Period.parse("2026").months) == 12
    assert str(Period.parse("2026-01").previous()) == "2025-12"
    assert Month(2026, 12).next() == Month(2027, 1)
    for bad in ("2026-13", "2026-Q5", "26-11", "2026-1", ""):
        with pytest.raises(ValueError):
            Period.parse(bad)
    # A month is a local month: November in Shanghai starts at 16:00 UTC on 31 October.
    assert Month(2026, 11).start(SHANGHAI) == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert Month.of(datetime(2026, 11, 30, 16, 30, tzinfo=UTC), SHANGHAI) == Month(2026, 12)
    assert mean([89, 95, 100]) == 94.67


def test_weeks_of_a_month_are_monday_to_sunday_cut_at_its_edges() -> None:
    weeks = buckets(Period.parse("2026-11"), SHANGHAI)  # 1 November 2026 is a Sunday
    assert [label for label, _, _ in weeks] == ["11/1", "11/2–11/8", "11/9–11/15", "11/16–11/22",
                                                 "11/23–11/29", "11/30"]
    assert weeks[0][1] == Month(2026, 11).start(SHANGHAI)
    assert weeks[-1][2] == Month(2026, 12).start(SHANGHAI)
    assert ([label for label, _, _ in buckets(Period.parse("2026"), SHANGHAI)][:2]
            == ["2026年1月", "2026年2月"])


def test_the_bundled_scheme_loads() -> None:
    scheme = load_scheme(DEFAULT_SCHEME)
    assert scheme.base == 100 and scheme.deductions.by_kind["off_post"] == 3  # type: ignore[index]
    assert scheme.red_flag.top_n and scheme.red_flag.min_score


@pytest.mark.parametrize(("text", "where"), [
    ("version: x\nred_flag: {}\n", "red_flag (line 2)"),
    ("version: x\nred_flag: {top_n: 3}\ndeductions:\n  by_kind: {bogus: 3}\n",
     "deductions -> by_kind -> bogus"),
    ("version: x\nred_flag: {top_n: 3}\ndeductions:\n  by_kind:\n    off_post: -1\n",
     "deductions (line 4)"),
    ("version: x\nred_flag: {top_n: 3}\nescalation:\n  - {from_count: 5, factor: 2}\n"
     "  - {from_count: 3, factor: 1.5}\n", "(top level)"),
    ("version: x\nred_flag: {top_n: 3}\ncounted_statuses: [pending]\n", "counted_statuses"),
    ("version: x\nred_flag: {top_n: 3}\nbonus: 5\n", "bonus (line 3)"),
])
def test_a_malformed_scheme_names_key_and_line(text: str, where: str) -> None:
    with pytest.raises(ScoringError) as e:
        parse_scheme(text, where="scoring.yaml")
    assert where in str(e.value) and "scoring.yaml" in str(e.value)


def test_commendations_add_bonus_points_up_to_the_monthly_cap() -> None:
    scheme = parse_scheme(SCHEME + "bonuses: {commendation: 2, max_per_month: 3}\n")
    assert score(scheme, [fact(1)], commendations=1).score == 100  # 100 − 2 + 2
    capped = score(scheme, [], commendations=5)
    assert (capped.score, capped.bonus) == (103, 3)  # 5 × 2 = 10, capped at 3; above the base
    assert score(parse_scheme(SCHEME), [], commendations=4).score == 100  # no bonuses in the scheme
    scores = score_all(scheme, ["A", "B"], {}, {"B": 1})
    assert (scores["A"].score, scores["B"].score) == (100, 102)

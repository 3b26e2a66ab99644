"""Service hours and declared pauses mapped onto a recording's offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from etiquette.core.presence.hours import (
    intersect,
    normalise,
    pause_spans,
    service_spans,
    subtract,
    total,
)
from etiquette.core.presence.records import DeclaredPause
from etiquette.core.presence.rules import PauseStatus, Period, ServiceHours

BJ = ZoneInfo("Asia/Shanghai")
HOURS = ServiceHours(periods=(Period(start="09:00", end="12:00"),
                              Period(start="13:30", end="17:00")))
FRIDAY = datetime(2026, 11, 27, tzinfo=BJ)  # a Friday


def at(hhmm: str, day: datetime = FRIDAY) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return day.replace(hour=h, minute=m)


def test_span_arithmetic():
    assert normalise([(5, 6), (1, 3), (2, 4), (7, 7)]) == [(1, 4), (5, 6)]
    assert intersect([(0, 10)], [(2, 3), (5, 12)]) == [(2, 3), (5, 10)]
    assert subtract([(0, 10)], [(2, 3), (5, 12)]) == [(0, 2), (3, 5)]
    assert subtract([(0, 10), (20, 30)], [(5, 25)]) == [(0, 5), (25, 30)]
    assert subtract([(0, 10)], []) == [(0, 10)]
    assert total([(0, 2), (1, 3), (10, 11)]) == 4


def test_a_morning_recording_over_lunch():
    # 11:00 to 14:00: service 11:00-12:00 and 13:30-14:00; lunch not
    spans = service_spans(HOURS, at("11:00"), 3 * 3600)
    assert spans == [(0.0, 3600.0), (9000.0, 10800.0)]


def test_before_opening_and_after_closing_are_not_service():
    assert service_spans(HOURS, at("07:00"), 3 * 3600) == [(7200.0, 10800.0)]
    assert service_spans(HOURS, at("17:00"), 3600) == []


def test_weekends_and_days_the_center_is_closed():
    saturday = FRIDAY + timedelta(days=1)
    assert service_spans(HOURS, at("09:00", saturday), 3600) == []
    six_days = ServiceHours(days=(1, 2, 3, 4, 5, 6), periods=HOURS.periods)
    assert service_spans(six_days, at("09:00", saturday), 3600) == [(0.0, 3600.0)]


def test_a_recording_across_midnight_gets_the_next_morning():
    spans = service_spans(HOURS, at("16:00", FRIDAY - timedelta(days=1)), 18 * 3600)  # Thu 16:00
    assert spans == [(0.0, 3600.0), (17 * 3600.0, 18 * 3600.0)]  # Thu 16-17, Fri 09-10


def test_utc_start_times_are_read_on_the_centers_clock():
    started = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)  # 09:30 in Beijing
    assert service_spans(HOURS, started, 600) == [(0.0, 600.0)]


def test_unknown_start_is_all_service_and_naive_is_refused():
    assert service_spans(HOURS, None, 90.0) == [(0.0, 90.0)]
    with pytest.raises(ValueError, match="timezone-aware"):
        service_spans(HOURS, datetime(2026, 11, 27, 9, 0), 60)


STATUSES = {"会议": PauseStatus(), "休息": PauseStatus(max_s=600)}


def test_pauses_of_this_window_as_offsets_cut_to_their_limit():
    pauses = [
        DeclaredPause("w1", "会议", at("10:00"), at("10:30")),
        DeclaredPause("w1", "休息", at("11:00"), at("11:40")),  # 40 min declared, 10 allowed
        DeclaredPause("w2", "会议", at("09:00"), at("12:00")),  # another window
    ]
    spans = pause_spans(pauses, STATUSES, "w1", at("09:00"), 3 * 3600)
    assert [(p.status, p.span) for p in spans] == [("会议", (3600.0, 5400.0)),
                                                  ("休息", (7200.0, 7800.0))]


def test_pauses_outside_the_recording_are_dropped():
    pauses = [DeclaredPause("w1", "会议", at("08:00"), at("08:30"))]
    assert pause_spans(pauses, STATUSES, "w1", at("09:00"), 3600) == []
    assert pause_spans(pauses, STATUSES, "w1", None, 3600) == []


def test_an_unknown_status_is_an_error_not_a_silent_absence():
    pauses = [DeclaredPause("w1", "出差", at("10:00"), at("10:30"))]
    with pytest.raises(ValueError, match="出差"):
        pause_spans(pauses, STATUSES, "w1", at("09:00"), 3600)

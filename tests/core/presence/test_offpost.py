"""离岗 judged from absences: hours, lunch, declared pauses, the threshold, the incident record."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from etiquette.core.presence.offpost import duration_text, judge, off_post_id, off_post_incident
from etiquette.core.presence.records import Absence, DeclaredPause
from etiquette.core.presence.rules import PauseStatus, load_presence_rules
from etiquette.core.records import IncidentKind, Severity, Speaker

BJ = ZoneInfo("Asia/Shanghai")
RULES = load_presence_rules()  # the shipped rules: 900 s, deduction 3, 09:00-12:00 13:30-17:00
START = datetime(2026, 11, 27, 9, 0, tzinfo=BJ)  # a Friday, opening time
DAY = 9 * 3600.0  # a recording of the whole day from 09:00


def off(h1: str, h2: str, last_seen: bool = True, returned: bool = True) -> Absence:
    """An absence between two wall-clock times of the day, as offsets from 09:00."""
    def s(hhmm: str) -> float:
        h, m = map(int, hhmm.split(":"))
        return (h - 9) * 3600.0 + m * 60.0
    a, b = s(h1), s(h2)
    n = int((b - a) * 2)
    return Absence("day.mp4", "w1", a, b, a - 0.5 if last_seen else None, a + 4, returned, n, n)


def one(absence: Absence, pauses=(), rules=RULES):
    [j] = judge([absence], rules, START, DAY, pauses)
    return j


def test_sixteen_minutes_in_service_hours_is_off_post():
    j = one(off("10:00", "10:16"))
    assert j.off_post and j.counted_s == 960 and j.excused == ()
    assert (j.offset_s, j.end_s) == (3600.0, 4560.0)


def test_fifteen_minutes_exactly_is_allowed():
    assert not one(off("10:00", "10:15")).off_post  # longer than the allowed time, not equal


def test_lunch_does_not_count():
    j = one(off("11:55", "13:40"))  # 5 min before lunch, 10 after: 15 min counted
    assert j.counted_s == 900 and not j.off_post
    assert j.excused == (("非服务时间", 90 * 60.0),)
    j = one(off("11:50", "13:40"))  # 10 + 10 = 20 min: off post, from 11:50 to 13:40
    assert j.off_post and j.counted_s == 1200
    assert (j.offset_s, j.end_s) == (2 * 3600 + 50 * 60.0, 4 * 3600 + 40 * 60.0)


def test_an_absence_wholly_at_lunch_or_after_closing_is_nothing():
    assert one(off("12:00", "13:30")).counted_s == 0
    assert one(off("17:00", "18:00")).counted_s == 0


def test_a_declared_meeting_excuses_its_time_only():
    meeting = [DeclaredPause("w1", "会议", START.replace(hour=10),
                             START.replace(hour=10, minute=30))]
    j = one(off("10:00", "10:40"), meeting)  # 30 min meeting, 10 min unexplained
    assert j.counted_s == 600 and not j.off_post
    assert j.excused == (("会议", 1800.0),)
    j = one(off("09:40", "10:40"), meeting)  # 20 min before + 10 after the meeting
    assert j.counted_s == 1800 and j.off_post
    # a meeting declared for another window excuses nothing here
    other = [DeclaredPause("w2", "会议", START.replace(hour=10), START.replace(hour=10, minute=30))]
    assert one(off("10:00", "10:40"), other).counted_s == 2400


def test_a_break_longer_than_its_limit_counts_beyond_it():
    rules = RULES.model_copy(update={"pauses": {**RULES.pauses, "休息": PauseStatus(max_s=600)}})
    brk = [DeclaredPause("w1", "休息", START.replace(hour=10), START.replace(hour=11))]
    j = one(off("10:00", "10:30"), brk, rules)  # 10 min allowed of the declared hour
    assert j.counted_s == 1200 and j.off_post and j.excused == (("休息", 600.0),)


def test_the_threshold_override():
    j = one(off("10:00", "10:01"), rules=RULES.with_threshold(30))
    assert j.off_post and j.threshold_s == 30


def test_the_incident_record():
    j = one(off("10:00", "10:20"))
    inc = off_post_incident(j, RULES, START, {"empty_seat": "e.jpg", "last_seen": "l.jpg"})
    assert inc.kind is IncidentKind.OFF_POST and inc.rule_id == "P-off-post"
    assert inc.rule_name == "离岗"
    assert inc.speaker is Speaker.STAFF and inc.phrase is None and inc.transcript == ""
    assert (inc.offset_s, inc.end_s) == (3600.0, 4800.0)
    assert inc.at == (START + timedelta(hours=1)).isoformat()
    assert inc.severity is Severity.MAJOR and inc.deduction == 3.0 and inc.score == 1.0
    assert inc.evidence == {"empty_seat": "e.jpg", "last_seen": "l.jpg"}
    assert inc.id == off_post_id(j, RULES.off_post)
    # deterministic: a retry never duplicates
    assert inc.id == off_post_incident(j, RULES, START).id
    assert "10:00:00" in inc.explanation and "10:20:00" in inc.explanation
    assert "20 分" in inc.explanation and "15 分" in inc.explanation
    assert inc.to_json()["kind"] == "off_post"


def test_the_explanation_names_what_was_not_counted_and_an_unreturned_end():
    meeting = [DeclaredPause("w1", "会议", START.replace(hour=11),
                             START.replace(hour=11, minute=30))]
    j = one(off("10:30", "14:00", last_seen=False, returned=False), meeting)
    text = off_post_incident(j, RULES, START).explanation
    assert "此前未见工作人员" in text and "仍未返回" in text
    assert "会议 30 分" in text and "非服务时间 1 小时 30 分" in text


def test_the_explanation_says_where_the_recording_lost_its_pictures():
    cut = replace(off("10:00", "10:20", last_seen=False, returned=False), after_loss=True,
                  before_loss=True)
    text = off_post_incident(one(cut), RULES, START).explanation
    assert "此前画面缺失" in text and "此前未见工作人员" not in text
    assert "截至 10:20:00（第 4800.0 秒）仍未返回，其后画面缺失" in text


def test_without_a_start_time_offsets_are_shown():
    [j] = judge([off("10:00", "10:20")], RULES, None, DAY)
    assert j.off_post and "第 3600.0 秒" in off_post_incident(j, RULES, None).explanation


def test_only_off_post_judgements_become_incidents():
    with pytest.raises(ValueError, match="off post"):
        off_post_incident(one(off("10:00", "10:05")), RULES, START)


def test_duration_text():
    assert duration_text(20) == "20 秒"
    assert duration_text(900) == "15 分"
    assert duration_text(3725) == "1 小时 2 分 5 秒"
    assert duration_text(0) == "0 秒"

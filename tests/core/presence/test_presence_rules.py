"""rules/presence.yaml and declared-pause files: validated at start-up, errors name the key."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
import yaml

from etiquette.core.presence.rules import (
    DEFAULT_PRESENCE_RULES,
    PresenceRulesError,
    load_pauses,
    load_presence_rules,
)
from etiquette.core.records import Severity

MINIMAL = {"version": "t", "service_hours": {"periods": [{"start": "09:00", "end": "17:00"}]}}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "presence.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_rules():
    rules = load_presence_rules()
    assert DEFAULT_PRESENCE_RULES.name == "presence.yaml"
    assert rules.off_post.threshold_s == 900 and rules.off_post.deduction == 3
    assert rules.off_post.id == "P-off-post" and rules.off_post.name == "离岗"
    assert rules.off_post.severity is Severity.MAJOR
    assert [(p.start, p.end) for p in rules.service_hours.periods] == [
        (time(9), time(12)), (time(13, 30), time(17))]
    assert set(rules.pauses) == {"会议", "休息", "顶岗"}
    assert rules.service_hours.timezone == "Asia/Shanghai"


def test_a_minimal_file_takes_the_defaults(tmp_path):
    rules = load_presence_rules(write(tmp_path, yaml.safe_dump(MINIMAL)))
    assert rules.off_post.threshold_s == 900 and rules.tracking.sample_fps == 2
    assert rules.with_threshold(20).off_post.threshold_s == 20
    assert rules.with_threshold(None) is rules
    with pytest.raises(PresenceRulesError, match="positive"):
        rules.with_threshold(0)


@pytest.mark.parametrize("text, key, message", [
    ("version: t\nservice_hours:\n  periods:\n    - {start: 9:30, end: '12:00'}\n",
     "service_hours -> periods[0] -> start", "quoted"),
    ("version: t\nservice_hours:\n  periods:\n    - {start: '13:00', end: '12:00'}\n",
     "service_hours -> periods[0]", "before end"),
    ("version: t\nservice_hours:\n  periods:\n    - {start: '09:00', end: '12:00'}\n"
     "    - {start: '11:00', end: '13:00'}\n", "service_hours", "overlap"),
    ("version: t\nservice_hours:\n  timezone: Mars/Olympus\n"
     "  periods: [{start: '09:00', end: '12:00'}]\n",
     "service_hours -> timezone", "unknown time zone"),
    ("version: t\nservice_hours:\n  days: [0, 8]\n  periods: [{start: '09:00', end: '12:00'}]\n",
     "service_hours -> days", "1 (Monday)"),
    ("version: t\nservice_hours: {periods: [{start: '09:00', end: '12:00'}]}\n"
     "off_post: {threshold_s: -5}\n", "off_post -> threshold_s", "greater than 0"),
    ("version: t\nservice_hours: {periods: [{start: '09:00', end: '12:00'}]}\n"
     "off_post: {treshold_s: 60}\n", "off_post -> treshold_s", "Extra inputs"),
    ("version: t\nservice_hours: {periods: [{start: '09:00', end: '12:00'}]}\n"
     "pauses: {休息: {max_s: 0}}\n", "pauses -> 休息 -> max_s", "greater than 0"),
    ("version: t\n", "service_hours", "Field required"),
])
def test_errors_name_the_key(tmp_path, text, key, message):
    with pytest.raises(PresenceRulesError) as e:
        load_presence_rules(write(tmp_path, text))
    assert key in str(e.value) and message in str(e.value)


def test_unreadable_and_non_mapping_files(tmp_path):
    with pytest.raises(PresenceRulesError, match="cannot read"):
        load_presence_rules(tmp_path / "missing.yaml")
    with pytest.raises(PresenceRulesError, match="not valid YAML"):
        load_presence_rules(write(tmp_path, "version: [unclosed"))
    with pytest.raises(PresenceRulesError, match="mapping"):
        load_presence_rules(write(tmp_path, "- a list"))


def test_declared_pauses_file(tmp_path):
    rules = load_presence_rules()
    path = tmp_path / "pauses.yaml"
    path.write_text(
        "- {window: w1, status: 会议, start: 2026-11-27T10:00:00, end: 2026-11-27T10:30:00}\n"
        "- {window: w2, status: 顶岗, start: '2026-11-27T02:00:00+00:00',"
        " end: '2026-11-27T03:00:00+00:00'}\n",
        encoding="utf-8")
    first, second = load_pauses(path, rules)
    assert first.window_id == "w1" and first.status == "会议"
    assert first.start.utcoffset().total_seconds() == 8 * 3600  # naive: the center's clock
    assert second.start.hour == 2 and second.start.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("text, message", [
    ("- {window: w1, status: 出差, start: 2026-11-27T10:00:00, end: 2026-11-27T10:30:00}\n",
     "[0] -> status: '出差'"),
    ("- {window: w1, status: 会议, start: 2026-11-27T11:00:00, end: 2026-11-27T10:30:00}\n",
     "must be before end"),
    ("- {window: w1, status: 会议, start: soon}\n", "[0] -> start"),
    ("window: w1\n", "expected a list"),
])
def test_bad_pauses_are_named(tmp_path, text, message):
    path = tmp_path / "pauses.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PresenceRulesError) as e:
        load_pauses(path, load_presence_rules())
    assert message in str(e.value)

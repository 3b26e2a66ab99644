"""A service session as a record (issue 19 item 3): what it says of a judged session, the same
for batch and live."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from etiquette.core.checks.base import SessionView, Turn
from etiquette.core.checks.rules import load_check_rules
from etiquette.core.records import (
    Incident,
    IncidentKind,
    Severity,
    Speaker,
    Transcript,
    Word,
    incident_id,
)
from etiquette.core.rules import load_rules
from etiquette.core.session_records import SESSION_RECORD, CheckState, session_record
from etiquette.core.sessions import Session

STARTED = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
SOURCE = "hall/w1.wav"


def said(text: str, start_s: float, end_s: float) -> Turn:
    words = (Word(text, start_s, end_s, 0.9),)
    return Turn(speaker=Speaker.STAFF, channel=0, start_s=start_s, end_s=end_s,
                transcript=Transcript(SOURCE, "w1", Speaker.STAFF, 0, start_s, end_s, words))


def found(kind: IncidentKind, rule_id: str, at_s: float, phrase: str | None = None) -> Incident:
    return Incident(id=incident_id(SOURCE, "w1", kind, rule_id, at_s), source=SOURCE,
                    window_id="w1", kind=kind, rule_id=rule_id, rule_name=f"规则 {rule_id}",
                    phrase=phrase, speaker=Speaker.STAFF, offset_s=at_s, end_s=at_s + 1,
                    at=None, transcript="", score=1.0, severity=Severity.MAJOR, deduction=1.0,
                    explanation="")


def test_a_session_record_says_what_each_check_made_of_it() -> None:
    rules, checks = load_rules(), load_check_rules()
    greeting, farewell = (r for r in rules.required if r.missing is not None)
    extra = checks.checks()[0]
    view = SessionView(session=Session(SOURCE, "w1", 2.0, 40.0), recorded_at=STARTED, turns=(
        said("您好，请问办理什么业务", 2.0, 5.5),
        Turn(speaker=Speaker.CITIZEN, channel=1, start_s=6.0, end_s=10.0),  # not transcribed
        said("这个我不知道", 11.0, 13.0)))
    incidents = [found(IncidentKind.FORBIDDEN_PHRASE, "F1-1", 11.5, "不知道"),
                 found(farewell.missing.kind, farewell.id, 10.0),
                 found(extra.kind, extra.id, 11.0)]
    record = session_record(view, rules, checks, incidents,
                            not_judged=[greeting.missing.kind.value], ticket="A012")

    assert (record.staff_talk_s, record.citizen_talk_s) == (5.5, 4.0)
    assert record.start_at == "2026-12-01T01:00:02+00:00"
    assert record.end_at == "2026-12-01T01:00:40+00:00"
    assert [t.text for t in record.turns] == ["您好，请问办理什么业务", None, "这个我不知道"]
    assert record.incident_ids == tuple(i.id for i in incidents) and record.ticket == "A012"
    states = {c.id: c.state for c in record.checks}
    assert states[greeting.id] == CheckState.NOT_JUDGED  # its audio was lost
    assert states[farewell.id] == states["forbidden"] == states[extra.id] == CheckState.FAILED
    assert {c.id for c in checks.checks()} <= set(states)  # every enabled check is listed
    assert all(states[c.id] == CheckState.PASSED for c in checks.checks()[1:]
               if c.id != extra.id)
    assert next(c.found for c in record.checks if c.id == "forbidden") == ("不知道",)

    line = json.loads(json.dumps(record.to_json(), ensure_ascii=False))
    assert line["kind"] == SESSION_RECORD and line["turns"][1]["text"] is None
    # The id is the session's: the same session again (a re-run) has it, another has not.
    assert session_record(view, rules, checks, []).id == record.id
    later = view.model_copy(update={"session": Session(SOURCE, "w1", 50.0, 60.0)})
    assert session_record(later, rules, checks, []).id != record.id

"""Scored incidents from rule hits and missing phrases: what a reviewer confirms or dismisses."""

from __future__ import annotations

from datetime import datetime

from etiquette.core.records import (
    Incident,
    IncidentKind,
    PhraseHit,
    Speaker,
    Transcript,
    absolute_time,
    incident_id,
)
from etiquette.core.rules import ForbiddenRule, RuleSet
from etiquette.core.sessions import MissingPhrase, Session


def forbidden_incident(rules: RuleSet, rule: ForbiddenRule, hit: PhraseHit, transcript: Transcript,
                       recorded_at: datetime | None = None) -> Incident:
    start, end = transcript.time_of(hit.char_start, hit.char_end)
    kind = IncidentKind.FORBIDDEN_PHRASE
    return Incident(
        id=incident_id(transcript.source, transcript.window_id, kind, rule.id, start),
        source=transcript.source, window_id=transcript.window_id, kind=kind, rule_id=rule.id,
        rule_name=rule.name, phrase=hit.phrase, speaker=transcript.speaker,
        offset_s=round(start, 2), end_s=round(end, 2), at=absolute_time(recorded_at, start),
        transcript=transcript.text, score=hit.score, severity=rules.severity_of(rule),
        deduction=rules.deduction_of(rule),
        explanation=hit.explanation + (f"；说话人：{transcript.speaker_note}"
                                       if transcript.speaker_note else ""),
        # PhraseHit offsets index transcript.text (matching.find runs on it): the same string.
        hit_start=hit.char_start, hit_end=hit.char_end)


def missing_incident(session: Session, missing: MissingPhrase,
                     recorded_at: datetime | None = None) -> Incident:
    rule, spec = missing.rule, missing.rule.missing
    assert spec is not None
    source, window_id = session.source, session.window_id
    return Incident(
        id=incident_id(source, window_id, spec.kind, rule.id, missing.start_s),
        source=source, window_id=window_id, kind=spec.kind, rule_id=rule.id, rule_name=rule.name,
        phrase=rule.canonical, speaker=Speaker.STAFF, offset_s=round(missing.start_s, 2),
        end_s=round(missing.end_s, 2), at=absolute_time(recorded_at, missing.start_s),
        transcript=missing.said, score=1.0, severity=spec.severity, deduction=spec.deduction,
        explanation=(f"{missing.start_s:.0f}–{missing.end_s:.0f} 秒内工作人员未说出"
                     f"「{rule.canonical}」或同义用语"))


"""A service session as a record (issue 19 item 3): who spoke when and what, how long each side
spoke, and which checks the session passed and failed, for the supervision service's timeline.

Batch builds one per recording, live one per session when it is judged at its end: the same
`session_record` over the session's turns (`SessionView`) and the incidents found in it. The
record is a line of batch's JSONL (`kind` "session", which no incident kind is) and is posted
to the service beside the incidents; its id is deterministic, so a retry never duplicates it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from etiquette.core.checks.base import SessionView, Turn
from etiquette.core.checks.rules import CheckRules
from etiquette.core.records import Incident, IncidentKind, Speaker, absolute_time
from etiquette.core.rules import RuleSet

# The `kind` of a session's line in batch's JSONL and in the outbox: beside the incident kinds,
# as "error" and "incomplete" are (etiquette.sinks).
SESSION_RECORD = "session"
FORBIDDEN_CHECK = "forbidden"  # the one entry of `checks` for all forbidden phrases


class CheckState(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_JUDGED = "not_judged"  # the audio that decides it was lost (an incomplete recording)


@dataclass(frozen=True)
class CheckOutcome:
    """What one check made of the session: `found` says what fired (the forbidden phrases
    said; for the other checks one entry per incident, its rule name)."""

    id: str  # the rule's id (required phrase, check) or FORBIDDEN_CHECK
    kind: IncidentKind  # the incident kind it gives
    name: str  # Chinese, as the rules name it
    state: CheckState
    found: tuple[str, ...] = ()


@dataclass(frozen=True)
class SessionUtterance:
    """One utterance on the timeline; `text` None where it was not transcribed (citizen speech
    no rule needed)."""

    speaker: Speaker
    start_s: float  # offsets within the source
    end_s: float
    text: str | None


@dataclass(frozen=True)
class SessionRecord:
    id: str
    source: str
    window_id: str
    offset_s: float  # first speech, within `source`
    end_s: float  # last speech
    start_at: str | None  # absolute UTC times of offset_s and end_s, where known
    end_at: str | None
    ticket: str | None  # 叫号: the number called for this citizen, where live knew it
    staff_talk_s: float  # the sum of each side's speech
    citizen_talk_s: float
    checks: tuple[CheckOutcome, ...]
    turns: tuple[SessionUtterance, ...]
    incident_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"kind": SESSION_RECORD, **asdict(self)}


def session_id(source: str, window_id: str, offset_s: float) -> str:
    """Deterministic, as `incident_id`: re-running or retrying never duplicates a session."""
    key = f"{source}|{window_id}|{SESSION_RECORD}|{offset_s:.1f}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "etiquette:" + key))


def talk_time(turns: Iterable[Turn], speaker: Speaker) -> float:
    return round(sum(t.duration_s for t in turns if t.speaker == speaker), 2)


def _outcome(id: str, kind: IncidentKind, name: str, fired: Sequence[Incident],
             undecided: bool, found: Iterable[str]) -> CheckOutcome:
    if fired:
        return CheckOutcome(id, kind, name, CheckState.FAILED, tuple(dict.fromkeys(found)))
    return CheckOutcome(id, kind, name, CheckState.NOT_JUDGED if undecided else CheckState.PASSED)


def check_outcomes(rules: RuleSet, checks: CheckRules, incidents: Sequence[Incident],
                   not_judged: Iterable[str] = ()) -> list[CheckOutcome]:
    """Every check the session was judged by, passed or failed: the required phrases that can
    be missing (greeting, farewell), the forbidden phrases together, then each enabled check of
    rules/checks.yaml. `not_judged`: the incident kinds the lost audio left undecided."""
    undecided = set(not_judged)
    outcomes = []
    for rule in rules.required:
        if rule.missing is None:
            continue
        fired = [i for i in incidents if i.kind == rule.missing.kind and i.rule_id == rule.id]
        outcomes.append(_outcome(rule.id, rule.missing.kind, rule.name, fired,
                                 rule.missing.kind.value in undecided, ()))
    forbidden = [i for i in incidents if i.kind == IncidentKind.FORBIDDEN_PHRASE]
    outcomes.append(_outcome(FORBIDDEN_CHECK, IncidentKind.FORBIDDEN_PHRASE, "服务禁用语",
                             forbidden, False, (i.phrase or i.rule_name for i in forbidden)))
    for check in checks.checks():
        fired = [i for i in incidents if i.kind == check.kind and i.rule_id == check.id]
        outcomes.append(_outcome(check.id, check.kind, check.name, fired,
                                 check.kind.value in undecided, (i.rule_name for i in fired)))
    return outcomes


def session_record(view: SessionView, rules: RuleSet, checks: CheckRules,
                   incidents: Sequence[Incident], not_judged: Iterable[str] = (),
                   ticket: str | None = None) -> SessionRecord:
    """The record of the session `view` holds, judged by `rules` and `checks` into
    `incidents` (those found in it); `not_judged` as `check_outcomes` takes it."""
    s = view.session
    return SessionRecord(
        id=session_id(s.source, s.window_id, s.start_s), source=s.source,
        window_id=s.window_id, offset_s=round(s.start_s, 2), end_s=round(s.end_s, 2),
        start_at=absolute_time(view.recorded_at, s.start_s),
        end_at=absolute_time(view.recorded_at, s.end_s), ticket=ticket,
        staff_talk_s=talk_time(view.turns, Speaker.STAFF),
        citizen_talk_s=talk_time(view.turns, Speaker.CITIZEN),
        checks=tuple(check_outcomes(rules, checks, incidents, not_judged)),
        turns=tuple(SessionUtterance(t.speaker, round(t.start_s, 2), round(t.end_s, 2),
                                     t.transcript.text if t.transcript is not None else None)
                    for t in view.turns),
        incident_ids=tuple(i.id for i in incidents))

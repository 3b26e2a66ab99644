"""Service sessions: a citizen arrives, is served and leaves; greeting and farewell are due.

来有迎声、走有送声: the staff greet near the start of a session and see the citizen off near
its end. Pure domain logic: transcripts and rule hits in, missing required phrases out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from etiquette.records import PhraseHit, Speaker, Transcript, Utterance
from etiquette.rules import ExpectedAt, RequiredRule, RuleSet


@dataclass(frozen=True)
class Session:
    source: str
    window_id: str
    start_s: float  # first speech of anyone
    end_s: float  # last speech of anyone


@dataclass(frozen=True)
class MissingPhrase:
    rule: RequiredRule
    start_s: float  # the part of the session where the phrase was due
    end_s: float
    said: str  # what the staff said there instead, for the reviewer


def session_of(speech: Sequence[Utterance | Transcript]) -> Session | None:
    """One recording is one session, from its first to its last speech; without speech, none."""
    if not speech:
        return None
    return Session(speech[0].source, speech[0].window_id, min(u.start_s for u in speech),
                   max(u.end_s for u in speech))


def _due_window(rules: RuleSet, rule: RequiredRule, session: Session) -> tuple[float, float]:
    if rule.expected_at == ExpectedAt.SESSION_START:
        return session.start_s, min(session.end_s, session.start_s + rules.session.greeting_within_s)
    return max(session.start_s, session.end_s - rules.session.farewell_within_s), session.end_s


def missing_phrases(rules: RuleSet, session: Session, transcripts: Sequence[Transcript],
                    hits: Sequence[tuple[Transcript, RequiredRule, PhraseHit]]) -> list[MissingPhrase]:
    """Required phrases with a `missing` incident that no staff utterance in their window said."""
    missing = []
    for rule in rules.required:
        if rule.missing is None:
            continue
        start, end = _due_window(rules, rule, session)

        def in_window(t: Transcript) -> bool:
            return t.speaker != Speaker.CITIZEN and t.end_s > start and t.start_s < end

        if any(r.id == rule.id and in_window(t) for t, r, _ in hits):
            continue
        said = " ".join(t.text for t in transcripts if in_window(t) and t.words)
        missing.append(MissingPhrase(rule, start, end, said))
    return missing

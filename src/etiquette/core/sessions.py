"""Service sessions: a citizen arrives, is served and leaves; greeting and farewell are due.

来有迎声、走有送声: the staff greet near the start of a session and see the citizen off near
its end. Pure domain logic: transcripts and rule hits in, missing required phrases out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from etiquette.core.records import PhraseHit, Speaker, Transcript, Utterance
from etiquette.core.rules import ExpectedAt, RequiredRule, RuleSet


@dataclass(frozen=True)
class Session:
    source: str
    window_id: str
    start_s: float  # first speech of anyone
    end_s: float  # last speech of anyone


@dataclass(frozen=True)
class Unheard:
    """Audio of a recording that was never heard: cut off, undecodable or skipped. `at_s` is
    where the loss falls in the audio as it was decoded (the speech around it keeps the
    offsets it was heard at); `lost_s` how much is missing there, where the file tells (None:
    unknown)."""

    at_s: float
    lost_s: float | None = None


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
        return session.start_s, min(session.end_s,
                                    session.start_s + rules.session.greeting_within_s)
    return max(session.start_s, session.end_s - rules.session.farewell_within_s), session.end_s


def staff_within(t: Transcript, start_s: float, end_s: float) -> bool:
    """Whether `t` overlaps the span start_s..end_s and is not known to be the citizen's: speech of
    unknown speaker may be the staff's, so it can say (or fail to say) a required phrase."""
    return t.speaker != Speaker.CITIZEN and t.end_s > start_s and t.start_s < end_s


def heard_whole(rules: RuleSet, rule: RequiredRule, session: Session,
                unheard: Sequence[Unheard]) -> bool:
    """Whether all the audio that decides if `rule` was said in `session` was heard. A greeting
    is due within `greeting_within_s` of the session's start: audio lost before that may have
    held the session's true start and its greeting, so anything lost before the first speech
    plus `greeting_within_s` leaves it undecided. A farewell is due within `farewell_within_s`
    of its end: audio lost after the last speech less `farewell_within_s` (a file cut off at
    its end above all) may have held it, or more of the session."""
    if rule.expected_at == ExpectedAt.SESSION_START:
        return all(u.at_s >= session.start_s + rules.session.greeting_within_s for u in unheard)
    if rule.expected_at == ExpectedAt.SESSION_END:
        return all(u.at_s <= session.end_s - rules.session.farewell_within_s for u in unheard)
    return True


def withheld(rules: RuleSet, session: Session, transcripts: Sequence[Transcript],
             hits: Sequence[tuple[Transcript, RequiredRule, PhraseHit]],
             unheard: Sequence[Unheard], due: ExpectedAt | None = None) -> list[MissingPhrase]:
    """The required phrases that would be found missing from what was heard (only those `due`,
    when given), but are not judged because the audio that would decide them was lost
    (`heard_whole`)."""
    if not unheard:
        return []
    return [m for m in missing_phrases(rules, session, transcripts, hits, due)
            if not heard_whole(rules, m.rule, session, unheard)]


def missing_phrases(rules: RuleSet, session: Session, transcripts: Sequence[Transcript],
                    hits: Sequence[tuple[Transcript, RequiredRule, PhraseHit]],
                    due: ExpectedAt | None = None, unheard: Sequence[Unheard] = ()
                    ) -> list[MissingPhrase]:
    """Required phrases with a `missing` incident that no staff utterance in their window said
    (only those `due` at the session's start or end, when given). A phrase whose window was
    not all heard (`unheard`: audio lost from the recording) is not judged: its absence from
    what was heard proves nothing."""
    missing = []
    for rule in rules.required:
        if rule.missing is None or (due is not None and rule.expected_at != due):
            continue
        if not heard_whole(rules, rule, session, unheard):
            continue
        start, end = _due_window(rules, rule, session)
        if any(r.id == rule.id and staff_within(t, start, end) for t, r, _ in hits):
            continue
        said = " ".join(t.text for t in transcripts if staff_within(t, start, end) and t.words)
        missing.append(MissingPhrase(rule, start, end, said))
    return missing


def due_by(rules: RuleSet, rule: RequiredRule, session: Session) -> float:
    """When a session's window for `rule` closes (the session's end for a farewell)."""
    return _due_window(rules, rule, session)[1]


class SessionTracker:
    """The service sessions of one live window, from its speech and its 叫号 events.

    A session opens with the first speech after a quiet spell and closes when the window has
    been quiet for `end_after_silence_s`, when the next number is called, when the staff
    member leaves the seat, or when the stream ends; it spans first to last speech, as a
    recording's does. Pure: times are stream seconds, what to do with a closed session is the
    caller's.
    """

    def __init__(self, source: str, window_id: str, rules: RuleSet) -> None:
        self.source, self.window_id = source, window_id
        self.quiet_s = rules.session.end_after_silence_s
        self.current: Session | None = None  # open session, end_s = last speech so far

    def speech(self, utterance: Utterance) -> list[Session]:
        """Someone spoke: sessions this closes (a long silence before it), then it opens or
        extends the current one."""
        closed = self.tick(utterance.start_s)
        s = self.current
        if s is None:
            self.current = Session(self.source, self.window_id, utterance.start_s, utterance.end_s)
        else:
            self.current = Session(s.source, s.window_id, s.start_s, max(s.end_s, utterance.end_s))
        return closed

    def tick(self, now_s: float) -> list[Session]:
        """Time passed without speech: the current session, if it has now been quiet too long."""
        if self.current is not None and now_s - self.current.end_s >= self.quiet_s:
            return self.close()
        return []

    def close(self) -> list[Session]:
        """End the current session now (叫号, staff left, end of stream)."""
        closed, self.current = self.current, None
        return [closed] if closed else []

    def reach(self, session: Session) -> tuple[float, float]:
        """The stream seconds whose audio bears on `session`: speech in audio lost there would
        have been part of it (`heard_whole` then decides what the loss leaves undecided). A
        session ends after `end_after_silence_s` of quiet, so speech lost further from its
        first or last speech would have been a session of its own. (A session ended sooner,
        by 叫号 or the staff leaving, is given the same reach: a loss just after that may
        leave its farewell unjudged, never judged on audio that was not there.)"""
        return session.start_s - self.quiet_s, session.end_s + self.quiet_s

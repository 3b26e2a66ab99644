"""A session's turns as the checks see them (`etiquette.core.checks`), built from its utterances
and their transcripts: one function for batch and live.

Only the staff's speech is transcribed for the phrase rules; a citizen utterance is transcribed
only where a check needs its words (`words_wanted`: a citizen turn nobody answered, which may
be a question; every one where a composed rule reads what the citizen said), so the checks
cost the recogniser next to nothing unless a rule asks for the citizen's words.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from etiquette.core.checks.base import Turn
from etiquette.core.checks.rules import CheckRules
from etiquette.core.records import Speaker, Transcript, Utterance, heard_as
from etiquette.speech.loudness import loudness_lufs


def turn_of(utterance: Utterance, transcript: Transcript | None = None) -> Turn:
    """One utterance as a turn; the transcript, where there is one, says who spoke (on one
    microphone the speaker is attributed from it)."""
    return Turn(speaker=transcript.speaker if transcript is not None else utterance.speaker,
                channel=utterance.channel, start_s=utterance.start_s, end_s=utterance.end_s,
                transcript=transcript, loudness_lufs=loudness_lufs(utterance.audio))


def session_turns(utterances: Sequence[Utterance], transcripts: Sequence[Transcript]
                  ) -> tuple[Turn, ...]:
    """Every utterance of a session as a turn in time order, with its transcript where it was
    transcribed."""
    heard = {heard_as(t): t for t in transcripts}
    turns = (turn_of(u, heard.get(heard_as(u))) for u in utterances)
    return tuple(sorted(turns, key=lambda t: (t.start_s, t.channel)))


def words_wanted(checks: CheckRules, turns: Sequence[Turn], until_s: float) -> list[Turn]:
    """The citizen turns (among `turns`, as heard by `until_s`) whose words a check needs:
    those of a citizen's turn that no staff speech answered in time (is it a question?), or
    all of them where a composed rule reads the citizen's words."""
    if checks.reads_citizen:  # a composed rule reads all of it
        return [t for t in turns if t.speaker == Speaker.CITIZEN]
    check = checks.unanswered_question
    if check is None or not check.enabled:
        return []
    return check.awaiting_words(turns, until_s)


def wanted_utterances(checks: CheckRules, utterances: Sequence[Utterance],
                      transcribed: Collection[Utterance]) -> list[Utterance]:
    """The utterances of a whole session, beyond those `transcribed` anyway, whose words a
    check needs (batch: decided once the session's speech is all known)."""
    if not utterances:
        return []
    turns = session_turns(utterances, ())
    wanted = {(t.channel, t.start_s, t.end_s)
              for t in words_wanted(checks, turns, max(u.end_s for u in utterances))}
    already = {id(u) for u in transcribed}
    return [u for u in utterances
            if (u.channel, u.start_s, u.end_s) in wanted and id(u) not in already]

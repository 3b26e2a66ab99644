"""Judging: transcripts in, incidents out (no I/O; the core of batch and live).

An utterance is judged alone the moment it is transcribed; two or three utterances of one
speaker short pauses apart are also judged as one text (`judge_pause`); a phrase the model heard
in an utterance that ends with one part of it, once the next utterance shows whether the phrase
ran on (`judge_held`); and a session's missing greeting or farewell once it is over
(`judge_session`). `judge` does all four for a finished session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from etiquette.core.incidents import forbidden_incident, missing_incident
from etiquette.core.matching import AcousticCheck, ExcludedHit, PhraseMatcher
from etiquette.core.records import Incident, PhraseHit, Speaker, Transcript, Word
from etiquette.core.rules import ExpectedAt, RequiredRule, RuleSet
from etiquette.core.sessions import Session, Unheard, missing_phrases, staff_within, withheld

Judged = tuple[list[Incident], list[tuple[Transcript, RequiredRule, PhraseHit]], list[ExcludedHit]]


def judge_transcript(rules: RuleSet, matcher: PhraseMatcher, transcript: Transcript,
                     recorded_at: datetime | None = None, check: AcousticCheck | None = None,
                     lead_in: Sequence[Transcript] = ()) -> Judged:
    """One utterance's forbidden-phrase incidents, the required phrases it said, and the hits
    its context excluded (what live judges the moment an utterance is transcribed). A phrase
    that `lead_in` (the turn it goes on with: `leading`) said too is the same incident going
    on (你去投诉嘛，（停顿）去投诉我啊; 说了几遍了，（停顿）签名加盖章，（停顿）怎么还不会, each
    half meaning it) and is not reported again -- where both are known to be the
    same person's: two unsettled utterances on one microphone may be the citizen's 我也不知道
    and the clerk's 我不晓得, unless one voice said both."""
    found, excluded = matcher.forbidden(transcript, check)
    left = _going_on(matcher, transcript, lead_in)
    left |= _run_on(matcher, lead_in[-1] if lead_in else None, transcript)
    incidents = [forbidden_incident(rules, rule, hit, transcript, recorded_at)
                 for rule, hit in found if rule.id not in left]
    required = [(transcript, rule, hit) for rule, hit in matcher.required(transcript)]
    return incidents, required, list(excluded)


def _going_on(matcher: PhraseMatcher, t: Transcript, turn: Sequence[Transcript]) -> set[str]:
    """The forbidden phrases the turn before `t` said, in one utterance or across a pause
    (我五点下班，（停顿）现在四点五十了, then 快下班了，你快点), where the turn is known to be the
    same person's as `t` (two unsettled utterances on one microphone may be the citizen's and
    the clerk's, unless the same voice said both)."""
    known = [_one_person(before, t) for before in turn]
    runs = [turn[i:j] for i in range(len(turn))
            for j in range(i + 1, min(i + RUN_MAX, len(turn)) + 1) if all(known[i:j])]
    said = [joined(run)[0] for run in runs]
    return ({r.id for whole in said for r, _ in matcher.forbidden(whole)[0]}
            | {held[0].id for whole in said if (held := matcher.held(whole)) is not None})


def _one_person(a: Transcript, b: Transcript) -> bool:
    """Whether two utterances are known to be one person's: the same known speaker, or on one
    microphone the same one of its two voices where which is the staff's is not settled."""
    return a.speaker == b.speaker != Speaker.UNKNOWN or a.voice == b.voice != ""


def _run_on(matcher: PhraseMatcher, before: Transcript | None, t: Transcript) -> set[str]:
    """The phrases the model heard in `t` that began in `before`, the utterance just before it
    in its turn (马上下班了。（停顿）你快点去), where the two joined hold the phrase across the
    pause: `judge_pause` reports it over both halves, not `t` alone."""
    if before is None or not (meant := matcher.runs_on(before, t)):
        return set()
    whole, cuts = joined([before, t])
    return {h.rule_id for _, h in matcher.forbidden(whole)[0]
            if h.rule_id in meant and _across(h, cuts)}


def judge_held(rules: RuleSet, matcher: PhraseMatcher, t: Transcript, after: Transcript | None,
               recorded_at: datetime | None = None, lead_in: Sequence[Transcript] = ()
               ) -> list[Incident]:
    """The phrase the model heard in `t` but held back, `t` ending with one part of it
    (`PhraseMatcher.held`): nothing where a run with the utterances before it (`lead_in`, the
    turn it goes on with) or with `after` (the next utterance of the speaker) holds it across
    the pause (有指示牌，（停顿）自己看: `judge_pause` reports it over both halves) or where the
    turn before said it; else an incident of `t` alone (自己看吗？ and then the citizen speaks,
    or the clerk goes on to something else)."""
    held = matcher.held(t)
    if held is None:
        return []
    rule, hit = held
    runs = [[*lead_in[len(lead_in) - k:], t] for k in range(1, min(RUN_MAX - 1, len(lead_in)) + 1)]
    for run in [*runs, *([[t, after]] if after is not None else [])]:
        whole, cuts = joined(run)
        if any(h.rule_id == rule.id and _across(h, cuts) for _, h in matcher.forbidden(whole)[0]):
            return []
    if rule.id in _going_on(matcher, t, lead_in):
        return []
    return [forbidden_incident(rules, rule, hit, t, recorded_at)]


def _alone(matcher: PhraseMatcher, part: Sequence[Transcript], before: Transcript | None
           ) -> set[str]:
    """The forbidden phrases `part` of a run (the utterance `before` it) was flagged for as it
    came: by itself, or by a shorter run."""
    found = {r.id for r, _ in matcher.forbidden(joined(part)[0])[0]}
    return found - _run_on(matcher, before, part[0]) if len(part) == 1 else found


_TRAILING_PUNCT = "，,。.！!？?；;：:、 "  # what a half may end or begin with besides words


def joined(run: Sequence[Transcript]) -> tuple[Transcript, list[int]]:
    """Consecutive utterances of one speaker as one text with a clause break between each two,
    and the index of each break in the joined text."""
    whole, cuts = run[0], []
    for second in run[1:]:
        head = list(whole.words)
        while head and not head[-1].text.rstrip(_TRAILING_PUNCT):
            head.pop()  # a word that is only punctuation: the break replaces it
        if head:
            head[-1] = replace(head[-1], text=head[-1].text.rstrip(_TRAILING_PUNCT))
        cuts.append(sum(len(w.text) for w in head))
        tail = list(second.words)
        while tail and not tail[0].text.lstrip(_TRAILING_PUNCT):
            tail.pop(0)
        if tail:
            tail[0] = replace(tail[0], text=tail[0].text.lstrip(_TRAILING_PUNCT))
        words = (*head, Word("，", whole.end_s, second.start_s, 1.0), *tail)
        whole = replace(whole, end_s=second.end_s, words=words,
                        dropped=whole.dropped + second.dropped,
                        voice=whole.voice if whole.voice == second.voice else "")
    return whole, cuts


# At most this many utterances are joined: a phrase with a pause inside and one clause put
# in between (说了几遍了，（停顿）签名加盖章，（停顿）怎么还不会).
RUN_MAX = 3


def previous(t: Transcript, heard: Iterable[Transcript], max_pause_s: float) -> Transcript | None:
    """The utterance of the same speaker just before `t`, if it ended at most `max_pause_s`
    before `t` began (a phrase may run on across that pause)."""
    before = [p for p in heard if p.channel == t.channel and p.window_id == t.window_id
              and p.source == t.source and p.end_s <= t.start_s]
    if not before:
        return None
    last = max(before, key=lambda p: p.end_s)
    return last if t.start_s - last.end_s <= max_pause_s and _same_voice(last, t) else None


def following(t: Transcript, heard: Iterable[Transcript], max_pause_s: float
              ) -> Transcript | None:
    """The utterance of the same speaker just after `t`, if it began at most `max_pause_s`
    after `t` ended (`previous` the other way)."""
    after = [n for n in heard if n.channel == t.channel and n.window_id == t.window_id
             and n.source == t.source and n.start_s >= t.end_s]
    if not after:
        return None
    first = min(after, key=lambda n: n.start_s)
    return first if first.start_s - t.end_s <= max_pause_s and _same_voice(t, first) else None


# A turn is at most this many utterances before the one judged: a phrase said again after
# more is said anew (and live, which keeps the last 64, judges as batch does).
TURN_MAX = 8


def leading(t: Transcript, heard: Iterable[Transcript], max_pause_s: float) -> list[Transcript]:
    """The utterances of the same speaker before `t`, each at most `max_pause_s` before the
    next, at most TURN_MAX: the turn that `t` goes on with. A phrase said in it is still going
    on in `t` (a clerk who scolds over five short sentences has said 说几遍了 once, not five
    times)."""
    heard = list(heard)
    chain: list[Transcript] = []
    before = previous(t, heard, max_pause_s)
    while before is not None and len(chain) < TURN_MAX:
        chain.insert(0, before)
        before = previous(before, heard, max_pause_s)
    return chain


Run = tuple[list[Transcript], list[Transcript]]  # utterances, and the turn they go on with


def runs_ending(t: Transcript, heard: Iterable[Transcript], max_pause_s: float) -> list[Run]:
    """The runs of two to RUN_MAX utterances that end with `t`, each a short pause after the
    one before it, each with the turn it goes on with (`leading` its first utterance)."""
    chain = leading(t, heard, max_pause_s)
    return [([*chain[len(chain) - k:], t], chain[:len(chain) - k])
            for k in range(1, min(RUN_MAX - 1, len(chain)) + 1)]


def _same_voice(a: Transcript, b: Transcript) -> bool:
    """Whether two utterances on one microphone may be one speaker's: the same speaker, or, on
    one microphone for both sides, one of them not attributed (the halves of a phrase are one
    voice even where the evidence settled only one half)."""
    return a.speaker == b.speaker or {a.speaker, b.speaker} == {Speaker.STAFF, Speaker.UNKNOWN}


def _across(h: PhraseHit, cuts: list[int]) -> bool:
    """Whether a hit in a joined text runs from its first utterance into its last."""
    return h.char_start < cuts[0] and h.char_end > cuts[-1] + 1


def judge_pause(rules: RuleSet, matcher: PhraseMatcher, run: Sequence[Transcript],
                recorded_at: datetime | None = None, lead_in: Sequence[Transcript] = ()
                ) -> Judged:
    """The phrases said across the pauses between consecutive utterances of one speaker: those
    of the joined text that run from its first utterance into its last and that no shorter run
    of them holds (those were judged as they came). 有指示牌，（停顿）自己看 is cut in two by the
    segmenter. A phrase that ran from the utterance just before the run into the run's first
    was that run's: 有指示牌，（停顿）自己看，（停顿）墙上贴着 is one F1-3, not a second in 自己看，
    墙上贴着. One that the turn before the run (`lead_in`) said is going on, as for one
    utterance (`judge_transcript`)."""
    whole, cuts = joined(run)
    if len({t.speaker for t in run}) > 1:  # one part's speaker was not settled: nor is the whole's
        unsure = next(t for t in run if t.speaker == Speaker.UNKNOWN)
        whole = replace(whole, speaker=Speaker.UNKNOWN, speaker_note=unsure.speaker_note)

    parts = [(run[i:j], run[i - 1] if i else (lead_in[-1] if lead_in else None))
             for i in range(len(run)) for j in range(i + 1, len(run) + 1) if j - i < len(run)]
    alone = {rule_id for part, before in parts for rule_id in _alone(matcher, part, before)}
    shorter = [joined(part)[0] for part, _ in parts]
    if lead_in:
        ran_on, ran_on_cuts = joined([lead_in[-1], run[0]])
        alone |= {h.rule_id for _, h in matcher.forbidden(ran_on)[0] if _across(h, ran_on_cuts)}
        alone |= _going_on(matcher, whole, lead_in)
    found, excluded = matcher.forbidden(whole)
    incidents = [forbidden_incident(rules, rule, hit, whole, recorded_at) for rule, hit in found
                 if _across(hit, cuts) and rule.id not in alone]
    said_alone = {r.id for part in shorter for r, _ in matcher.required(part)}
    required = [(whole, rule, hit) for rule, hit in matcher.required(whole)
                if _across(hit, cuts) and rule.id not in said_alone]
    return incidents, required, [e for e in excluded if _across(e.hit, cuts)]


def judge_session(rules: RuleSet, session: Session, transcripts: Sequence[Transcript],
                  required: Sequence[tuple[Transcript, RequiredRule, PhraseHit]],
                  recorded_at: datetime | None = None, due: ExpectedAt | None = None,
                  unheard: Sequence[Unheard] = (), matcher: PhraseMatcher | None = None,
                  check: AcousticCheck | None = None) -> list[Incident]:
    """The session's missing greeting / farewell incidents (only those `due`, when given; none
    where the audio that decides them was lost: `unheard`). With `matcher` and `check`, a
    phrase the words miss is looked for in the audio of the staff's utterances where it was due
    before it is reported missing."""
    missing = missing_phrases(rules, session, transcripts, required, due, unheard)
    if matcher is not None and check is not None:
        missing = [m for m in missing if not any(
            matcher.heard_after_all(t, m.rule, check) for t in transcripts
            if t.words and staff_within(t, m.start_s, m.end_s))]
    return [missing_incident(session, m, recorded_at) for m in missing]


def not_judged(rules: RuleSet, session: Session, transcripts: Sequence[Transcript],
               required: Sequence[tuple[Transcript, RequiredRule, PhraseHit]],
               unheard: Sequence[Unheard], due: ExpectedAt | None = None) -> tuple[str, ...]:
    """The kinds of incident (missing_greeting, missing_farewell) that what was heard of
    `session` would give but that `judge_session` leaves unjudged, the audio that decides them
    being lost (`unheard`): reported with the recording, never as incidents (batch and live)."""
    return tuple(sorted({m.rule.missing.kind.value
                         for m in withheld(rules, session, transcripts, required, unheard, due)
                         if m.rule.missing is not None}))


def judge(rules: RuleSet, matcher: PhraseMatcher, transcripts: Sequence[Transcript],
          session: Session | None, recorded_at: datetime | None = None,
          check: AcousticCheck | None = None, unheard: Sequence[Unheard] = ()) -> Judged:
    """Incidents of one session from its transcripts (no I/O: the core of batch and live; the
    acoustic check of near misses, if any, is passed in). `unheard`: audio the recording lost;
    what was heard is judged all the same, but no greeting or farewell is found missing where
    the audio that would hold it is lost."""
    incidents: list[Incident] = []
    required: list[tuple[Transcript, RequiredRule, PhraseHit]] = []
    excluded: list[ExcludedHit] = []
    pause = rules.matching.join_pause_s
    for t in transcripts:
        turn = leading(t, transcripts, pause)
        found, said, skipped = judge_transcript(rules, matcher, t, recorded_at, check, turn)
        found += judge_held(rules, matcher, t, following(t, transcripts, pause), recorded_at, turn)
        for run, lead_in in runs_ending(t, transcripts, pause):
            more, said_more, skipped_more = judge_pause(rules, matcher, run, recorded_at, lead_in)
            found, said, skipped = found + more, said + said_more, skipped + skipped_more
        incidents += found
        required += said
        excluded += skipped
    if session:
        incidents += judge_session(rules, session, transcripts, required, recorded_at,
                                   unheard=unheard, matcher=matcher, check=check)
    incidents.sort(key=lambda i: (i.offset_s, i.rule_id))
    return incidents, required, excluded

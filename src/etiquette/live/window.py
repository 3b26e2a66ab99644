"""One window, live: its audio cut into utterances, judged as their transcripts come back.

The same stages as a recording (`etiquette.pipeline`): the segmenter's per-channel step, the
judge of one transcript, the judge of a session's missing phrases. What is live is when they
run. A forbidden phrase is an incident as soon as its utterance is transcribed; a missing
greeting as soon as the session's greeting time is over; a missing farewell when the session
closes (quiet spell, 叫号, staff left, end of stream), with the checks beyond phrases
(`etiquette.core.checks`: turn-taking and the rest) over its turns. A session is judged only
once every utterance it needs has been transcribed, so a busy recogniser delays a verdict but
never changes it. Audio the source lost near a session (a replayed recording cut short or damaged)
leaves the greeting or farewell it would have decided unjudged, as in a recording, and says so.
Once judged whole, a session is given as its record (`etiquette.core.session_records`, as a
recording's), with the 叫号 ticket called before it began.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from etiquette.core.checks.base import SessionView, Turn
from etiquette.core.checks.rules import judge_checks
from etiquette.core.judging import (
    Run,
    following,
    judge_held,
    judge_pause,
    judge_session,
    judge_transcript,
    leading,
    not_judged,
    runs_ending,
)
from etiquette.core.matching import AcousticCheck
from etiquette.core.records import (
    SAMPLE_RATE,
    HeardAs,
    Incident,
    PhraseHit,
    Speaker,
    Transcript,
    Utterance,
    heard_as,
)
from etiquette.core.rules import ExpectedAt, RequiredRule
from etiquette.core.session_records import SessionRecord, session_record
from etiquette.core.sessions import Session, SessionTracker, Unheard
from etiquette.live.recognition import SharedRecogniser
from etiquette.pipeline import (
    SpeechPipeline,
    attributed,
)
from etiquette.speech.audio import DecodedAudio
from etiquette.speech.clips import attach_clips
from etiquette.speech.segmenter import StreamSegmenter, Vad
from etiquette.speech.speakers import SpeakerAttributor
from etiquette.speech.turns import turn_of, words_wanted

logger = logging.getLogger("etiquette.live.window")

_RECENT_S = 120.0  # how late a transcript may come back and still be paired across a pause
_RECENT_KEPT = 64  # at most so many of them
_ONE_MIC_KEPT = 60  # utterances of a one-microphone window kept to tell its two voices apart


def _start_s(heard: HeardAs) -> float:
    return heard[3]


# An incident, and for a spoken phrase the UTC time its utterance ended (latency runs from it).
Emit = Callable[[Incident, datetime | None], None]
# The audio a window's source lost between two stream seconds (`FileReplay.unheard`).
Losses = Callable[[float, float], Sequence[Unheard]]


@dataclass(frozen=True)
class Undecided:
    """What a session was not judged on: the kinds of incident (missing_greeting,
    missing_farewell) that what was heard would give, left unjudged because the audio that
    decides them was lost (`unheard`, in stream seconds of `source`)."""

    window_id: str
    source: str
    session: Session
    not_judged: tuple[str, ...]
    unheard: tuple[Unheard, ...]


class AudioHistory:
    """The last `seconds` of a window's audio (16-bit), for the clips of its incidents."""

    def __init__(self, seconds: float, channels: int) -> None:
        self.capacity = int(seconds * SAMPLE_RATE)
        self.channels = channels
        self._blocks: deque[np.ndarray] = deque()
        self._held = 0
        self.start = 0  # stream sample index of the first sample held

    def append(self, block: np.ndarray) -> None:
        self._blocks.append((np.clip(block, -1.0, 1.0) * 32767).astype(np.int16))
        self._held += len(block)
        while self._blocks and self._held - len(self._blocks[0]) >= self.capacity:
            self._held -= len(self._blocks[0])
            self.start += len(self._blocks.popleft())

    def audio(self) -> tuple[DecodedAudio, float]:
        """What is held, as decoded audio, and the stream second it begins at."""
        if not self._blocks:
            return DecodedAudio(tuple(np.zeros(0, np.float32) for _ in range(self.channels)),
                                self.channels), self.start / SAMPLE_RATE
        data = np.concatenate(self._blocks).astype(np.float32) / 32767.0
        return (DecodedAudio(tuple(data[:, c] for c in range(self.channels)), self.channels),
                self.start / SAMPLE_RATE)


@dataclass
class WindowStats:
    utterances: dict[str, int] = field(default_factory=dict)  # by speaker
    incidents: dict[str, int] = field(default_factory=dict)  # by kind
    outstanding: int = 0  # utterances waiting for their transcript
    transcription_lag_s: float = 0.0  # end of the last utterance → its transcript
    sessions: int = 0
    session_open: bool = False


@dataclass
class _Open:
    """A session being judged: the one in progress, or a closed one awaiting transcripts."""

    session: Session
    closed: bool = False
    greeting_judged: bool = False
    ticket: str | None = None  # the 叫号 number called before it began
    not_judged: set[str] = field(default_factory=set)  # kinds the lost audio left undecided


class WindowMonitor:
    """Everything live about one window but its inputs: fed audio blocks (staff channel first,
    then citizen) and, from other threads, transcripts, 叫号 and presence changes.

    `unheard`: where the source lost audio (None: nowhere known); `on_undecided` is told of
    each session verdict that loss leaves unjudged; `on_session` gets each session's record
    once it is judged whole; `vad` computes its speech probabilities (a `SharedSilero`: with
    the other windows' in one call)."""

    def __init__(self, window_id: str, channels: int, started: datetime, speech: SpeechPipeline,
                 recogniser: SharedRecogniser, emit: Emit, evidence_dir: Path | None,
                 unheard: Losses | None = None,
                 on_undecided: Callable[[Undecided], None] | None = None,
                 on_session: Callable[[SessionRecord], None] | None = None,
                 vad: Vad | None = None) -> None:
        self.window_id = window_id
        self.unheard, self.on_undecided, self.on_session = unheard, on_undecided, on_session
        self.started = started
        self.source = f"live/{window_id}/{started.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        self.speech, self.recogniser, self.emit = speech, recogniser, emit
        self.evidence_dir = evidence_dir
        rules = speech.rules
        self.segmenter = StreamSegmenter(self.source, window_id, channels, speech.options.segmenter,
                                         vad)
        self.tracker = SessionTracker(self.source, window_id, rules)
        keep = rules.session.end_after_silence_s + max(rules.session.farewell_within_s, 30.0)
        self.history = AudioHistory(keep, channels)
        self.stats = WindowStats()
        self._lock = threading.RLock()
        # Given to the recogniser, not back yet: where and when heard, by whom. Not the
        # utterance itself: its audio may wait on the spool disk, and comes back in a copy.
        self._outstanding: dict[HeardAs, Speaker] = {}
        self._heard: list[Transcript] = []
        # The acoustic check that came with each transcript (its recognition batch's audio), so
        # that a greeting or farewell the words miss can still be looked for in the audio.
        self._checks: dict[HeardAs, AcousticCheck] = {}
        self._recent: list[Transcript] = []  # the last minutes' transcripts, for pauses
        # Utterances ending with one part of a phrase the model heard in them: judged once the
        # speaker's next utterance is transcribed, or none can follow within the pause.
        self._ending_in_part: list[Transcript] = []
        # One microphone for both sides: the session's utterances so far tell staff from citizen.
        # (an utterance's features and those of the phrases inside it)
        self._attributor = SpeakerAttributor(cache_size=4 * _ONE_MIC_KEPT)
        self._one_mic: list[tuple[Utterance, Transcript]] = []
        self._said: list[tuple[Transcript, RequiredRule, PhraseHit]] = []
        self._sessions: list[_Open] = []
        # Every utterance of the open sessions as a turn (times and words, no audio), for the
        # checks judged at a session's end; a session's go once it is judged.
        self._turns: dict[tuple[str, str, int, float, float], Turn] = {}
        # Citizen utterances a check may need the words of (no answer yet): their audio is
        # held until an answer comes (let go) or is overdue (transcribed).
        self._held: dict[tuple[str, str, int, float, float], Utterance] = {}
        self._emitted: list[Incident] = []  # the open sessions' incidents, for their records
        self._ticket: str | None = None  # called by 叫号 for the session to open next

    @property
    def now_s(self) -> float:
        """Stream seconds so far."""
        return self.segmenter.samples / SAMPLE_RATE

    def wall(self, stream_s: float) -> datetime:
        return self.started + timedelta(seconds=stream_s)

    # ---------------------------------------------------------------- window thread

    def feed(self, block: np.ndarray) -> None:
        """The next audio block of this window (frames × channels, float32, 16 kHz)."""
        with self._lock:
            self.history.append(block)
            for u in self.segmenter.feed(block):
                self._utterance(u)
            self._tick()

    def finish(self, ended: bool) -> None:
        """No more audio: its last speech is cut and judged. If the stream `ended` (a replay
        that is over) its session closes too; if the site is only shutting down, the session
        is left unjudged, since the citizen may still be at the window and a farewell not yet
        said is no missing farewell."""
        with self._lock:
            for u in self.segmenter.flush():
                self._utterance(u)
            if ended:
                self._closed(self.tracker.close())
            else:
                self._sessions = [o for o in self._sessions if o.closed]
            self._tick()

    def _utterance(self, u: Utterance) -> None:
        key = u.speaker.value
        self.stats.utterances[key] = self.stats.utterances.get(key, 0) + 1
        self._closed(self.tracker.speech(u))
        self._sync_open()
        self._turns[heard_as(u)] = turn_of(u)
        if u.speaker in self.speech.rules.judged_speakers:
            self._submit(u)
        elif u.speaker == Speaker.CITIZEN and (self.speech.checks.reads_citizen or (
                (check := self.speech.checks.unanswered_question) and check.enabled)):
            self._held[heard_as(u)] = u

    def _submit(self, u: Utterance) -> None:
        self._outstanding[heard_as(u)] = u.speaker
        self.stats.outstanding = len(self._outstanding)
        self.recogniser.submit(u, self._transcribed, self._verdict_awaits(u))

    def _verdict_awaits(self, u: Utterance) -> bool:
        """Whether a verdict waits for `u` (the recogniser takes such utterances first): it is
        in the greeting time of a session whose greeting is not judged yet, or within a closed
        session (as `_closed` hurries). A citizen's words a check sends later wait the same."""
        within = self.speech.rules.session.greeting_within_s
        return any((not o.greeting_judged and o.session.start_s <= u.start_s
                    < o.session.start_s + within) or (o.closed and u.start_s <= o.session.end_s)
                   for o in self._sessions)

    def _decide(self) -> None:
        """The held citizen utterances whose answer is overdue are transcribed (a check needs
        their words, as a recording's are: etiquette.speech.turns); those answered let go."""
        if not self._held:
            return
        turns = sorted(self._turns.values(), key=lambda t: t.start_s)
        wanted = {(t.channel, t.start_s, t.end_s)
                  for t in words_wanted(self.speech.checks, turns, self.now_s)}
        check = self.speech.checks.unanswered_question
        settled = {(t.channel, t.start_s, t.end_s)
                   for c in (check.citizen_turns(turns) if check is not None else ())
                   if c.answered_s is not None or c.due_s < self.now_s for t in c.turns}
        for key, u in list(self._held.items()):
            where = (u.channel, u.start_s, u.end_s)
            if where in wanted:
                self._submit(u)
            if where in wanted or where in settled or check is None:
                del self._held[key]

    def _tick(self) -> None:
        self._closed(self.tracker.tick(self.now_s))
        self._judge_ready()

    # ---------------------------------------------------------------- other threads

    def call_next(self, ticket: str | None = None) -> None:
        """叫号: the next number (`ticket`, where told) was called here, so the session in
        progress has ended; the next to open is that ticket's."""
        with self._lock:
            self._ticket = ticket
            self.staff_left()

    def staff_left(self) -> None:
        """The staff member left the seat (or 叫号): the session in progress has ended."""
        with self._lock:
            self._closed(self.tracker.close())
            self._judge_ready()

    def _transcribed(self, u: Utterance, t: Transcript, check: AcousticCheck | None) -> None:
        """From the recogniser's worker: judge the utterance at once, then any session it
        completes."""
        with self._lock:
            self._outstanding.pop(heard_as(u), None)
            self.stats.transcription_lag_s = max(0.0, self.now_s - u.end_s)
            if t.speaker == Speaker.UNKNOWN:
                t = self._attribute(u, t)
            turn = self._turns.get(heard_as(u))
            if turn is not None:  # its loudness was measured when it was cut: not again
                self._turns[heard_as(u)] = turn.model_copy(update={"speaker": t.speaker,
                                                                   "transcript": t})
            rules, matcher = self.speech.rules, self.speech.matcher
            if u.speaker not in rules.judged_speakers:  # a citizen's words, for the checks
                self._judge_ready()
                self.stats.outstanding = len(self._outstanding)
                return
            lead_in = leading(t, self._recent, rules.matching.join_pause_s)
            found, said, _ = judge_transcript(rules, matcher, t, self.started, check, lead_in)
            self._heard.append(t)
            if check is not None:
                self._checks[heard_as(t)] = check
            self._said += said
            self._emit(found, self.wall(u.end_s))
            # A phrase with a pause inside is judged when its second half is transcribed,
            # whichever of the two halves the recogniser returns last.
            for run, lead_in in self._pauses_around(t):
                found, said, _ = judge_pause(rules, matcher, run, self.started, lead_in)
                self._said += said
                self._emit(found, self.wall(run[-1].end_s))
            recent = [r for r in self._recent if r.end_s >= self.now_s - _RECENT_S]
            self._recent = recent[1 - _RECENT_KEPT:]
            self._recent.append(t)
            if matcher.held(t) is not None:
                self._ending_in_part.append(t)
            self._judge_ready()
            # Counted down last: whoever reads no outstanding work sees its incidents emitted.
            self.stats.outstanding = len(self._outstanding)

    def _attribute(self, u: Utterance, t: Transcript) -> Transcript:
        """Staff or citizen, on a window with one microphone, from its session so far (as a
        recording is attributed whole: etiquette.pipeline.attributed)."""
        start = next((o.session.start_s for o in self._sessions
                      if o.session.start_s <= u.start_s <= o.session.end_s), u.start_s)
        self._one_mic = [(v, h) for v, h in self._one_mic
                         if v.end_s >= self.now_s - _RECENT_S * 5][-_ONE_MIC_KEPT:]
        self._one_mic.append((u, t))
        session = [(v, h) for v, h in self._one_mic if v.start_s >= start]
        told = attributed(self._attributor, [v for v, _ in session], [h for _, h in session])
        # The session's voices are told anew as it grows (A and B may trade names): the turn
        # this utterance goes on with is compared with it in the latest telling.
        voices = {(h.channel, h.start_s): h.voice for h in told}
        self._recent = [r if r.voice == (v := voices.get((r.channel, r.start_s), ""))
                        else replace(r, voice=v) for r in self._recent]
        return told[-1]

    def _pauses_around(self, t: Transcript) -> list[Run]:
        """The runs of utterances of the same speaker, short pauses apart, that hold `t` and
        whose other utterances are already transcribed (each run is judged once: when its last
        utterance to be transcribed comes)."""
        pause = self.speech.rules.matching.join_pause_s
        heard = [*self._recent, t]
        return [(run, lead_in) for n in heard for run, lead_in in runs_ending(n, heard, pause)
                if any(r is t for r in run)]

    # ---------------------------------------------------------------- sessions

    def _sync_open(self) -> None:
        """Mirror the tracker's current session (it grows as people speak)."""
        current = self.tracker.current
        if current is None:
            return
        if self._sessions and not self._sessions[-1].closed:
            self._sessions[-1].session = current
        else:
            self._sessions.append(_Open(current, ticket=self._ticket))
            self._ticket = None
            self.stats.sessions += 1
        self.stats.session_open = True

    def _closed(self, sessions: list[Session]) -> None:
        for s in sessions:
            for o in self._sessions:
                if not o.closed and o.session.start_s == s.start_s:
                    o.session, o.closed = s, True
            # Its verdict waits for them now: the recogniser takes them before the rest.
            self.recogniser.hurry([k for k in self._outstanding if _start_s(k) <= s.end_s])
        self.stats.session_open = self.tracker.current is not None

    def _waiting_before(self, t_s: float) -> bool:
        return any(_start_s(k) < t_s for k in self._outstanding)

    def _judge_ready(self) -> None:
        self._decide()
        self._judge_held()
        rules = self.speech.rules
        for o in list(self._sessions):
            s = o.session
            if not o.greeting_judged:
                due = s.start_s + rules.session.greeting_within_s
                if (o.closed or self.now_s >= due) and not self._waiting_before(min(due, s.end_s)):
                    self._judge(o, ExpectedAt.SESSION_START)
                    o.greeting_judged = True
            if o.closed and o.greeting_judged and not self._waiting_before(s.end_s + 1e-6):
                self._judge(o, ExpectedAt.SESSION_END)
                self._sessions.remove(o)
        self._forget()

    def _judge_held(self) -> None:
        """The phrases the model heard in an utterance ending with one part of them, once the
        speaker's next utterance is transcribed (`judge_pause` reports a phrase run on over
        both halves) or once no utterance can follow within the pause (all the audio before
        its end is cut and transcribed): as batch judges them (`judge_held`)."""
        rules, matcher = self.speech.rules, self.speech.matcher
        pause = rules.matching.join_pause_s
        for t in list(self._ending_in_part):
            after = following(t, self._recent, pause)
            until = t.end_s + pause
            if after is None and (self.segmenter.cut_until_s(t.channel) < until
                                  or self._waiting_before(until)):
                continue
            self._ending_in_part.remove(t)
            found = judge_held(rules, matcher, t, after, self.started,
                               leading(t, self._recent, pause))
            self._emit(found, self.wall(until if after is None else after.end_s))

    def _judge(self, o: _Open, due: ExpectedAt) -> None:
        s = o.session
        rules = self.speech.rules
        mine = [t for t in self._heard if s.start_s <= t.start_s <= s.end_s]
        said = [h for h in self._said if s.start_s <= h[0].start_s <= s.end_s]
        lost = tuple(self.unheard(*self.tracker.reach(s))) if self.unheard is not None else ()
        self._emit(judge_session(rules, s, mine, said, self.started, due, lost,
                                 self.speech.matcher, self._check))
        if due == ExpectedAt.SESSION_END:
            self._emit(judge_checks(self.speech.checks, self._view(s, lost)))
        undecided = not_judged(rules, s, mine, said, lost, due)
        o.not_judged.update(undecided)
        if undecided and self.on_undecided is not None:
            self.on_undecided(Undecided(self.window_id, self.source, s, undecided, lost))
        if due == ExpectedAt.SESSION_END and self.on_session is not None:
            # Within its first and last speech, as incidents round their offsets.
            found = [i for i in self._emitted
                     if round(s.start_s, 2) <= i.offset_s <= round(s.end_s, 2)]
            self.on_session(session_record(self._view(s, lost), rules, self.speech.checks, found,
                                           o.not_judged, o.ticket))

    def _view(self, s: Session, lost: tuple[Unheard, ...]) -> SessionView:
        """The session's turns as the checks see them, and the audio lost near it."""
        turns = sorted((t for t in self._turns.values() if s.start_s <= t.start_s <= s.end_s),
                       key=lambda t: (t.start_s, t.channel))
        return SessionView(session=s, turns=tuple(turns), recorded_at=self.started,
                           own_microphones=len(self.segmenter.roles) == 2, unheard=lost)

    def _check(self, t: Transcript, hit: PhraseHit) -> float | None:
        check = self._checks.get(heard_as(t))
        return check(t, hit) if check is not None else None

    def _forget(self) -> None:
        """Transcripts no verdict still needs are let go, so memory stays flat however long a
        session runs: a session needs only its first `greeting_within_s` (until the greeting is
        judged) and its last `farewell_within_s` (forbidden phrases are judged as they come)."""
        rules = self.speech.rules.session

        def needed(t: Transcript) -> bool:
            return any(t.start_s >= o.session.start_s and (
                (not o.greeting_judged and t.start_s < o.session.start_s + rules.greeting_within_s)
                or t.end_s >= o.session.end_s - rules.farewell_within_s)
                for o in self._sessions)

        self._heard = [t for t in self._heard if needed(t)]
        kept = {heard_as(t) for t in self._heard}
        self._checks = {k: c for k, c in self._checks.items() if k in kept}
        self._said = [h for h in self._said if needed(h[0])]
        # Turns and held audio of sessions not yet judged (and of speech yet to open one).
        first = min((o.session.start_s for o in self._sessions), default=self.now_s)
        self._turns = {k: t for k, t in self._turns.items() if t.start_s >= first}
        self._held = {k: u for k, u in self._held.items() if u.start_s >= first}
        self._emitted = [i for i in self._emitted if i.offset_s >= first]

    # ---------------------------------------------------------------- incidents

    def _emit(self, incidents: list[Incident], spoken: datetime | None = None) -> None:
        if not incidents:
            return
        if self.evidence_dir is not None:
            audio, offset = self.history.audio()
            try:
                incidents = attach_clips(incidents, audio, self.evidence_dir, offset_s=offset)
            except OSError as e:  # a full disk: the incidents without their clips, not lost
                logger.error("%s: clips of %d incidents not written to %s (%s); they are sent "
                             "without them", self.window_id, len(incidents), self.evidence_dir, e)
        self._emitted += incidents
        for i in incidents:
            self.stats.incidents[i.kind.value] = self.stats.incidents.get(i.kind.value, 0) + 1
            logger.info("%s: %s %s at %.1f s: %s", self.window_id, i.kind.value, i.rule_id,
                        i.offset_s, i.phrase)
            self.emit(i, spoken)


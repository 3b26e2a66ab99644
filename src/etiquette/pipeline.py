"""The speech path, wired: audio → utterances → transcripts → rule hits → incidents.

Batch and live share these steps; only the source of utterances and the sink differ.
`RecordingPipeline` adds the presence path (`etiquette.core.presence`) for video files.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from etiquette.core.checks.base import SessionView
from etiquette.core.checks.rules import judge_checks, load_check_rules
from etiquette.core.damage import Damage
from etiquette.core.judging import judge, not_judged
from etiquette.core.matching import AcousticCheck, ExcludedHit, PhraseMatcher
from etiquette.core.records import (
    Incident,
    PhraseHit,
    Speaker,
    Transcript,
    Utterance,
    heard_as,
)
from etiquette.core.rules import RequiredRule, load_rules
from etiquette.core.session_records import SessionRecord, session_record
from etiquette.core.sessions import session_of
from etiquette.speech.acoustic_check import AcousticVerifier
from etiquette.speech.audio import VIDEO_SUFFIXES, DecodedAudio, read_audio
from etiquette.speech.clips import attach_clips
from etiquette.speech.recogniser import Recogniser, RecogniserOptions
from etiquette.speech.segmenter import SegmenterOptions, segment
from etiquette.speech.speakers import SpeakerAttributor
from etiquette.speech.text_guard import Guard
from etiquette.speech.turns import session_turns, wanted_utterances

# How a recogniser is made from its options, guard and the rules' phrases (its prompt's).
MakeRecogniser = Callable[[RecogniserOptions, Guard, list[str]], Recogniser]

if TYPE_CHECKING:
    from etiquette.vision.watcher import PresenceAnalysis, PresenceOptions, PresencePipeline

logger = logging.getLogger("etiquette.pipeline")


@dataclass(frozen=True)
class PipelineOptions:
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    recogniser: RecogniserOptions = field(default_factory=RecogniserOptions)
    rules_path: Path | None = None
    checks_path: Path | None = None  # rules/checks.yaml: the checks beyond phrases (issue 19)
    guard_path: Path | None = None
    clip_dir: Path | None = None  # where to write each speech incident's audio clip; None: none


@dataclass(frozen=True)
class Analysis:
    """Everything the speech path found in one recording, and why."""

    source: str
    window_id: str
    duration_s: float
    transcripts: tuple[Transcript, ...]
    incidents: tuple[Incident, ...]
    required_said: tuple[tuple[Transcript, RequiredRule, PhraseHit], ...]
    excluded: tuple[ExcludedHit, ...]
    presence: PresenceAnalysis | None = None  # a video's presence path (its off_post incidents
    # are also in `incidents`)
    damage: Damage | None = None  # audio the file lost (None: complete, as far as known); what
    # was read is analysed all the same
    not_judged: tuple[str, ...] = ()  # incident kinds not judged for want of the lost audio
    # (missing_greeting, missing_farewell)
    video_damage: Damage | None = None  # pictures a video lost: no off-post is judged in them
    session: SessionRecord | None = None  # the recording's service session (None: no speech)

    @property
    def damages(self) -> tuple[Damage, ...]:
        """What the file lost, audio first (empty: complete, as far as known)."""
        return tuple(d for d in (self.damage, self.video_damage) if d is not None)

    @property
    def complete(self) -> bool:
        return not self.damages


def attributed(attributor: SpeakerAttributor, utterances: Sequence[Utterance],
               transcripts: Sequence[Transcript]) -> list[Transcript]:
    """One session's transcripts with staff or citizen decided where no microphone says who
    spoke (one microphone for both), and why; the others as they are. `transcripts[i]` is
    `utterances[i]`'s."""
    mono = [k for k, t in enumerate(transcripts) if t.speaker == Speaker.UNKNOWN]
    if not mono:
        return list(transcripts)
    decided = attributor.attribute([utterances[k] for k in mono], [transcripts[k] for k in mono])
    out = list(transcripts)
    for k, a in zip(mono, decided, strict=True):
        out[k] = replace(out[k], speaker=a.speaker, speaker_note=a.reason, voice=a.voice)
    return out


def recording_start(path: Path, duration_s: float) -> datetime:
    """When a recording began: its modification time (when it was closed) less its length."""
    return datetime.fromtimestamp(path.stat().st_mtime - duration_s, tz=UTC)


class SpeechPipeline:
    """Rules, matcher and one recogniser, loaded once and used for every recording."""

    def __init__(self, options: PipelineOptions | None = None,
                 recogniser: Recogniser | None = None,
                 make_recogniser: MakeRecogniser = Recogniser) -> None:
        """`recogniser`: one already loaded; else one `make_recogniser` makes (a shared pool's
        client: `live.engine.build_site`)."""
        self.options = options or PipelineOptions()
        self.rules = load_rules(self.options.rules_path)
        self.matcher = PhraseMatcher(self.rules)
        self.checks = load_check_rules(self.options.checks_path)
        self.recogniser = recogniser or make_recogniser(
            self.options.recogniser, Guard.load(self.options.guard_path),
            [p for r in (*self.rules.forbidden, *self.rules.required) for p in r.phrases])
        self.verifier = AcousticVerifier(self.recogniser.model)

    def recognise(self, utterances: Sequence[Utterance]) -> tuple[list[Transcript], AcousticCheck]:
        """Transcripts of `utterances`, and the acoustic check of their near misses against the
        audio of the utterance each was heard in (batch and live alike). The check encodes an
        utterance only when one of its near misses is asked about, once for all its rules."""
        transcripts = self.recogniser.transcribe(utterances)
        audio_of = {heard_as(t): u.audio for u, t in zip(utterances, transcripts, strict=True)}
        return transcripts, self.verifier.check(lambda t: audio_of.get(heard_as(t)))

    def analyse(self, path: str | Path, window_id: str | None = None,
                recorded_at: datetime | None = None) -> Analysis:
        """Run the speech path over one recording.

        Raises:
          AudioError: the file cannot be read as audio.
        """
        path = Path(path)
        audio = read_audio(path)
        if recorded_at is None:
            recorded_at = recording_start(path, audio.duration_s)
        return self.analyse_audio(audio, str(path), window_id or path.stem, recorded_at)

    def analyse_audio(self, audio: DecodedAudio, source: str, window_id: str,
                      recorded_at: datetime | None) -> Analysis:
        """The speech path over audio already decoded (a video's track, read in one pass)."""
        utterances = segment(audio, source, window_id, self.options.segmenter)
        # Speech no rule applies to (the citizen side) marks the session but is not transcribed.
        judged = [u for u in utterances if u.speaker in self.rules.judged_speakers]
        # The citizen speech a check needs the words of, in the same recogniser call.
        wanted = wanted_utterances(self.checks, utterances, judged)
        heard, check = self.recognise([*judged, *wanted])
        transcripts = attributed(SpeakerAttributor(), judged, heard[:len(judged)])
        logger.debug("%s: %d utterances, %d transcribed (%d for the checks), %.1f s", source,
                     len(utterances), len(judged) + len(wanted), len(wanted), audio.duration_s)
        session = session_of(utterances)
        incidents, required, excluded = judge(self.rules, self.matcher, transcripts, session,
                                              recorded_at, check, audio.unheard)
        transcripts += heard[len(judged):]
        if session is not None:
            view = SessionView(session=session, turns=session_turns(utterances, transcripts),
                               recorded_at=recorded_at,
                               own_microphones=all(u.speaker != Speaker.UNKNOWN
                                                   for u in utterances),
                               unheard=audio.unheard)
            incidents = sorted((*incidents, *judge_checks(self.checks, view)),
                               key=lambda i: (i.offset_s, i.rule_id))
        # What the lost audio leaves undecided: reported with the file, never as incidents.
        undecided = (not_judged(self.rules, session, transcripts, required, audio.unheard)
                     if session else ())
        if audio.damage is not None:
            logger.info("%s: incomplete (%s); not judged: %s", source, audio.damage.summary(),
                        ", ".join(undecided) or "nothing")
        if self.options.clip_dir is not None:
            incidents = attach_clips(incidents, audio, self.options.clip_dir,
                                     self.options.segmenter.staff_channel,
                                     self.options.segmenter.citizen_channel)
        transcripts.sort(key=lambda t: (t.start_s, t.channel))
        record = (session_record(view, self.rules, self.checks, incidents, undecided)
                  if session is not None else None)
        return Analysis(source, window_id, audio.duration_s, tuple(transcripts), tuple(incidents),
                        tuple(required), tuple(excluded), damage=audio.damage,
                        not_judged=undecided, session=record)


class RecordingPipeline:
    """Both senses over recorded files: speech for audio files; speech and presence for video.

    A video is read in one pass (`presence.container.read_media`): its audio track is decoded
    for the speech path while its pictures are sampled for the presence path, so the file is
    opened and demuxed once. The detector loads on the first video, once, for all threads.
    """

    def __init__(self, speech: SpeechPipeline, presence: PresenceOptions | None = None) -> None:
        self.speech = speech
        self.presence_options = presence
        self._presence: PresencePipeline | None = None
        self._lock = threading.Lock()

    @property
    def presence(self) -> PresencePipeline:
        with self._lock:
            if self._presence is None:
                from etiquette.vision.watcher import PresencePipeline

                self._presence = PresencePipeline(self.presence_options)
            return self._presence

    def analyse(self, path: str | Path, window_id: str | None = None,
                recorded_at: datetime | None = None) -> Analysis:
        """Run every path that applies to one recording.

        A video cut short or damaged is analysed as far as it goes: its audio as the speech
        path takes a damaged audio file, its pictures up to each loss (`video_damage`).

        Raises:
          AudioError: an audio file cannot be read.
          VideoError: a video file is missing or unreadable, or nothing in it decodes.
        """
        path = Path(path)
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            return self.speech.analyse(path, window_id, recorded_at)
        from etiquette.vision.container import read_media

        source, window_id = str(path), window_id or path.stem
        presence = self.presence
        watcher = presence.watcher(source, window_id)
        media = read_media(path, presence.rules.tracking.sample_fps, watcher.feed,
                           on_loss=watcher.lost)
        duration = max(media.video_end_s, media.audio.duration_s if media.audio else 0.0)
        # A camera or NVR stamps when it started recording; the file time is only a guess.
        started = recorded_at or media.info.created_at or recording_start(path, duration)
        seen = (presence.conclude(watcher, media.video_end_s, started, media.video_damage)
                if media.info.has_video else None)
        if media.video_damage is not None:
            logger.info("%s: incomplete (%s); off-post not judged where pictures are lost",
                        source, media.video_damage.summary())
        if media.audio is not None:
            result = self.speech.analyse_audio(media.audio, source, window_id, started)
        else:
            result = Analysis(source, window_id, duration, (), (), (), (),
                              damage=media.audio_lost)
        incidents = sorted((*result.incidents, *(seen.incidents if seen else ())),
                           key=lambda i: (i.offset_s, i.rule_id))
        return replace(result, duration_s=duration, incidents=tuple(incidents), presence=seen,
                       video_damage=media.video_damage)

"""The speech path, wired: audio → utterances → transcripts → rule hits → incidents.

Batch and live share these steps; only the source of utterances and the sink differ.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from etiquette.audio import read_audio
from etiquette.incidents import forbidden_incident, missing_incident
from etiquette.matching import ExcludedHit, PhraseMatcher
from etiquette.records import Incident, PhraseHit, Transcript
from etiquette.rules import RequiredRule, RuleSet, load_rules
from etiquette.segment import SegmenterOptions, segment
from etiquette.sessions import Session, missing_phrases, session_of
from etiquette.text import Guard
from etiquette.transcribe import Recogniser, RecogniserOptions

logger = logging.getLogger("etiquette.pipeline")


@dataclass(frozen=True)
class PipelineOptions:
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    recogniser: RecogniserOptions = field(default_factory=RecogniserOptions)
    rules_path: Path | None = None
    guard_path: Path | None = None


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


def judge(rules: RuleSet, matcher: PhraseMatcher, transcripts: Sequence[Transcript],
          session: Session | None, recorded_at: datetime | None = None
          ) -> tuple[list[Incident], list[tuple[Transcript, RequiredRule, PhraseHit]], list[ExcludedHit]]:
    """Incidents of one session from its transcripts (no I/O: the core of batch and live)."""
    incidents: list[Incident] = []
    required: list[tuple[Transcript, RequiredRule, PhraseHit]] = []
    excluded: list[ExcludedHit] = []
    for t in transcripts:
        found, skipped = matcher.forbidden(t)
        incidents += [forbidden_incident(rules, rule, hit, t, recorded_at) for rule, hit in found]
        excluded += skipped
        required += [(t, rule, hit) for rule, hit in matcher.required(t)]
    if session:
        incidents += [missing_incident(session, m, recorded_at)
                      for m in missing_phrases(rules, session, transcripts, required)]
    incidents.sort(key=lambda i: (i.offset_s, i.rule_id))
    return incidents, required, excluded


def recording_start(path: Path, duration_s: float) -> datetime:
    """When a recording began, taken as its modification time (when it was closed) less its length."""
    return datetime.fromtimestamp(path.stat().st_mtime - duration_s, tz=timezone.utc)


class SpeechPipeline:
    """Rules, matcher and one recogniser, loaded once and used for every recording."""

    def __init__(self, options: PipelineOptions | None = None,
                 recogniser: Recogniser | None = None) -> None:
        self.options = options or PipelineOptions()
        self.rules = load_rules(self.options.rules_path)
        self.matcher = PhraseMatcher(self.rules)
        self.recogniser = recogniser or Recogniser(self.options.recogniser,
                                                   Guard.load(self.options.guard_path))

    def analyse(self, path: str | Path, window_id: str | None = None,
                recorded_at: datetime | None = None) -> Analysis:
        """Run the speech path over one recording.

        Raises:
          AudioError: the file cannot be read as audio.
        """
        path = Path(path)
        source = str(path)
        window_id = window_id or path.stem
        audio = read_audio(path)
        if recorded_at is None:
            recorded_at = recording_start(path, audio.duration_s)
        utterances = segment(audio, source, window_id, self.options.segmenter)
        # Speech no rule applies to (the citizen side) marks the session but is not transcribed.
        judged = [u for u in utterances if u.speaker in self.rules.judged_speakers]
        transcripts = self.recogniser.transcribe(judged)
        logger.debug("%s: %d utterances, %d transcribed, %.1f s", source, len(utterances),
                     len(judged), audio.duration_s)
        incidents, required, excluded = judge(self.rules, self.matcher, transcripts,
                                              session_of(utterances), recorded_at)
        return Analysis(source, window_id, audio.duration_s, tuple(transcripts), tuple(incidents),
                        tuple(required), tuple(excluded))

"""The records that cross stages: one name for one thing in code, JSON, database and UI."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
# Whisper's language code for Chinese, the language decoded in (base has no separate
# Cantonese "yue"; large-v3 has)
MANDARIN = "zh"


class Speaker(StrEnum):
    STAFF = "staff"
    CITIZEN = "citizen"
    UNKNOWN = "unknown"


class Severity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class IncidentKind(StrEnum):
    FORBIDDEN_PHRASE = "forbidden_phrase"
    MISSING_GREETING = "missing_greeting"
    MISSING_FAREWELL = "missing_farewell"
    OFF_POST = "off_post"
    # Beyond phrases (issue 19): turn-taking, voice and language checks, and the apology
    # Appendix B 二(六) asks for.
    UNANSWERED_QUESTION = "unanswered_question"
    INTERRUPTION = "interruption"
    FAST_SPEECH = "fast_speech"
    RAISED_VOICE = "raised_voice"
    NON_MANDARIN = "non_mandarin"
    MISSING_APOLOGY = "missing_apology"
    # Conduct at the counter seen by the camera (issue 21).
    ASLEEP_AT_POST = "asleep_at_post"
    GATHERING = "gathering"


@dataclass(frozen=True)
class Utterance:
    """One stretch of speech on one channel of one window."""

    source: str
    window_id: str
    speaker: Speaker
    channel: int
    start_s: float
    end_s: float
    audio: np.ndarray = field(repr=False, compare=False)  # float32 mono at SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class HeardBy(StrEnum):
    """How the speaker of an utterance is known."""

    MICROPHONE = "microphone"  # their own microphone (a stereo window's staff channel)
    ATTRIBUTED = "attributed"  # one microphone for both sides: decided from voice and words
    UNKNOWN = "unknown"  # one microphone, and the evidence decided nothing


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float  # offset within the source
    end_s: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    """What was said in one utterance, in simplified Chinese, with word times."""

    source: str
    window_id: str
    speaker: Speaker
    channel: int
    start_s: float
    end_s: float
    words: tuple[Word, ...]
    dropped: tuple[str, ...] = ()  # text removed as hallucination, kept so output explains itself
    # Why `speaker` is who it is where no microphone says so (one microphone for both sides):
    # the attribution's reason, in Chinese, for the reviewer.
    speaker_note: str = ""
    # The recogniser's language identification of the utterance: its most probable languages
    # (Whisper's codes: "zh", "en" …) with their probabilities, best first, Mandarin's ("zh")
    # always among them; empty where it was not identified.
    languages: tuple[tuple[str, float], ...] = ()
    # Which of its session's two voices said it ("A" or "B"), where one microphone hears both
    # and the voices are told apart: two utterances of one voice are one person's even where
    # which voice is the staff's is not settled. "" where no voice was told.
    voice: str = ""

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words)

    @property
    def language(self) -> str | None:
        return self.languages[0][0] if self.languages else None

    @property
    def language_probability(self) -> float | None:
        return self.languages[0][1] if self.languages else None

    def probability_of(self, language: str) -> float | None:
        """How probable `language` is (0 where identification did not list it); None where
        the utterance's language was not identified."""
        return dict(self.languages).get(language, 0.0) if self.languages else None

    @property
    def heard_by(self) -> HeardBy:
        if self.speaker == Speaker.UNKNOWN:
            return HeardBy.UNKNOWN
        return HeardBy.ATTRIBUTED if self.speaker_note else HeardBy.MICROPHONE

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "window_id": self.window_id, "speaker": self.speaker.value,
                "channel": self.channel, "start_s": self.start_s, "end_s": self.end_s,
                "text": self.text,
                # with their times, so that a saved transcript can be judged again
                "words": [[w.text, w.start_s, w.end_s, w.probability] for w in self.words],
                "dropped": list(self.dropped), "speaker_note": self.speaker_note,
                "language": self.language, "language_probability": self.language_probability,
                "languages": [list(pair) for pair in self.languages], "voice": self.voice}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Transcript:
        """A transcript as `to_json` wrote it (one written before it held the languages or the
        voice, without them)."""
        return cls(d["source"], d["window_id"], Speaker(d["speaker"]), d["channel"],
                   d["start_s"], d["end_s"], tuple(Word(*w) for w in d["words"]),
                   tuple(d["dropped"]), d["speaker_note"],
                   tuple((code, p) for code, p in d.get("languages", ())), d.get("voice", ""))

    def time_of(self, char_start: int, char_end: int) -> tuple[float, float]:
        """Source offsets of the characters [char_start, char_end) of `text`."""
        pos, start, end = 0, None, None
        for w in self.words:
            w_end = pos + len(w.text)
            if start is None and w_end > char_start:
                start = w.start_s
            if pos < char_end:
                end = w.end_s
            pos = w_end
        if start is None or end is None:
            return self.start_s, self.end_s
        return start, max(end, start)


@dataclass(frozen=True)
class PhraseHit:
    """A rule phrase found in a transcript, with the evidence for it."""

    rule_id: str
    phrase: str  # the canonical Appendix B phrase
    variant: str  # the phrase or variant that was aligned
    matched: str  # the transcript characters that matched
    char_start: int
    char_end: int
    score: float  # 0..1, 1 = the phrase character for character
    explanation: str


@dataclass(frozen=True)
class Incident:
    """A scored finding, the unit that reviewers confirm or dismiss."""

    id: str
    source: str
    window_id: str
    kind: IncidentKind
    rule_id: str
    rule_name: str
    phrase: str | None
    speaker: Speaker
    offset_s: float
    end_s: float
    at: str | None  # absolute UTC time of offset_s, ISO 8601, where the recording start is known
    transcript: str
    score: float
    severity: Severity
    deduction: float
    explanation: str
    # The matched words: characters [hit_start, hit_end) of `transcript`, which the reviewer
    # sees highlighted. None where nothing was said to point at (missing phrase, off post).
    hit_start: int | None = None
    hit_end: int | None = None
    # Evidence files by role ("clip", "empty_seat", "last_seen", …): paths a sink uploads.
    evidence: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


HeardAs = tuple[str, str, int, float, float]  # source, window, channel, start_s, end_s


def heard_as(speech: Utterance | Transcript) -> HeardAs:
    """Where and when speech was heard: the same for an utterance and its transcript, whoever
    either is later attributed to (a key that does not hold the audio alive)."""
    return speech.source, speech.window_id, speech.channel, speech.start_s, speech.end_s


def incident_id(source: str, window_id: str, kind: str, rule_id: str, offset_s: float) -> str:
    """Deterministic, so that re-running or retrying never duplicates an incident."""
    key = f"{source}|{window_id}|{kind}|{rule_id}|{offset_s:.1f}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "etiquette:" + key))


def absolute_time(recorded_at: datetime | None, offset_s: float) -> str | None:
    if recorded_at is None:
        return None
    return (recorded_at + timedelta(seconds=offset_s)).isoformat()

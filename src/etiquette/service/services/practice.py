"""Staff self-training: a staff member records a required phrase of Appendix B in the browser;
the recording goes through the same transcription (Recogniser) and matching (PhraseMatcher,
with the rules in force) as a window's speech, and the answer says whether the phrase was
recognised and which of its words were not heard. Every attempt is kept as history.

The Whisper model is loaded at the first attempt, not at start-up (the service starts without
a model), and once per process; attempts are transcribed one at a time.
"""

from __future__ import annotations

import difflib
import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from etiquette.core.records import SAMPLE_RATE, Speaker, Utterance
from etiquette.core.rules import RequiredRule, RuleSet, parse_rules
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import rules as crud_rules
from etiquette.service.errors import Invalid, NotFound, TooLarge, UnsupportedMedia
from etiquette.service.models import PracticeAttempt
from etiquette.service.services.access import Permission, Principal

logger = logging.getLogger("etiquette.service.practice")
MIN_S = 0.3


@dataclass(frozen=True)
class Verdict:
    rule_id: str
    phrase: str  # the standard phrase practised
    transcript: str
    recognised: bool
    score: float
    matched: str  # the words that matched the phrase, as heard
    missed: list[str]  # runs of the phrase's characters that were not heard


class Practiser:
    """The recogniser and matcher of a service process, made on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._recogniser: Any = None
        self._matchers: dict[str, Any] = {}

    def _recognise(self, audio: Any) -> Any:
        from etiquette.speech.recogniser import (  # heavy: only when used
            Recogniser,
            RecogniserOptions,
        )

        with self._lock:
            if self._recogniser is None:
                logger.info("loading the practice recogniser (%s)", self._settings.practice_model)
                self._recogniser = Recogniser(RecogniserOptions(
                    model=self._settings.practice_model, models_dir=self._settings.models_dir,
                    cpu_threads=self._settings.practice_threads))
            utterance = Utterance("practice", "practice", Speaker.STAFF, 0, 0.0,
                                  len(audio) / SAMPLE_RATE, audio)
            return self._recogniser.transcribe([utterance])[0]

    def matcher(self, rules_yaml: str) -> Any:
        from etiquette.core.matching import PhraseMatcher

        if rules_yaml not in self._matchers:
            self._matchers = {rules_yaml: PhraseMatcher(parse_rules(rules_yaml, where="rules"))}
        return self._matchers[rules_yaml]

    def judge(self, rules_yaml: str, rule: RequiredRule, audio: Any) -> Verdict:
        from etiquette.core.matching import phrase_chars

        transcript = self._recognise(audio)
        text = transcript.text
        hits = [h for r, h in self.matcher(rules_yaml).required(transcript) if r.id == rule.id]
        best = max(hits, key=lambda h: h.score, default=None)
        phrase = rule.phrases[0]
        target = phrase_chars(best.variant if best else phrase)
        heard = best.matched if best else text
        return Verdict(rule.id, phrase, text, best is not None, round(best.score, 3) if best else 0.0,
                       best.matched if best else "", missed_words(target, heard))


def missed_words(phrase: str, heard: str) -> list[str]:
    """The runs of `phrase`'s characters that `heard` lacks ("××" slots stand for any words
    and are never missed)."""
    blocks = difflib.SequenceMatcher(a=phrase, b=heard, autojunk=False).get_matching_blocks()
    covered = [False] * len(phrase)
    for b in blocks:
        for i in range(b.a, b.a + b.size):
            covered[i] = True
    runs, current = [], ""
    for ch, ok in zip(phrase, covered, strict=True):
        if ok or ch == "×":
            if current:
                runs.append(current)
            current = ""
        else:
            current += ch
    if current:
        runs.append(current)
    return runs


def rules_in_force(session: Session) -> tuple[str, RuleSet]:
    row = crud_rules.current(session=session)
    if row is None:
        raise NotFound("no rules version stored")
    return row.yaml, parse_rules(row.yaml, where="rules")


def phrases(session: Session, principal: Principal) -> list[RequiredRule]:
    principal.require(Permission.PRACTICE)
    return list(rules_in_force(session)[1].required)


def decode(data: bytes, settings: Settings) -> Any:
    """A browser's recording (webm/ogg opus, wav…) as 16 kHz mono float32."""
    from etiquette.speech.audio import AudioError, read_audio

    if len(data) > settings.max_evidence_bytes:
        raise TooLarge(f"the recording is larger than {settings.max_evidence_bytes} bytes")
    if not data:
        raise Invalid("the recording is empty")
    with tempfile.TemporaryDirectory(prefix="etiquette-practice-") as tmp:
        path = Path(tmp) / "recording"
        path.write_bytes(data)
        try:
            decoded = read_audio(path)
        except AudioError as e:
            raise UnsupportedMedia(f"录音无法解码 (the recording cannot be decoded): {e}") from e
    audio = decoded.channels[0]
    seconds = len(audio) / SAMPLE_RATE
    if seconds < MIN_S:
        raise Invalid(f"录音太短（{seconds:.1f} 秒）(the recording is too short)")
    if seconds > settings.practice_max_s:
        raise Invalid(f"录音太长（{seconds:.0f} 秒，最长 {settings.practice_max_s:.0f} 秒）"
                      "(the recording is too long)")
    return audio


def attempt(*, session: Session, settings: Settings, practiser: Practiser, principal: Principal,
            rule_id: str, data: bytes) -> tuple[PracticeAttempt, Verdict]:
    """Judge one recording of the required phrase `rule_id` and keep it in the history."""
    principal.require(Permission.PRACTICE)
    text, rules = rules_in_force(session)
    rule = next((r for r in rules.required if r.id == rule_id), None)
    if rule is None:
        raise NotFound(f"no required phrase {rule_id} in the rules in force")
    audio = decode(data, settings)
    verdict = practiser.judge(text, rule, audio)
    assert principal.user is not None
    row = PracticeAttempt(user_id=principal.user.id, staff_id=principal.staff_id, rule_id=rule.id,
                          phrase=verdict.phrase[:500], transcript=verdict.transcript,
                          recognised=verdict.recognised, score=verdict.score, missed=verdict.missed,
                          duration_s=round(len(audio) / SAMPLE_RATE, 2), created_at=utcnow())
    session.add(row)
    session.commit()
    return row, verdict


def history(*, session: Session, principal: Principal, offset: int = 0, limit: int = 50
            ) -> tuple[list[PracticeAttempt], int]:
    """The principal's own attempts, newest first."""
    principal.require(Permission.PRACTICE)
    assert principal.user is not None
    query = select(PracticeAttempt).where(PracticeAttempt.user_id == principal.user.id)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(PracticeAttempt.id.desc()).offset(offset).limit(limit)).all()
    return list(rows), count

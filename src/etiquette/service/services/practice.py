"""Staff self-training: a staff member records a required phrase of Appendix B in the browser;
the recording is recognised and matched against the rules in force as a window's speech is, and
the answer says whether the phrase was recognised and which of its words were not heard. Every
attempt is kept as history.

The service recognises nothing itself (it never loads a model): whoever starts it injects a
`PracticeChecker` into `create_app` (`etiquette serve` and `etiquette run` do, from the windows'
speech pipeline: `etiquette.practice`). A service started without one keeps the history and the
phrases, and answers an attempt with `Unavailable`.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from etiquette.core.practice import PracticeVerdict, RecordingError, UndecodableRecording
from etiquette.core.rules import RequiredRule, RuleSet, parse_rules
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import rules as crud_rules
from etiquette.service.errors import (
    Invalid,
    NotFound,
    TooLarge,
    Unavailable,
    UnsupportedMedia,
)
from etiquette.service.models import PracticeAttempt
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.slots import Slots

UNAVAILABLE = ("本服务未接入语音识别，暂不能练习；请用 etiquette serve 或 etiquette run 启动服务 "
               "(practice needs a speech recogniser; this service was started without one)")


RETRY_AFTER_S = 5  # a recording of practice_max_s is recognised in a few seconds


class PracticeSlots(Slots):
    """At most `size` recordings decoded and recognised at once (each holds its audio and the
    recogniser's work)."""

    def __init__(self, size: int) -> None:
        super().__init__(size, f"正在识别的练习录音较多，请 {RETRY_AFTER_S} 秒后再试 (practice is "
                               f"busy: {size} recordings are being recognised; try again later)",
                         RETRY_AFTER_S)


class PracticeChecker(Protocol):
    """Recognises a practice recording and checks it for `rule`, one of `rules` (the rules in
    force), the way a window's speech is checked.

    Raises:
      UndecodableRecording: the recording is not audio.
      RecordingError: it cannot be judged otherwise (too short, too long).
    """

    def __call__(self, recording: bytes, rules: RuleSet, rule: RequiredRule
                 ) -> PracticeVerdict: ...


def rules_in_force(session: Session) -> RuleSet:
    row = crud_rules.current(session=session)
    if row is None:
        raise NotFound("no rules version stored")
    return parse_rules(row.yaml, where="rules")


def phrases(session: Session, principal: Principal) -> list[RequiredRule]:
    principal.require(Permission.PRACTICE)
    return list(rules_in_force(session).required)


def attempt(*, session: Session, settings: Settings, checker: PracticeChecker | None,
            slots: PracticeSlots, principal: Principal, rule_id: str, data: bytes
            ) -> tuple[PracticeAttempt, PracticeVerdict]:
    """Judge one recording of the required phrase `rule_id` and keep it in the history.

    Raises:
      Unavailable: no checker was injected.
      TooManyRequests: `slots` are all taken by other attempts.
    """
    principal.require(Permission.PRACTICE)
    if checker is None:
        raise Unavailable(UNAVAILABLE)
    rules = rules_in_force(session)
    rule = next((r for r in rules.required if r.id == rule_id), None)
    if rule is None:
        raise NotFound(f"no required phrase {rule_id} in the rules in force")
    if len(data) > settings.practice_max_recording_bytes:
        raise TooLarge(f"录音文件太大 (the recording is larger than "
                       f"{settings.practice_max_recording_bytes} bytes)")
    if not data:
        raise Invalid("the recording is empty")
    try:
        with slots.hold():
            verdict = checker(data, rules, rule)
    except UndecodableRecording as e:
        raise UnsupportedMedia(str(e)) from e
    except RecordingError as e:
        raise Invalid(str(e)) from e
    assert principal.user is not None  # PRACTICE is a staff user's permission
    row = PracticeAttempt(user_id=principal.user.id, staff_id=principal.staff_id, rule_id=rule.id,
                          phrase=verdict.phrase[:500], transcript=verdict.transcript,
                          recognised=verdict.recognised, score=verdict.score,
                          missed=list(verdict.missed), duration_s=verdict.duration_s,
                          created_at=utcnow())
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
    newest_first = query.order_by(PracticeAttempt.id.desc())
    rows = session.scalars(newest_first.offset(offset).limit(limit)).all()
    return list(rows), count

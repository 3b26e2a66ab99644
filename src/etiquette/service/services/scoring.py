"""The scoring scheme, kept as versions with the month each takes effect from.

A month is scored by the version in force for it (the latest `effective_from` not after the
month). A new version may take effect from the current month (the display time zone's) or a
later one, never from a month already over: a scheme change therefore never rescores a month
whose report may have been published. The current month, still running, follows the change.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from etiquette.core.scoring import (
    DEFAULT_SCHEME,
    Month,
    ScoringError,
    ScoringScheme,
    load_scheme,
    parse_scheme,
)
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit
from etiquette.service.crud import scoring as crud
from etiquette.service.errors import Conflict, Invalid
from etiquette.service.models import ScoringVersion
from etiquette.service.schemas import ScoringVersionCreate
from etiquette.service.services import problems
from etiquette.service.services.access import SYSTEM_START, Permission, Principal

logger = logging.getLogger("etiquette.service.scoring")
SEED_MONTH = "2000-01"  # version 1 scores every month until a later version takes over


def validate(text: str) -> ScoringScheme:
    try:
        return parse_scheme(text, where="scoring")
    except ScoringError as e:
        raise problems.invalid("评分方案", text, e) from e
    except RecursionError as e:
        raise problems.too_deep("评分方案") from e


@functools.lru_cache(maxsize=32)
def parsed(text: str) -> ScoringScheme:
    """A stored version's scheme (validated when it was saved)."""
    return parse_scheme(text, where="scoring")


def current_month(settings: Settings, now: datetime | None = None) -> Month:
    return Month.of(now or utcnow(), ZoneInfo(settings.display_timezone))


def _add(session: Session, principal: Principal, text: str, scheme: ScoringScheme,
         effective_from: str, comment: str, previous: ScoringVersion | None) -> ScoringVersion:
    row = crud.add(session=session, version=ScoringVersion(
        id=(previous.id if previous else 0) + 1, yaml=text, version=scheme.version[:64],
        effective_from=effective_from, sha256=hashlib.sha256(text.encode()).hexdigest(),
        comment=comment, created_at=utcnow(), created_by=principal.label,
        user_id=principal.user.id if principal.user else None))
    audit.record(session=session, actor=principal, action="scoring.version", target_type="scoring",
                 target_id=str(row.id), before={"version_id": previous.id} if previous else None,
                 after={"version_id": row.id, "version": row.version, "sha256": row.sha256,
                        "effective_from": effective_from, "comment": comment})
    return row


def seed(*, session: Session, path: Path | None) -> ScoringVersion | None:
    """Version 1 from the scheme file if there is none yet (every start). Raises ScoringError
    for a broken file: reports need a scheme."""
    if crud.current(session=session) is not None:
        return None
    path = path or DEFAULT_SCHEME
    scheme = load_scheme(path)
    row = _add(session, SYSTEM_START, path.read_text(encoding="utf-8"), scheme, SEED_MONTH,
               f"初始版本（{path.name}）", None)
    try:
        session.commit()
    except IntegrityError:  # another process seeded it at the same moment
        session.rollback()
        return None
    logger.info("scoring scheme version 1 seeded from %s", path)
    return row


def create_version(*, session: Session, settings: Settings, principal: Principal,
                   body: ScoringVersionCreate) -> ScoringVersion:
    """Raises Invalid (a bad scheme, naming key and line; or a month already past), Conflict
    (edited from an older version; nothing changed)."""
    principal.require(Permission.SCORING_ADMIN)
    text = body.yaml.replace("\r\n", "\n")
    scheme = validate(text)
    this_month = current_month(settings)
    effective = Month.parse(body.effective_from) if body.effective_from else this_month
    if effective < this_month:
        raise Invalid(f"评分方案不能追溯：{effective} 已经过去，最早只能从本月 {this_month} 起生效 "
                      "(a scheme cannot take effect in a month already past)")
    previous = crud.current(session=session)
    if body.based_on is not None and previous is not None and body.based_on != previous.id:
        raise Conflict(f"评分方案已被他人修改：当前为第 {previous.id} 版，本次修改基于第 "
                       f"{body.based_on} 版 (the scheme changed since this edit started)")
    if previous is not None and previous.yaml == text and previous.effective_from == str(effective):
        raise Conflict(f"与第 {previous.id} 版相同，未保存 (no change)")
    row = _add(session, principal, text, scheme, str(effective), body.comment, previous)
    try:
        session.commit()
    except IntegrityError as e:
        session.rollback()
        raise Conflict("评分方案刚被他人修改，请刷新后重试 (another version was saved at the same "
                       "time)") from e
    return row


def in_force(session: Session, month: Month) -> tuple[ScoringVersion, ScoringScheme]:
    """The version that scores `month` and its scheme."""
    row = (crud.in_force(session=session, month=str(month))
           or crud.get(session=session, version_id=1))
    if row is None:  # seeded at start-up: only on a database emptied under a running service
        raise Conflict("没有评分方案 (no scoring scheme stored)")
    return row, parsed(row.yaml)

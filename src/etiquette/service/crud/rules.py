"""Rule versions: read the one in force, the history, one by id; add one."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from etiquette.service.models import RuleVersion


def current(*, session: Session) -> RuleVersion | None:
    return session.scalars(select(RuleVersion).order_by(RuleVersion.id.desc()).limit(1)).first()


def get(*, session: Session, version_id: int) -> RuleVersion | None:
    return session.get(RuleVersion, version_id)


def list_versions(*, session: Session, offset: int = 0,
                  limit: int = 100) -> tuple[list[RuleVersion], int]:
    count = session.scalar(select(func.count()).select_from(RuleVersion)) or 0
    rows = session.scalars(select(RuleVersion).order_by(RuleVersion.id.desc())
                           .offset(offset).limit(limit)).all()
    return list(rows), count


def add(*, session: Session, version: RuleVersion) -> RuleVersion:
    session.add(version)
    session.flush()
    return version

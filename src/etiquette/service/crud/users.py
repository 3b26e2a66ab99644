"""Users, their sessions, login throttling and the pipelines' API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from etiquette.service.models import ApiKey, Center, LoginThrottle, Staff, User, UserSession


def _users(center_ids: frozenset[int] | None) -> Select[User]:
    """`center_ids`: only the users of those centers, for a reader limited to them: staff
    working there, supervisors and auditors limited to one of them (None: every user)."""
    query = select(User)
    if center_ids is not None:
        ids = sorted(center_ids)
        query = query.where(or_(User.centers.any(Center.id.in_(ids)), User.staff_id.in_(
            select(Staff.id).where(Staff.center_id.in_(ids)))))
    return query


def visible_user(*, session: Session, center_ids: frozenset[int] | None,
                 user_id: int) -> User | None:
    return session.scalars(_users(center_ids).where(User.id == user_id)).first()


def list_users(*, session: Session, center_ids: frozenset[int] | None, offset: int = 0,
               limit: int = 100) -> tuple[list[User], int]:
    query = _users(center_ids)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(User.id).offset(offset).limit(limit)).all()
    return list(rows), count


def list_keys(*, session: Session, center_ids: frozenset[int] | None,
              limit: int = 1000) -> tuple[list[ApiKey], int]:
    """`center_ids`: only the keys of those centers' sites (None: every key)."""
    query = select(ApiKey)
    if center_ids is not None:
        query = query.where(ApiKey.center_id.in_(sorted(center_ids)))
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(ApiKey.id).limit(limit)).all()), count


def user_by_username(*, session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def create_user(*, session: Session, username: str, password_hash: str, role: str,
                display_name: str = "", staff_id: int | None = None, active: bool = True,
                created_at: datetime) -> User:
    user = User(username=username, password_hash=password_hash, role=role,
                display_name=display_name, staff_id=staff_id, active=active, created_at=created_at)
    session.add(user)
    session.flush()
    return user


def add_session(*, session: Session, token_hash: str, user_id: int, csrf_token: str,
                created_at: datetime, expires_at: datetime) -> UserSession:
    row = UserSession(token_hash=token_hash, user_id=user_id, csrf_token=csrf_token,
                      created_at=created_at, expires_at=expires_at)
    session.add(row)
    return row


def get_session(*, session: Session, token_hash: str) -> UserSession | None:
    return session.get(UserSession, token_hash)


def delete_session(*, session: Session, token_hash: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == token_hash))


def delete_sessions_of(*, session: Session, user_id: int, keep: str | None = None) -> int:
    """Log a user out everywhere, except the session whose token hash is `keep`."""
    query = delete(UserSession).where(UserSession.user_id == user_id)
    if keep is not None:
        query = query.where(UserSession.token_hash != keep)
    result = cast(CursorResult[Any], session.execute(query))
    return result.rowcount


def delete_expired_sessions(*, session: Session, now: datetime) -> int:
    # A DML statement's result is a CursorResult, which has the rowcount.
    result = cast(CursorResult[Any],
                  session.execute(delete(UserSession).where(UserSession.expires_at <= now)))
    return result.rowcount


def lock_throttle(*, session: Session, scope: str, username: str, ip: str,
                  now: datetime) -> LoginThrottle:
    """The throttle row of (scope, user name, address), created if missing, locked until the
    transaction ends. The first statement is a write, so that SQLite takes its write lock
    here and a concurrent writer waits (PostgreSQL locks the row: FOR UPDATE). Lock rows in
    one order (etiquette.service.services.throttle) so two transactions never wait on each other.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(LoginThrottle).values(
        scope=scope, username=username, ip=ip, failures=0, refused=0, updated_at=now,
    ).on_conflict_do_nothing(index_elements=["scope", "username", "ip"]))
    return session.scalars(
        select(LoginThrottle).where(LoginThrottle.scope == scope,
                                    LoginThrottle.username == username, LoginThrottle.ip == ip)
        .with_for_update().execution_options(populate_existing=True)).one()


def extend_throttle(*, session: Session, scope: str, username: str, ip: str,
                    until: datetime) -> None:
    """Attempts of (scope, user name, address) wait at least until `until` (one statement)."""
    session.execute(update(LoginThrottle).where(
        LoginThrottle.scope == scope, LoginThrottle.username == username, LoginThrottle.ip == ip,
        or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < until),
    ).values(blocked_until=until))


def delete_stale_throttles(*, session: Session, touched_before: datetime,
                           known_before: datetime, now: datetime,
                           limit: int) -> list[tuple[str, str, str, int]]:
    """Delete at most `limit` throttle rows untouched since `touched_before`, marking no login
    since `known_before` and no wait beyond `now`; returns (scope, user name, address,
    refused) of each. Rows another transaction holds are skipped, never waited for
    (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite has one writer at a time), so a purge never
    deadlocks with an attempt that locks its rows."""
    t = LoginThrottle
    stale = (select(t.scope, t.username, t.ip)
             .where(t.updated_at < touched_before,
                    or_(t.succeeded_at.is_(None), t.succeeded_at < known_before),
                    or_(t.blocked_until.is_(None), t.blocked_until <= now))
             .limit(limit).with_for_update(skip_locked=True))
    result = session.execute(
        delete(t).where(tuple_(t.scope, t.username, t.ip).in_(stale))
        .returning(t.scope, t.username, t.ip, t.refused)
        .execution_options(synchronize_session=False))
    return [(scope, username, ip, refused) for scope, username, ip, refused in result]


def api_key_by_prefix(*, session: Session, prefix: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()


def add_api_key(*, session: Session, name: str, prefix: str, key_hash: str, center_id: int | None,
                created_at: datetime) -> ApiKey:
    key = ApiKey(name=name, prefix=prefix, key_hash=key_hash, center_id=center_id,
                 created_at=created_at)
    session.add(key)
    session.flush()
    return key


def mark_api_key_used(*, session: Session, key_id: int, now: datetime,
                      not_since: datetime) -> None:
    """The key was used `now`, unless that is already known since `not_since` (one statement,
    so that processes sharing the database write it once)."""
    session.execute(update(ApiKey).where(
        ApiKey.id == key_id,
        or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < not_since),
    ).values(last_used_at=now).execution_options(synchronize_session=False))

"""Users, their sessions, login attempts and the pipelines' API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from etiquette.service.models import ApiKey, LoginAttempt, User, UserSession


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


def delete_sessions_of(*, session: Session, user_id: int) -> None:
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))


def delete_expired_sessions(*, session: Session, now: datetime) -> int:
    # A DML statement's result is a CursorResult, which has the rowcount.
    result = cast(CursorResult[Any],
                  session.execute(delete(UserSession).where(UserSession.expires_at <= now)))
    return result.rowcount


def add_login_attempt(*, session: Session, username: str, ip: str, success: bool,
                      at: datetime) -> None:
    session.add(LoginAttempt(username=username, ip=ip, success=success, at=at))


def failures_since(*, session: Session, since: datetime, username: str | None = None,
                   ip: str | None = None) -> int:
    query = select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.at >= since, LoginAttempt.success.is_(False))
    if username is not None:
        query = query.where(LoginAttempt.username == username)
    if ip is not None:
        query = query.where(LoginAttempt.ip == ip)
    return session.scalar(query) or 0


def last_success(*, session: Session, username: str) -> datetime | None:
    return session.scalar(select(func.max(LoginAttempt.at)).where(
        LoginAttempt.username == username, LoginAttempt.success.is_(True)))


def delete_login_attempts_before(*, session: Session, before: datetime) -> None:
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < before))


def api_key_by_prefix(*, session: Session, prefix: str) -> ApiKey | None:
    return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()


def add_api_key(*, session: Session, name: str, prefix: str, key_hash: str, center_id: int | None,
                created_at: datetime) -> ApiKey:
    key = ApiKey(name=name, prefix=prefix, key_hash=key_hash, center_id=center_id,
                 created_at=created_at)
    session.add(key)
    session.flush()
    return key

"""Logging in and out, sessions, and the API keys of pipelines.

Failed logins are throttled per user name and address, per address and per user name
(etiquette.service.services.throttle), counted in the database so that every service process
sharing it counts the same attempts.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from etiquette.service.core import security
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit
from etiquette.service.crud import users as crud
from etiquette.service.errors import Unauthorized
from etiquette.service.models import ApiKey, User, UserSession
from etiquette.service.services import throttle
from etiquette.service.services.access import Principal, pipeline_principal, user_principal

logger = logging.getLogger("etiquette.service.auth")
KEY_USE_PRECISION = timedelta(minutes=1)  # ApiKey.last_used_at is written at most this often


def login(*, session: Session, settings: Settings, username: str, password: str,
          ip: str) -> tuple[User, str, UserSession]:
    """Check the password and open a session. Returns (user, cookie token, session row).

    Raises:
      TooManyRequests: an earlier failure's wait is not over; the password is not checked.
      Unauthorized: wrong user name or password, or the account is deactivated.
    """
    charge = throttle.charge(session=session, settings=settings, username=username, ip=ip,
                             now=utcnow())
    user = crud.user_by_username(session=session, username=username)
    ok = security.verify_password(password, user.password_hash if user else None)
    now = utcnow()
    if not ok or user is None or not user.active:
        throttle.failed(session=session, charge=charge, now=now)
        session.commit()
        logger.info("failed login for a user name from %s", ip)
        raise Unauthorized("用户名或密码错误 (wrong user name or password)")
    throttle.succeeded(session=session, settings=settings, charge=charge, now=now)
    crud.delete_expired_sessions(session=session, now=now)
    token = security.new_token()
    row = crud.add_session(session=session, token_hash=security.token_hash(token), user_id=user.id,
                           csrf_token=security.new_token(), created_at=now,
                           expires_at=now + timedelta(hours=settings.session_hours))
    audit.record(session=session, actor=user_principal(user), action="auth.login",
                 target_type="user", target_id=str(user.id))
    session.commit()
    return user, token, row


def logout(*, session: Session, token: str) -> None:
    crud.delete_session(session=session, token_hash=security.token_hash(token))
    session.commit()


def principal_from_session(*, session: Session, token: str | None) -> Principal | None:
    """The user a session cookie belongs to, or None if it is unknown, expired or deactivated."""
    if not token or len(token) > 200:
        return None
    row = crud.get_session(session=session, token_hash=security.token_hash(token))
    if row is None or row.expires_at <= utcnow() or not row.user.active:
        return None
    return user_principal(row.user, row.csrf_token)


def principal_from_api_key(*, session: Session, key: str | None) -> Principal | None:
    if not key or len(key) > 200:
        return None
    parts = security.split_api_key(key)
    if parts is None:
        return None
    prefix, secret = parts
    row: ApiKey | None = crud.api_key_by_prefix(session=session, prefix=prefix)
    if row is None or row.revoked_at is not None:
        return None
    if not security.same(row.key_hash, security.token_hash(secret)):
        return None
    now = utcnow()
    # When the key was last used, to the minute: a pipeline's every request need not write.
    if row.last_used_at is None or now - row.last_used_at >= KEY_USE_PRECISION:
        crud.mark_api_key_used(session=session, key_id=row.id, now=now,
                               not_since=now - KEY_USE_PRECISION)
        session.commit()
    return pipeline_principal(row)

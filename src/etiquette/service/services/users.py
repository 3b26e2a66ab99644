"""User accounts and pipeline API keys, managed by admins; every change audited.
Passwords never appear in the audit log, only that one was changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from etiquette.service.core import security
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit
from etiquette.service.crud import master as crud_master
from etiquette.service.crud import users as crud
from etiquette.service.errors import Conflict, Invalid, NotFound, Unauthorized
from etiquette.service.models import ApiKey, Center, Staff, User
from etiquette.service.schemas import ApiKeyCreate, Role, UserCreate, UserUpdate
from etiquette.service.services import throttle
from etiquette.service.services.access import CENTER_ROLES, Permission, Principal

_FIELDS = ("username", "display_name", "role", "staff_id", "active")


def _snapshot(user: User) -> dict[str, Any]:
    # Centers by name, as the audit page shows them.
    return {**{f: getattr(user, f) for f in _FIELDS}, "centers": [c.name for c in user.centers]}


def _check_password(password: str, *user_inputs: str) -> None:
    """`user_inputs`: the user's login and name, which a password must not be made of."""
    problem = security.password_problem(password, user_inputs)
    if problem:
        raise Invalid(problem, field="password")


def _check_staff(session: Session, staff_id: int | None) -> None:
    if staff_id is not None and crud_master.get(session=session, model=Staff, id=staff_id) is None:
        raise Invalid(f"所选工作人员不存在 (staff_id {staff_id} does not exist)", field="staff_id")


def _centers(session: Session, role: Role, center_ids: list[int]) -> list[Center]:
    """The centers a user of `role` is limited to (access.CENTER_ROLES: admins and staff are
    never limited, see services/access.py)."""
    if center_ids and role not in CENTER_ROLES:
        raise Invalid("只有监督员和审计员可以限定中心，管理员和窗口工作人员不限定 "
                      "(only supervisors and auditors are limited to centers)",
                      field="center_ids")
    found = [session.get(Center, c) for c in dict.fromkeys(center_ids)]
    if any(c is None for c in found):
        raise Invalid("所选中心不存在 (a center_id does not exist)", field="center_ids")
    return [c for c in found if c is not None]


def _taken(username: str) -> Conflict:
    return Conflict(f"用户名 {username} 已被使用 (user name {username} is taken)",
                    field="username")


def create_user(*, session: Session, principal: Principal, user_in: UserCreate) -> User:
    principal.require(Permission.USERS_WRITE)
    _check_password(user_in.password, user_in.username, user_in.display_name)
    _check_staff(session, user_in.staff_id)
    centers = _centers(session, user_in.role, user_in.center_ids)
    if crud.user_by_username(session=session, username=user_in.username):
        raise _taken(user_in.username)
    user = crud.create_user(session=session, username=user_in.username,
                            password_hash=security.hash_password(user_in.password),
                            role=user_in.role.value, display_name=user_in.display_name,
                            staff_id=user_in.staff_id, active=user_in.active, created_at=utcnow())
    user.centers = centers
    audit.record(session=session, actor=principal, action="user.create", target_type="user",
                 target_id=str(user.id), after=_snapshot(user))
    try:
        session.commit()
    except IntegrityError as e:
        session.rollback()
        raise _taken(user_in.username) from e
    return user


def update_user(*, session: Session, principal: Principal, user_id: int,
                user_in: UserUpdate) -> User:
    principal.require(Permission.USERS_WRITE)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    values = user_in.model_dump(exclude_unset=True)
    password = values.pop("password", None)
    center_ids = values.pop("center_ids", None)
    before = _snapshot(user)
    merged = before | values
    if (merged["role"] == Role.STAFF) != (merged["staff_id"] is not None):
        raise Invalid("窗口工作人员账号必须关联一名工作人员，其他角色不关联 "
                      "(staff_id is required for role staff and only for it)", field="staff_id")
    _check_staff(session, values.get("staff_id"))
    # The centers kept (where none are sent) must suit a new role too. A change applies from
    # the user's next request: a request reads its user's centers afresh.
    centers = _centers(session, Role(merged["role"]),
                       user.center_ids if center_ids is None else center_ids)
    if principal.user and principal.user.id == user_id and (
            merged["role"] != Role.ADMIN or not merged["active"]):
        raise Conflict("管理员不能降低自己的角色或停用自己的账号 "
                       "(an admin cannot demote or deactivate their own account)", field="role")
    for key, value in values.items():
        setattr(user, key, value.value if isinstance(value, Role) else value)
    user.centers = centers
    after = _snapshot(user)
    changed = [k for k in before if before[k] != after[k]]
    old, new = {k: before[k] for k in changed}, {k: after[k] for k in changed}
    if password is not None:
        _check_password(password, user.username, user.display_name)
        user.password_hash = security.hash_password(password)
        new["password"] = "changed"
    if password is not None or not user.active or "role" in changed:
        crud.delete_sessions_of(session=session, user_id=user.id)  # log them out everywhere
    audit.record(session=session, actor=principal, action="user.update", target_type="user",
                 target_id=str(user.id), before=old, after=new)
    session.commit()
    return user


def change_own_password(*, session: Session, settings: Settings, principal: Principal,
                        current: str, new: str, token: str, ip: str) -> None:
    """A user's new password; their other sessions end, this one (`token`) goes on. The
    current password is checked under the login throttle, since a stolen session could
    otherwise guess it here.

    Raises:
      TooManyRequests: too many wrong passwords lately (throttle).
      Invalid: the current password is wrong, or the new one is refused.
    """
    user = principal.user
    if user is None:
        raise Unauthorized("not logged in")
    _check_password(new, user.username, user.display_name)
    # The throttle first: a throttled attempt is refused before any hash is computed, so a
    # guesser spends none of the server's argon2 time. charge() commits: no row stays locked
    # while the hashes below are computed.
    charge = throttle.charge(session=session, settings=settings, username=user.username, ip=ip,
                             now=utcnow())
    if not security.verify_password(current, user.password_hash):
        throttle.failed(session=session, charge=charge, now=utcnow())
        session.commit()
        raise Invalid("当前密码不正确 (the current password is wrong)")
    new_hash = security.hash_password(new)
    throttle.succeeded(session=session, settings=settings, charge=charge, now=utcnow())
    user = session.merge(user)
    user.password_hash = new_hash
    ended = crud.delete_sessions_of(session=session, user_id=user.id,
                                    keep=security.token_hash(token))
    audit.record(session=session, actor=principal, action="user.password", target_type="user",
                 target_id=str(user.id), after={"password": "changed", "sessions_ended": ended})
    session.commit()


def create_admin(*, session: Session, principal: Principal, username: str, password: str,
                 display_name: str = "") -> User:
    """The first admin (or a further one) from the command line: there is no default account."""
    _check_password(password, username, display_name)
    if crud.user_by_username(session=session, username=username):
        raise _taken(username)
    user = crud.create_user(session=session, username=username,
                            password_hash=security.hash_password(password), role=Role.ADMIN.value,
                            display_name=display_name, created_at=utcnow())
    audit.record(session=session, actor=principal, action="user.create", target_type="user",
                 target_id=str(user.id), after=_snapshot(user))
    session.commit()
    return user


def create_api_key(*, session: Session, principal: Principal,
                   key_in: ApiKeyCreate) -> tuple[ApiKey, str]:
    principal.require(Permission.API_KEYS_WRITE)
    if key_in.center_id is not None and session.get(Center, key_in.center_id) is None:
        raise Invalid(f"所选中心不存在 (center_id {key_in.center_id} does not exist)",
                      field="center_id")
    key, prefix, key_hash = security.new_api_key()
    row = crud.add_api_key(session=session, name=key_in.name, prefix=prefix, key_hash=key_hash,
                           center_id=key_in.center_id, created_at=utcnow())
    audit.record(session=session, actor=principal, action="api_key.create", target_type="api_key",
                 target_id=str(row.id), after={"name": row.name, "prefix": prefix,
                                               "center_id": row.center_id})
    session.commit()
    return row, key


def revoke_api_key(*, session: Session, principal: Principal, key_id: int) -> ApiKey:
    principal.require(Permission.API_KEYS_WRITE)
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session=session, actor=principal, action="api_key.revoke",
                     target_type="api_key", target_id=str(row.id),
                     after={"revoked_at": row.revoked_at})
        session.commit()
    return row

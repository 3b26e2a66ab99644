"""Login throttling: growing waits, counted atomically, that a stranger cannot impose on the owner.

Every attempt is counted as a failure *before* its password is checked (and refunded if it
was right), in one transaction over locked rows, so parallel attempts cannot all slip through
before the count catches up. Three counts, each with its own allowance:

- a user name from one address ("pair", `login_max_failures`): someone guessing one account;
- one address over all user names ("address", `login_max_failures_per_ip`): someone trying a
  password on many accounts;
- the addresses failing for one user name ("account", `login_max_addresses_per_user`): a
  guess spread over many addresses.

An address counts as what one client holds: an IPv4 address as itself (an IPv4-mapped IPv6
address as its IPv4 one), an IPv6 address as its whole /64, since a host is given one and may
pick any address inside it.

Past an allowance every further failure makes the next attempt of that count wait, 1 s
(`login_delay_s`) doubled per failure up to `login_max_delay_s`; an attempt that comes sooner
is answered 429 with Retry-After and never checked. Nothing is a lock a stranger can set: at
an address this account logged in from lately only its own pair count applies, so neither a
guess spread over other addresses (the account count) nor someone else failing behind the
same NAT address, a whole service hall's (the address count), slows its owner there. Their
failures there still count for the address and the account, which go on slowing attempts
on other accounts and from other addresses; a guesser at an owner's address is held back by
the pair count as anywhere else.

Each wait started is audited (`auth.lockout`: at most one per failure, and failures past an
allowance are themselves held back by the waits). Refused attempts are counted on the rows
they waited for and audited in summary (`auth.throttled`, with those counts): at the first
refusal of each wait, then at most once every `AUDIT_INTERVAL_S` per row, so a flood of
refused attempts cannot flood the audit log. Counts of failures are forgotten after
`login_window_s` without a failure, and the retention job deletes the rows that hold nothing
any more (`purge`).
"""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from etiquette.service.core.config import Settings
from etiquette.service.crud import audit
from etiquette.service.crud import users as crud
from etiquette.service.errors import TooManyRequests
from etiquette.service.models import LoginThrottle
from etiquette.service.services.access import Principal

logger = logging.getLogger("etiquette.service.throttle")

PAIR, ADDRESS, ACCOUNT = "pair", "address", "account"
# An address that logged in as a user this recently is slowed for that user by the pair alone.
KNOWN_ADDRESS_DAYS = 30
# Refused attempts are audited at the first of each wait, then at most once this often.
AUDIT_INTERVAL_S = 300.0
PURGE_BATCH = 1000


@dataclass(frozen=True)
class Wait:
    """A wait one failure started: re-measured from when the failure is answered."""

    scope: str
    username: str
    ip: str
    delay_s: float


@dataclass
class Charge:
    """An attempt counted as a failure, to be settled by `failed` or `succeeded`."""

    username: str
    ip: str  # the client's address, as counted (address_key)
    waits: list[Wait] = field(default_factory=list)


def address_key(ip: str) -> str:
    """What a client address is counted as: an IPv4 address as itself, an IPv4-mapped IPv6
    address as its IPv4 one, any other IPv6 address as its /64 (one host's, usually), and
    what is no address at all ("unknown" when a connection has no peer) as given."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


def _where(ip: str, key: str) -> dict[str, str]:
    """An audit entry's address: the client's, and what it was counted as where that differs."""
    return {"ip": ip} if key == ip else {"ip": ip, "counted_as": key}


def delay_s(failures: int, allowed: int, settings: Settings) -> float:
    """How long the attempt after the `failures`-th failure waits (0: not at all)."""
    if failures < allowed:
        return 0.0
    return min(settings.login_max_delay_s,
               settings.login_delay_s * 2.0 ** min(failures - allowed, 64))


def _keys(username: str, ip: str) -> list[tuple[str, str, str]]:
    """The rows of an attempt, in the one order every transaction locks them."""
    return [(PAIR, username, ip), (ADDRESS, "", ip), (ACCOUNT, username, "")]


def _lock(session: Session, settings: Settings, username: str, ip: str,
          now: datetime) -> dict[str, LoginThrottle]:
    rows: dict[str, LoginThrottle] = {}
    forget_before = now - timedelta(seconds=settings.login_window_s)
    for scope, name, address in _keys(username, ip):
        row = crud.lock_throttle(session=session, scope=scope, username=name, ip=address, now=now)
        if row.failed_at is not None and row.failed_at < forget_before:
            row.failures, row.blocked_until, row.failed_at = 0, None, None
        rows[scope] = row
    return rows


def _actor(ip: str) -> Principal:
    return Principal(label=f"address:{ip}")


def charge(*, session: Session, settings: Settings, username: str, ip: str,
           now: datetime) -> Charge:
    """Before a password is checked: count the attempt as a failure, and commit.

    Raises:
      TooManyRequests: an earlier failure's wait is not over (counted as refused, audited in
        summary; no failure is counted).
    """
    key = address_key(ip)
    rows = _lock(session, settings, username, key, now)
    pair, address, account = rows[PAIR], rows[ADDRESS], rows[ACCOUNT]
    known = (pair.succeeded_at is not None
             and pair.succeeded_at >= now - timedelta(days=KNOWN_ADDRESS_DAYS))
    # Where this user logs in, only their own failures there make them wait (module docstring).
    applies = [pair] if known else [pair, address, account]
    waiting = [r for r in applies if r.blocked_until is not None and r.blocked_until > now]
    if waiting:
        until = max(r.blocked_until for r in waiting if r.blocked_until is not None)
        retry = max(1, math.ceil((until - now).total_seconds()))
        _refuse(session, waiting, username, ip, key, retry, now)
        session.commit()
        logger.info("login throttled for %s s (%s)", retry,
                    ", ".join(r.scope for r in waiting))
        raise TooManyRequests(f"登录失败次数过多，请 {retry} 秒后再试 "
                              f"(too many failed logins; retry after {retry} s)",
                              {"Retry-After": str(retry)})
    counted = [(pair, settings.login_max_failures),
               (address, settings.login_max_failures_per_ip)]
    if pair.failures == 0:  # a new address failing for this user name
        counted.append((account, settings.login_max_addresses_per_user))
    result = Charge(username, key)
    for row, allowed in counted:
        row.failures += 1
        wait = delay_s(row.failures, allowed, settings)
        if wait:
            row.blocked_until = now + timedelta(seconds=wait)
            row.audited_at = None  # the first refusal of this wait is audited
            result.waits.append(Wait(row.scope, row.username, row.ip, wait))
            audit.record(session=session, actor=_actor(ip), action="auth.lockout",
                         target_type="login", target_id=username,
                         after={**_where(ip, key), "scope": row.scope,
                                "failures": row.failures, "wait_s": wait})
    for row in rows.values():
        row.failed_at = row.updated_at = now
    session.commit()
    return result


def _audit_due(row: LoginThrottle, now: datetime) -> bool:
    """Whether a refusal on this row is audited: it is the first of the row's latest wait
    (a wait started clears audited_at), or none was for AUDIT_INTERVAL_S."""
    return (row.audited_at is None
            or row.audited_at <= now - timedelta(seconds=AUDIT_INTERVAL_S))


def _refuse(session: Session, waiting: list[LoginThrottle], username: str, ip: str, key: str,
            retry: int, now: datetime) -> None:
    """Count a refused attempt on the rows it waited for; audit it if one of them is due,
    with the refusals each due row counted since its last audit entry (this one included)."""
    for row in waiting:
        row.refused += 1
        row.updated_at = now
    due = [row for row in waiting if _audit_due(row, now)]
    if not due:
        return
    audit.record(session=session, actor=_actor(ip), action="auth.throttled",
                 target_type="login", target_id=username,
                 after={**_where(ip, key), "scopes": [r.scope for r in waiting],
                        "retry_after_s": retry, "refused": {r.scope: r.refused for r in due}})
    for row in due:
        row.refused, row.audited_at = 0, now


def failed(*, session: Session, charge: Charge, now: datetime) -> None:
    """The password was wrong: the waits it started count from now. The caller commits."""
    for wait in charge.waits:
        crud.extend_throttle(session=session, scope=wait.scope, username=wait.username,
                             ip=wait.ip, until=now + timedelta(seconds=wait.delay_s))
    if charge.waits:
        logger.warning("login failures: %s wait %s s", ", ".join(w.scope for w in charge.waits),
                       max(w.delay_s for w in charge.waits))


def succeeded(*, session: Session, settings: Settings, charge: Charge, now: datetime) -> None:
    """The password was right: this pair starts over and is a known address of the user; the
    address and the account get back what this attempt was counted. The caller commits."""
    rows = _lock(session, settings, charge.username, charge.ip, now)
    pair, address, account = rows[PAIR], rows[ADDRESS], rows[ACCOUNT]
    if pair.failures > 0:
        account.failures = max(0, account.failures - 1)
    pair.failures, pair.blocked_until, pair.succeeded_at = 0, None, now
    address.failures = max(0, address.failures - 1)
    for row in rows.values():
        row.updated_at = now


def purge(*, session: Session, settings: Settings, now: datetime, actor: Principal) -> int:
    """Forget the rows that hold nothing any more: no failure for `login_window_s`, no wait
    running, and no login from their address for KNOWN_ADDRESS_DAYS. Most are of user names
    that do not exist, which no login ever starts over. Refusals a forgotten row counted and
    no audit entry told of yet are audited now (by `actor`, the purge's). Rows a concurrent
    attempt holds are left for the next purge: they are in use. Runs with the retention job
    (etiquette.service.services.retention), in the caller's transaction, a batch of
    PURGE_BATCH rows at a time. Returns how many rows went.
    """
    deleted = 0
    while True:
        rows = crud.delete_stale_throttles(
            session=session, touched_before=now - timedelta(seconds=settings.login_window_s),
            known_before=now - timedelta(days=KNOWN_ADDRESS_DAYS), now=now, limit=PURGE_BATCH)
        for scope, username, ip, refused in rows:
            if refused:
                audit.record(session=session, actor=actor, action="auth.throttled",
                             target_type="login", target_id=username,
                             after={"counted_as": ip, "scopes": [scope],
                                    "refused": {scope: refused}, "forgotten": True})
        deleted += len(rows)
        if len(rows) < PURGE_BATCH:
            return deleted

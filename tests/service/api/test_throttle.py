"""Login throttling that a stranger cannot turn against an account's owner, that an attacker
cannot dodge (IPv6 addresses of one /64 count as one) nor use to flood the audit log, and
whose rows do not outlive their use.

The service runs in this process, so a test can watch what it computes (the password
hasher) and drive the throttle with a clock of its own through the same database."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import or_, select, update

from etiquette.service.core import security
from etiquette.service.core.db import utcnow
from etiquette.service.errors import TooManyRequests
from etiquette.service.models import LoginThrottle
from etiquette.service.services import throttle
from etiquette.service.services.throttle import address_key

from factories.service import PASSWORD
from service.api.test_auth import (
    audited,
    from_address,
    new_address,
    new_user,
    refusals_pending,
    refusals_told,
)
from service.conftest import (
    LiveService,
    service_on_backend,
)

GOOD_NEW_PASSWORD = "Lantern-okra-Fjord-73"


class CountingHasher:
    """The service's argon2 hasher, with each hash and verify it is asked for written down."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def hash(self, password: str) -> str:
        self.calls.append("hash")
        return str(self.inner.hash(password))

    def verify(self, password_hash: str, password: str) -> bool:
        self.calls.append("verify")
        return bool(self.inner.verify(password_hash, password))


def test_a_throttled_password_change_is_refused_before_any_hash(
        api: LiveService, monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrong current passwords on the change form count like failed logins; once they wait,
    a change is answered 429 at once: neither the current password is verified nor the new
    one hashed (argon2 is the expensive part a guesser would make the server pay for)."""
    name = new_user(api)
    with from_address(api, new_address()) as c:
        assert c.login(name, PASSWORD).status_code == 200
        for i in range(api.settings.login_max_failures):
            r = c.put("/api/v1/auth/password", json={"current_password": f"wrong-guess-{i}",
                                                     "new_password": GOOD_NEW_PASSWORD})
            assert r.status_code == 422, r.text
        hasher = CountingHasher(security._hasher)
        monkeypatch.setattr(security, "_hasher", hasher)
        r = c.put("/api/v1/auth/password", json={"current_password": PASSWORD,
                                                 "new_password": GOOD_NEW_PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1, r.text
        assert "登录失败次数过多" in r.json()["detail"]
        assert hasher.calls == []
        monkeypatch.undo()
    with from_address(api, new_address()) as c:  # unchanged
        assert c.login(name, PASSWORD).status_code == 200



# ------------------------------------------------------------ fair to the owner


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def per_address(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A service whose addresses may fail 4 times over all user names before they wait."""
    yield from service_on_backend(request, tmp_path_factory, "per_address",
                                  login_max_failures_per_ip=4)


def unknown_name() -> str:
    return f"nobody{uuid.uuid4().hex[:8]}"


def test_the_owner_logs_in_at_their_usual_address_whatever_others_failed(
        per_address: LiveService) -> None:
    """A service hall reaches the service from one NAT address. Someone there failing on any
    user names makes the hall's address wait (for names not used there), and a stranger
    elsewhere failing on the owner's name makes the stranger wait; the owner, at the address
    they log in from, gets in at once all the same."""
    svc = per_address
    owner, newcomer, hall, stranger = new_user(svc), new_user(svc), new_address(), new_address()
    with from_address(svc, hall) as c:
        assert c.login(owner, PASSWORD).status_code == 200  # the owner's usual address
    with from_address(svc, stranger) as c:  # until the stranger's address or pair waits
        allowed = min(svc.settings.login_max_failures, svc.settings.login_max_failures_per_ip)
        codes = [c.login(owner, f"guess-{i}").status_code for i in range(allowed + 1)]
        assert codes == [401] * allowed + [429]
    with from_address(svc, hall) as c:
        assert c.login(owner, PASSWORD).status_code == 200
    with from_address(svc, hall) as c:  # typos or a sprayer in the hall, over other names
        codes = [c.login(unknown_name(), "wrong-password-x").status_code
                 for _ in range(svc.settings.login_max_failures_per_ip + 1)]
        assert codes == [401] * svc.settings.login_max_failures_per_ip + [429]
        r = c.login(newcomer, PASSWORD)  # the address still waits for a name not used there
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert c.login(owner, PASSWORD).status_code == 200  # but not for its owner


def test_failures_on_the_owners_name_at_the_owners_address_still_count_for_the_address(
        per_address: LiveService) -> None:
    svc = per_address
    owner, hall = new_user(svc), new_address()
    with from_address(svc, hall) as c:
        assert c.login(owner, PASSWORD).status_code == 200
        allowed = svc.settings.login_max_failures_per_ip
        assert allowed < svc.settings.login_max_failures
        for i in range(allowed):
            assert c.login(owner, f"guess-{i}").status_code == 401
        assert c.login(unknown_name(), "wrong-password-x").status_code == 429
        assert c.login(owner, PASSWORD).status_code == 200
    assert any(e.after and e.after["scope"] == "address"
               for e in audited(svc, "auth.lockout", owner))


# ------------------------------------------------------------ IPv6


def in_network(prefix: str) -> str:
    """A random address of an IPv6 /64 (prefix: its first four groups, none of them 0)."""
    return prefix + ":" + ":".join(f"{random.randint(1, 0xFFFF):x}" for _ in range(4))


def test_an_ipv6_network_counts_as_one_address(api: LiveService) -> None:
    """A host picks any address of its /64: rotating through them is one address failing."""
    name = new_user(api)
    prefix = f"2001:db8:{random.randint(1, 0xFFFF):x}:{random.randint(1, 0xFFFF):x}"
    for i in range(api.settings.login_max_failures):
        with from_address(api, in_network(prefix)) as c:
            assert c.login(name, f"guess-{i}").status_code == 401
    with from_address(api, in_network(prefix)) as c:
        r = c.login(name, PASSWORD)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    [entry] = audited(api, "auth.lockout", name)
    assert entry.after and entry.after["counted_as"] == f"{prefix}::/64"
    assert entry.after["scope"] == "pair" and entry.after["ip"].startswith(prefix)
    other = f"2001:db8:{random.randint(1, 0xFFFF):x}:{random.randint(1, 0xFFFF):x}::1"
    with from_address(api, other) as c:  # another network is another address
        assert c.login(name, PASSWORD).status_code == 200


def test_an_ipv4_mapped_ipv6_address_counts_as_its_ipv4_address(api: LiveService) -> None:
    name, address = new_user(api), new_address()
    for i in range(api.settings.login_max_failures):
        with from_address(api, f"::ffff:{address}") as c:
            assert c.login(name, f"guess-{i}").status_code == 401
    with from_address(api, address) as c:
        assert c.login(name, PASSWORD).status_code == 429


@pytest.mark.parametrize(("address", "counted_as"), [
    ("198.18.3.4", "198.18.3.4"),
    ("::ffff:198.18.3.4", "198.18.3.4"),
    ("::ffff:c612:304", "198.18.3.4"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:DB8:1:2::ffff", "2001:db8:1:2::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("::1", "::/64"),
    ("unknown", "unknown"),
])
def test_what_an_address_is_counted_as(address: str, counted_as: str) -> None:
    assert address_key(address) == counted_as


# ------------------------------------------------------------ the audit log


def test_a_flood_of_wrong_passwords_writes_a_bounded_number_of_audit_entries(
        api: LiveService) -> None:
    """200 wrong passwords from one address, then 200 from as many addresses: each wait
    started is one entry, the refusals during a wait one more, with their count; every
    refused attempt is told of or still counted, none is lost."""
    name, address, n = new_user(api), new_address(), 200
    with from_address(api, address) as c:
        codes = [c.login(name, f"guess-{i}").status_code for i in range(n)]
    allowed = api.settings.login_max_failures
    assert set(codes) == {401, 429} and codes[:allowed] == [401] * allowed
    lockouts, throttled = audited(api, "auth.lockout", name), audited(api, "auth.throttled", name)
    # 200 sequential attempts take far less than the 2+4+8+…+1024 s that 10 waits would.
    assert 1 <= len(lockouts) == codes.count(401) - allowed + 1 <= 10
    assert 1 <= len(throttled) <= len(lockouts)
    assert refusals_told(throttled) + refusals_pending(api, name) == codes.count(429)

    spread = new_user(api)
    base = [int(part) for part in new_address().split(".")]
    codes = []
    for i in range(n):
        with from_address(api, f"198.{base[1]}.{(base[2] + i) % 256}.{base[3]}") as c:
            codes.append(c.login(spread, f"guess-{i}").status_code)
    allowed = api.settings.login_max_addresses_per_user
    assert codes[:allowed] == [401] * allowed and codes.count(429) >= n - allowed - 8
    lockouts = audited(api, "auth.lockout", spread)
    throttled = audited(api, "auth.throttled", spread)
    assert len(lockouts) + len(throttled) <= 20, (len(lockouts), len(throttled))
    assert refusals_told(throttled) + refusals_pending(api, spread) == codes.count(429)


def test_a_long_wait_is_audited_again_once_per_interval_with_its_count(
        api: LiveService) -> None:
    """Driven with a clock of the test's own through the service's database: a wait of an
    hour, refused attempts all along it."""
    settings = api.settings.model_copy(update={"login_delay_s": 3600.0,
                                               "login_max_delay_s": 3600.0})
    name, address, t0 = unknown_name(), new_address(), utcnow()

    def attempt(at_s: float) -> bool:
        """One attempt at t0 + at_s with a wrong password: False if it was refused."""
        with api.sessions() as session:
            try:
                charge = throttle.charge(session=session, settings=settings, username=name,
                                         ip=address, now=t0 + timedelta(seconds=at_s))
            except TooManyRequests:
                return False
            throttle.failed(session=session, charge=charge, now=t0 + timedelta(seconds=at_s))
            session.commit()
            return True

    assert all(attempt(i) for i in range(settings.login_max_failures))
    assert not any(attempt(10 + i) for i in range(100))  # 10 s … 109 s
    assert not attempt(10 + throttle.AUDIT_INTERVAL_S)  # an interval after the first refusal
    assert not attempt(20 + throttle.AUDIT_INTERVAL_S)
    throttled = sorted(audited(api, "auth.throttled", name), key=lambda e: e.id)
    assert [e.after["refused"] if e.after else None for e in throttled] == [{"pair": 1},
                                                                          {"pair": 100}]
    assert refusals_pending(api, name) == 1
    assert all(e.actor == f"address:{address}" for e in throttled)
    assert len(audited(api, "auth.lockout", name)) == 1


# ------------------------------------------------------------ rows that hold nothing


def throttle_rows(api: LiveService, *names_or_addresses: str) -> set[tuple[str, str, str]]:
    with api.sessions() as s:
        rows = s.execute(select(LoginThrottle.scope, LoginThrottle.username, LoginThrottle.ip)
                         .where(or_(LoginThrottle.username.in_(names_or_addresses),
                                    LoginThrottle.ip.in_(names_or_addresses))))
        return {(scope, username, ip) for scope, username, ip in rows}


def test_the_retention_run_forgets_throttle_rows_that_hold_nothing(api: LiveService) -> None:
    """Failures for a user name that does not exist leave rows that no login ever starts
    over: once their failures are forgotten (login_window_s) the retention run deletes them,
    telling the audit log of refusals not told of yet. A row in use, or marking an address
    its user logged in from lately, stays."""
    owner, home = new_user(api), new_address()
    with from_address(api, home) as c:
        assert c.login(owner, PASSWORD).status_code == 200
    ghost, haunt = unknown_name(), new_address()
    allowed = api.settings.login_max_failures
    with from_address(api, haunt) as c:
        codes = [c.login(ghost, "wrong-password-x").status_code for _ in range(allowed + 3)]
    assert codes == [401] * allowed + [429] * 3  # the first refusal audited, two counted
    recent, elsewhere = unknown_name(), new_address()
    with from_address(api, elsewhere) as c:
        assert c.login(recent, "wrong-password-x").status_code == 401
    ghost_rows = {("pair", ghost, haunt), ("address", "", haunt), ("account", ghost, "")}
    assert throttle_rows(api, ghost, haunt) == ghost_rows

    long_ago = utcnow() - timedelta(seconds=api.settings.login_window_s + 60)
    with api.sessions() as s:  # a day and a minute pass for all but `recent`
        s.execute(update(LoginThrottle).where(or_(
            LoginThrottle.username.in_([ghost, owner]), LoginThrottle.ip.in_([haunt, home])))
            .values(updated_at=long_ago, failed_at=long_ago, blocked_until=long_ago))
        s.execute(update(LoginThrottle).where(LoginThrottle.succeeded_at.is_not(None),
                                              LoginThrottle.username == owner)
                  .values(succeeded_at=long_ago))
        s.commit()
    r = api.client("admin").post("/api/v1/retention/run")
    assert r.status_code == 200, r.text

    assert throttle_rows(api, ghost, haunt) == set()
    assert throttle_rows(api, owner) == {("pair", owner, home)}  # still a known address
    assert throttle_rows(api, recent) == {("pair", recent, elsewhere), ("account", recent, "")}
    throttled = sorted(audited(api, "auth.throttled", ghost), key=lambda e: e.id)
    assert [e.after["refused"] if e.after else None for e in throttled] == [{"pair": 1},
                                                                          {"pair": 2}]
    assert throttled[-1].after and throttled[-1].after["forgotten"] is True
    assert throttled[-1].actor == "user:admin"

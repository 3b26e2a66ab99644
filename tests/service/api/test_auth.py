"""Logins, sessions, throttling, passwords, and the first admin from the command line.

The clients connect from 127.0.0.1, which the test service trusts as a proxy: a test plays
other client addresses with X-Forwarded-For (one that trusts no proxy checks the header is
ignored then)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from etiquette.service.core.config import Settings
from etiquette.service.models import AuditEntry, LoginThrottle, User

from factories.service import PASSWORD, Api
from service.conftest import LiveService, service_on_backend


def new_user(api: LiveService, role: str = "supervisor") -> str:
    name = f"u{uuid.uuid4().hex[:8]}"
    r = api.client("admin").post("/api/v1/users", json={"username": name, "password": PASSWORD,
                                                        "role": role})
    assert r.status_code == 201, r.text
    return name


def test_login_sets_an_httponly_samesite_cookie_and_passwords_are_argon2(api: LiveService) -> None:
    name = new_user(api)
    with Api(api.base_url) as c:
        r = c.login(name, PASSWORD)
        assert r.status_code == 200 and r.json()["user"]["role"] == "supervisor"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        assert c.get("/api/v1/auth/me").json()["user"]["username"] == name
        assert c.post("/api/v1/auth/logout").status_code == 200
        assert c.get("/api/v1/auth/me").status_code == 401
    with api.sessions() as s:
        stored = s.scalars(select(User.password_hash).where(User.username == name)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_wrong_password_unknown_user_and_garbage_cookie_are_401(api: LiveService) -> None:
    with Api(api.base_url) as c:
        assert c.login("supervisor", "wrong-password").status_code == 401
        assert c.login("nobody-here", PASSWORD).status_code == 401
        assert c.post("/api/v1/auth/login", json={"username": "x"}).status_code == 422
    with Api(api.base_url, cookies={"etiquette_session": "forged"}) as c:
        assert c.get("/api/v1/incidents").status_code == 401


def test_there_is_no_default_account(api: LiveService) -> None:
    with Api(api.base_url) as c:
        for name, password in (("admin", "admin"), ("admin", "changethis"), ("root", "root")):
            assert c.login(name, password).status_code == 401


def test_logins_are_rate_limited_per_user_name(api: LiveService) -> None:
    name = new_user(api)
    with Api(api.base_url) as c:
        for _ in range(api.settings.login_max_failures):
            assert c.login(name, "wrong-password").status_code == 401
        r = c.login(name, PASSWORD)  # even the right password, until the window passes
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert c.login("supervisor", PASSWORD).status_code == 200  # others are not locked out


def new_address() -> str:
    """A client address of its own for one test (198.18.0.0/15, the benchmarking range)."""
    return f"198.{random.randint(18, 19)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def from_address(api: LiveService, address: str) -> Api:
    return Api(api.base_url, headers={"X-Forwarded-For": address})


def audited(api: LiveService, action: str, username: str) -> list[AuditEntry]:
    with api.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action,
                                                       AuditEntry.target_id == username)))


def refusals_told(entries: list[AuditEntry]) -> int:
    """The refused attempts `auth.throttled` entries tell of."""
    return sum(n for e in entries if e.after for n in e.after["refused"].values())


def refusals_pending(api: LiveService, username: str) -> int:
    """Refused attempts counted on the throttle rows of a user name (its pairs and account),
    not audited yet. A refusal counts on each row that made it wait: one, in these tests."""
    with api.sessions() as s:
        return sum(s.scalars(select(LoginThrottle.refused).where(
            LoginThrottle.username == username)))


def test_parallel_wrong_passwords_are_mostly_refused_unchecked(api: LiveService) -> None:
    """30 wrong passwords at once from one address: the count is taken before each password is
    checked, in one transaction, so only the allowance (and one or two more, if the burst
    outlasts the first waits) is checked; the rest are 429 with Retry-After."""
    name, address, n = new_user(api), new_address(), 30
    clients = [from_address(api, address) for _ in range(n)]
    start = threading.Barrier(n)

    def attempt(c: Api) -> httpx.Response:
        start.wait(timeout=30)
        return c.login(name, "wrong-password-x")

    try:
        with ThreadPoolExecutor(n) as pool:
            answers = list(pool.map(attempt, clients))
    finally:
        for c in clients:
            c.close()
    codes = Counter(r.status_code for r in answers)
    assert set(codes) <= {401, 429}, codes
    allowed = api.settings.login_max_failures
    assert allowed <= codes[401] <= allowed + 2, codes
    throttled = [r for r in answers if r.status_code == 429]
    assert all(int(r.headers["retry-after"]) >= 1 for r in throttled)
    assert all("登录失败次数过多" in r.json()["detail"] for r in throttled)
    with api.sessions() as s:  # what was checked was counted, what was refused was not
        checked = s.scalars(select(LoginThrottle.failures).where(
            LoginThrottle.scope == "pair", LoginThrottle.username == name)).one()
    assert checked == codes[401]
    lockouts, throttled = audited(api, "auth.lockout", name), audited(api, "auth.throttled", name)
    assert lockouts and len(throttled) <= len(lockouts)  # refusals: one entry per wait at most
    assert refusals_told(throttled) + refusals_pending(api, name) == codes[429]


def test_a_strangers_failures_do_not_stop_the_owner(api: LiveService) -> None:
    """Wrong passwords from one address make that address wait, not the account: the owner
    logs in from another address at once."""
    name, stranger, owner = new_user(api), new_address(), new_address()
    with from_address(api, stranger) as c:
        codes = [c.login(name, f"guess-number-{i}").status_code for i in range(8)]
        assert codes == [401] * api.settings.login_max_failures + [429] * 3
        r = c.login(name, PASSWORD)  # even the right password waits there
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        form = c.get("/login")  # and on the workbench's login page
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        r = c.post("/login", data={"username": name, "password": PASSWORD,
                                   "csrf_token": token.group(1)})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "登录失败次数过多" in r.text
    with from_address(api, owner) as c:
        assert c.login(name, PASSWORD).status_code == 200
    lockouts = audited(api, "auth.lockout", name)
    assert lockouts and all(e.after and e.after["ip"] == stranger for e in lockouts)
    [throttled] = audited(api, "auth.throttled", name)  # the first refusal; 4 more counted
    assert throttled.actor == f"address:{stranger}"
    assert throttled.after and throttled.after["refused"] == {"pair": 1}
    assert refusals_pending(api, name) == 4


def test_a_guess_spread_over_addresses_slows_only_addresses_the_owner_does_not_use(
        api: LiveService) -> None:
    name, home = new_user(api), new_address()
    with from_address(api, home) as c:
        assert c.login(name, PASSWORD).status_code == 200  # the owner's usual address
    for _ in range(api.settings.login_max_addresses_per_user):
        with from_address(api, new_address()) as c:
            assert c.login(name, "wrong-password-x").status_code == 401
    with from_address(api, new_address()) as c:
        assert c.login(name, "wrong-password-x").status_code == 429
        r = c.login(name, PASSWORD)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    with from_address(api, home) as c:
        assert c.login(name, PASSWORD).status_code == 200
    assert any(e.after and e.after["scope"] == "account"
               for e in audited(api, "auth.lockout", name))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def untrusting(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A service that trusts no proxy, with a small allowance per address."""
    yield from service_on_backend(request, tmp_path_factory, "untrusting", seeded=False,
                                  trusted_proxies=[], login_max_failures_per_ip=3)


def test_x_forwarded_for_is_ignored_unless_from_a_trusted_proxy(untrusting: LiveService) -> None:
    """Each attempt claims another address; the service counts them all to the connection's."""
    names = [f"n{uuid.uuid4().hex[:8]}" for _ in range(4)]
    codes = []
    for name in names:
        with from_address(untrusting, new_address()) as c:
            codes.append(c.login(name, "wrong-password-x").status_code)
    assert codes == [401, 401, 401, 429]
    [entry] = audited(untrusting, "auth.throttled", names[-1])
    assert entry.after and entry.after["ip"] == "127.0.0.1"
    assert entry.after["scopes"] == ["address"]


def test_deactivating_a_user_ends_their_sessions(api: LiveService) -> None:
    name = new_user(api)
    with Api(api.base_url) as c:
        user_id = c.login(name, PASSWORD).json()["user"]["id"]
        r = api.client("admin").patch(f"/api/v1/users/{user_id}", json={"active": False})
        assert r.status_code == 200
        assert c.get("/api/v1/incidents").status_code == 401
        assert c.login(name, PASSWORD).status_code == 401


def test_password_change_and_rules(api: LiveService) -> None:
    name = new_user(api)
    with Api(api.base_url) as c:
        c.login(name, PASSWORD)
        assert c.put("/api/v1/auth/password",
                     json={"current_password": "wrong-one-123",
                           "new_password": "brand-new-pass-1"}).status_code == 422
        assert c.put("/api/v1/auth/password", json={"current_password": PASSWORD,
                                                    "new_password": "short"}).status_code == 422
        assert c.put("/api/v1/auth/password",
                     json={"current_password": PASSWORD,
                           "new_password": "brand-new-pass-1"}).status_code == 200
    with Api(api.base_url) as c:
        assert c.login(name, "brand-new-pass-1").status_code == 200
    admin = api.client("admin")
    assert admin.post("/api/v1/users", json={"username": "weak1", "password": "123",
                                             "role": "auditor"}).status_code == 422
    assert admin.post("/api/v1/users", json={"username": name, "password": PASSWORD,
                                             "role": "auditor"}).status_code == 409
    assert admin.post("/api/v1/users", json={"username": "s-no-staff", "password": PASSWORD,
                                             "role": "staff"}).status_code == 422
    me = admin.get("/api/v1/auth/me").json()["user"]["id"]
    assert admin.patch(f"/api/v1/users/{me}", json={"role": "auditor"}).status_code == 409
    assert admin.patch("/api/v1/users/999999", json={"active": False}).status_code == 404


def test_changing_ones_password_ends_the_other_sessions_but_not_this_one(
        api: LiveService) -> None:
    name, new_password = new_user(api), "Lantern-okra-Fjord-73"
    with Api(api.base_url) as here, Api(api.base_url) as elsewhere:
        assert here.login(name, PASSWORD).status_code == 200
        assert elsewhere.login(name, PASSWORD).status_code == 200
        r = here.put("/api/v1/auth/password", json={"current_password": PASSWORD,
                                                     "new_password": new_password})
        assert r.status_code == 200, r.text
        assert here.get("/api/v1/auth/me").json()["user"]["username"] == name
        assert elsewhere.get("/api/v1/auth/me").status_code == 401
    [entry] = audited_user(api, name, "user.password")
    assert entry.after == {"password": "changed", "sessions_ended": 1}
    with Api(api.base_url) as c:
        assert c.login(name, PASSWORD).status_code == 401
        assert c.login(name, new_password).status_code == 200


def audited_user(api: LiveService, username: str, action: str) -> list[AuditEntry]:
    with api.sessions() as s:
        user_id = s.scalars(select(User.id).where(User.username == username)).one()
    return audited(api, action, str(user_id))


@pytest.mark.parametrize(("password", "why"), [("password12", "常见密码"),
                                               ("qwertyuiop", "常见密码"),
                                               ("asdfghjkl;'", "键盘"),
                                               ("1234567890abc", "连续"),
                                               ("{name}2024", "用户名")])
def test_guessable_passwords_are_refused_with_the_reason_in_chinese(
        api: LiveService, password: str, why: str) -> None:
    name = f"user{uuid.uuid4().hex[:6]}"
    password = password.format(name=name)
    admin = api.client("admin")
    r = admin.post("/api/v1/users", json={"username": name, "password": password,
                                          "role": "auditor", "display_name": "测试"})
    assert r.status_code == 422 and "密码太容易被猜到" in r.json()["detail"], r.text
    assert why in r.json()["detail"], r.text
    assert admin.post("/api/v1/users", json={"username": name, "password": PASSWORD,
                                             "role": "auditor"}).status_code == 201
    with api.sessions() as s:
        user_id = s.scalars(select(User.id).where(User.username == name)).one()
    r = admin.patch(f"/api/v1/users/{user_id}", json={"password": password})  # an admin's reset
    assert r.status_code == 422 and why in r.json()["detail"], r.text
    with Api(api.base_url) as c:
        assert c.login(name, PASSWORD).status_code == 200
        r = c.put("/api/v1/auth/password", json={"current_password": PASSWORD,
                                                 "new_password": password})
        assert r.status_code == 422 and why in r.json()["detail"], r.text


def test_create_admin_from_the_command_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "etiquette.service", "users", "create-admin",
                               "--data-dir", str(tmp_path), *args], input=stdin, text=True,
                              capture_output=True, timeout=120)

    weak = run("--username", "boss", "--password-stdin", stdin="password12\n")
    assert weak.returncode == 1 and "密码太容易被猜到" in weak.stderr, weak.stderr
    ok = run("--username", "boss", "--password-stdin", stdin="Quiet-harbor-Tulip-58\n")
    assert ok.returncode == 0, ok.stderr
    # Without --password-stdin it prompts (twice, to confirm) and never falls back to a default.
    prompted = run("--username", "boss2", stdin="")
    assert prompted.returncode != 0


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "proxy.example", "10.0.0.300"])
def test_a_trusted_proxy_that_is_no_address_fails_at_start_up(tmp_path: Path, entry: str) -> None:
    with pytest.raises(ValidationError, match="trusted_proxies.*not an address or network"):
        Settings(data_dir=tmp_path, trusted_proxies=["127.0.0.1", entry])
    assert Settings(data_dir=tmp_path, trusted_proxies=["10.0.0.0/8", "fd00::/8"])

"""Logins, sessions, rate limiting, passwords, and the first admin from the command line."""

from __future__ import annotations

import subprocess
import sys
import uuid

from sqlalchemy import select

from etiquette.service.models import User

from factories.service import PASSWORD, Api
from service.conftest import LiveService


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


def test_create_admin_from_the_command_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "etiquette.service", "users", "create-admin",
                               "--data-dir", str(tmp_path), *args], input=stdin, text=True,
                              capture_output=True, timeout=120)

    assert run("--username", "boss", "--password-stdin", stdin="short\n").returncode == 1
    ok = run("--username", "boss", "--password-stdin", stdin="a-long-admin-pass\n")
    assert ok.returncode == 0, ok.stderr
    # Without --password-stdin it prompts (twice, to confirm) and never falls back to a default.
    prompted = run("--username", "boss2", stdin="")
    assert prompted.returncode != 0

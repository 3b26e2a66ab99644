"""Login throttling that a stranger cannot turn against an account's owner, that an attacker
cannot dodge (IPv6 addresses of one /64 count as one) nor use to flood the audit log, and
whose rows do not outlive their use.

The service runs in this process, so a test can watch what it computes (the password
hasher) and drive the throttle with a clock of its own through the same database."""

from __future__ import annotations

from typing import Any

import pytest

from etiquette.service.core import security

from factories.service import PASSWORD
from service.api.test_auth import from_address, new_address, new_user
from service.conftest import LiveService

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


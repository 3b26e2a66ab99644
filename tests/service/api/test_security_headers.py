"""What every answer tells the browser (CSP, frames, referrer, nosniff), pages without inline
script or style for the CSP to allow, and `Secure` cookies when the site is HTTPS: by the
setting, or by X-Forwarded-Proto from a trusted proxy only.

The test services trust 127.0.0.1 as a proxy (service.conftest.settings_for); a client bound
to 127.0.0.2 (still this machine's loopback) is an untrusted one."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from etiquette.service.security_headers import CSP

from factories.service import PASSWORD, Api, make_incident
from service.conftest import LiveService


def assert_hardened(r: httpx.Response) -> None:
    csp = r.headers.get("content-security-policy", "")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["frame-ancestors"] == "'none'", csp
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'", csp
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'", csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("who,path,status", [
    (None, "/login", 200),
    (None, "/incidents", 303),  # to the login page
    ("supervisor", "/incidents", 200),
    ("supervisor", "/no-such-page", 404),
    (None, "/api/v1/auth/me", 401),
    ("supervisor", "/api/v1/incidents", 200),
    (None, "/health/live", 200),
    (None, "/static/workbench.js", 200),
])
def test_every_answer_carries_the_security_headers(sqlite_service: LiveService, who: str | None,
                                                   path: str, status: int) -> None:
    r = sqlite_service.client(who).get(path, follow_redirects=False)
    assert r.status_code == status
    assert_hardened(r)


def test_a_post_refused_before_its_body_is_read_carries_them_too(
        sqlite_service: LiveService) -> None:
    r = sqlite_service.client().post("/api/v1/incidents", files={"incident": (None, b"{}")})
    assert r.status_code == 401
    assert_hardened(r)


def test_the_api_docs_are_under_the_same_policy_as_every_page(
        sqlite_service: LiveService) -> None:
    """Swagger UI comes from this site (issue 18, item 6): no CDN, no inline script allowed."""
    r = sqlite_service.client().get("/docs")
    assert r.status_code == 200 and r.headers["content-security-policy"] == CSP
    assert "http" not in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"


def test_the_pages_hold_no_inline_script_or_style(sqlite_service: LiveService) -> None:
    """Each page of the workbench, as the role that uses it sees it (the admin pages with an
    admin login), answers with its own page and the security headers; what the CSP forbids is
    not in any of them: a <script> without src, an on… handler, a javascript: link, a style
    attribute or element."""
    iid = make_incident(sqlite_service)
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:|\sstyle\s*="
                        r"|<style", re.IGNORECASE)
    pages = [(None, "/login", 200), (None, "/docs", 200),
             ("admin", "/incidents?status=pending", 200), ("admin", f"/incidents/{iid}", 200),
             ("staff1", f"/incidents/{iid}", 200),
             ("admin", "/reports", 200), ("admin", "/rules", 200), ("admin", "/scoring", 200),
             ("admin", "/webhooks", 200), ("admin", "/audit", 200), ("staff1", "/practice", 200),
             ("admin", "/no-such-page", 404)]
    for who, path, status in pages:
        r = sqlite_service.client(who).get(path, follow_redirects=False)
        assert r.status_code == status and "<html" in r.text, (path, r.status_code)
        assert_hardened(r)
        found = inline.findall(r.text)
        assert not found, (path, found)


# ---------------------------------------------------------------- Secure cookies


def cookies(r: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {h.split("=", 1)[0]: h for h in r.headers.get_list("set-cookie")}


def secure(header: str) -> bool:
    return any(a.strip().lower() == "secure" for a in header.split(";")[1:])


@pytest.fixture
def untrusted(sqlite_service: LiveService) -> Iterator[Api]:
    """A client from 127.0.0.2, which the service does not trust as a proxy."""
    with Api(sqlite_service.base_url,
             transport=httpx.HTTPTransport(local_address="127.0.0.2")) as client:
        yield client


def api_login(client: httpx.Client, **headers: str) -> httpx.Response:
    r = client.post("/api/v1/auth/login", json={"username": "auditor", "password": PASSWORD},
                    headers=headers)
    assert r.status_code == 200, r.text
    return r


def page_login(client: httpx.Client, **headers: str) -> tuple[httpx.Response, httpx.Response]:
    page = client.get("/login", headers=headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    r = client.post("/login", headers=headers, follow_redirects=False,
                    data={"username": "auditor", "password": PASSWORD,
                          "csrf_token": token.group(1), "next": "/incidents"})
    assert r.status_code == 303, r.text
    return page, r


def test_cookies_are_not_secure_over_plain_http(sqlite_service: LiveService) -> None:
    with Api(sqlite_service.base_url) as client:
        assert not secure(cookies(api_login(client))["etiquette_session"])
        page, r = page_login(client)
        assert not secure(cookies(page)["etiquette_login_csrf"])
        assert not secure(cookies(r)["etiquette_session"])
        assert "strict-transport-security" not in r.headers


def test_cookies_are_secure_by_the_setting(sqlite_service: LiveService,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_service.settings, "cookie_secure", True)  # read per request
    with Api(sqlite_service.base_url) as client:
        assert secure(cookies(api_login(client))["etiquette_session"])
        # httpx keeps a Secure cookie from going back over http: the form login sends its own.
        page = client.get("/login")
        assert secure(cookies(page)["etiquette_login_csrf"])


def test_cookies_are_secure_behind_a_trusted_https_proxy(sqlite_service: LiveService) -> None:
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with Api(sqlite_service.base_url) as client:  # 127.0.0.1: the trusted proxy
        r = api_login(client, **https)
        assert secure(cookies(r)["etiquette_session"])
        assert r.headers["strict-transport-security"].startswith("max-age=")
        page = client.get("/login", headers=https)
        assert secure(cookies(page)["etiquette_login_csrf"])
        # The proxy saying http, or a chain whose last hop says http, is plain HTTP.
        assert not secure(cookies(api_login(client, **{"X-Forwarded-Proto": "http"}))
                          ["etiquette_session"])
        assert not secure(cookies(api_login(client, **{"X-Forwarded-Proto": "https, http"}))
                          ["etiquette_session"])


def test_x_forwarded_proto_from_anyone_else_is_ignored(untrusted: Api) -> None:
    https = {"X-Forwarded-Proto": "https"}
    r = api_login(untrusted, **https)
    assert not secure(cookies(r)["etiquette_session"])
    assert "strict-transport-security" not in r.headers
    page, r = page_login(untrusted, **https)
    assert not secure(cookies(page)["etiquette_login_csrf"])
    assert not secure(cookies(r)["etiquette_session"])

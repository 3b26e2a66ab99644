"""What every response tells the browser, and whether the site is HTTPS behind a proxy.

Every page, API answer and evidence file carries a Content-Security-Policy (scripts and styles
from this site's /static only: the pages hold no inline script or style, so an injected one does
not run), `frame-ancestors 'none'` and X-Frame-Options (no other site frames the workbench),
`nosniff` (a file is only ever the type it is served as), a same-origin referrer policy and a
permissions policy that lends the microphone to this site's practice page only. The API docs
(/docs) are under the same policy: Swagger UI's files are served by this site, started by a
static script. A route's own header of the same name is kept.

Behind a reverse proxy that ends TLS the service sees plain HTTP from the proxy: its
X-Forwarded-Proto says whether the site is HTTPS (then cookies are `Secure` and HSTS is sent),
believed only from the addresses in `Settings.trusted_proxies`, as X-Forwarded-For is
(`etiquette.service.core.proxies`); anyone else sending it is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fastapi import FastAPI, Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from etiquette.service.core import proxies

CSP = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "media-src 'self'", "connect-src 'self'", "font-src 'self'", "object-src 'none'",
    "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
])
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), geolocation=(), microphone=(self)",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
HSTS = "max-age=31536000"


def is_https(scheme: str, peer: str | None, forwarded_proto: Iterable[str],
             trusted: Sequence[str]) -> bool:
    """Whether the client's request is HTTPS: it came over TLS, or a trusted proxy says so in
    the last X-Forwarded-Proto value (all header lines, in order)."""
    if scheme == "https":
        return True
    if not proxies.is_trusted(peer, trusted):
        return False
    protos = [p.strip().lower() for line in forwarded_proto for p in line.split(",") if p.strip()]
    return bool(protos) and protos[-1] == "https"


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP answer."""

    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[str] = ()) -> None:
        self.app, self.trusted_proxies = app, tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        https = is_https(scope.get("scheme", "http"), client[0] if client else None,
                         Headers(scope=scope).getlist("x-forwarded-proto"), self.trusted_proxies)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", CSP)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if https:
                    headers.setdefault("strict-transport-security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, trusted_proxies: Sequence[str]) -> None:
    """Add the middleware; added last, it is the outermost, so that its headers go on every
    answer, a 413 of the body limits included."""
    app.add_middleware(SecurityHeaders, trusted_proxies=trusted_proxies)


def secure_cookies(request: Request) -> bool:
    """Whether cookies set in answer to `request` must be `Secure`: the site is HTTPS by the
    setting `cookie_secure`, or this request came over HTTPS (directly, or as a trusted proxy
    says)."""
    settings = request.app.state.settings
    return bool(settings.cookie_secure) or is_https(
        request.url.scheme, request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-proto"), settings.trusted_proxies)

"""Request bodies bounded before they are read, and uploads refused before any byte is read.

One ASGI middleware around the app. Every request has a body limit: the uploads (ingest,
practice, the master-data import, a staff photo; matched by method and route path, so
/api/v1/staff/{id}/photo for any id) their own, from the settings; any other request
`max_body_bytes`. A body whose Content-Length is over the limit is answered 413 at once; one
sent without a Content-Length (chunked) is counted as it arrives and cut off with 413 where it
runs over.

The uploads also check the caller before the app reads anything, as their dependencies will
again after it: the pipeline's API key (ingest); the session, its CSRF token and the
permission (practice, import, photo); for practice, that the service has a recogniser and a
free recognition slot; for ingest and photo, a free decoding slot or room to wait for one. So
an unauthenticated or refused upload of any size costs at most its first chunk, and never
reaches python-multipart, which spools file parts to disk.

A response that starts while the client is still sending its body closes the connection
(`Connection: close`): the server would otherwise read the rest to discard it. A refused body
of at most one chunk is read first, so that a client that sends its whole request before
reading the answer gets the answer. A client that sends `Expect: 100-continue` (curl, for big
bodies) is refused before it sends any of its body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders, State
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from etiquette.service.api.deps import CSRF_HEADER, SESSION_COOKIE, logged_in, with_api_key
from etiquette.service.core.config import Settings
from etiquette.service.errors import DatabaseUnavailable, ServiceError, TooLarge, Unavailable
from etiquette.service.services.access import Permission
from etiquette.service.services.practice import UNAVAILABLE
from etiquette.service.services.slots import Slots

logger = logging.getLogger("etiquette.service.limits")
DRAIN_BYTES = 64 * 1024  # a refused body this small is read whole (one chunk of the server's)


def too_large(limit: int) -> str:
    return (f"请求内容过大，超过上限 {limit / 1024 / 1024:.1f} MB "
            f"(the request body exceeds the limit of {limit} bytes)")


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` where a body runs over its limit: the app answers it as any HTTP
    error (JSON for the API, the error page for the workbench)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


# What is checked before an upload's body is read: the caller, with a database session, and
# whether the work it asks for has a free slot. Raises a ServiceError (401, 403, 429, 503).
CallerCheck = Callable[[Session, HTTPConnection, State], None]


@dataclass(frozen=True)
class Upload:
    max_bytes: Callable[[Settings], int]
    checks: tuple[CallerCheck, ...]  # in this order: who is asking before anything else


def _pipeline(session: Session, conn: HTTPConnection, state: State) -> None:
    with_api_key(session, conn.headers.get("x-api-key"))


def _user_with(permission: Permission) -> CallerCheck:
    def check(session: Session, conn: HTTPConnection, state: State) -> None:
        principal = logged_in(session, conn.cookies.get(SESSION_COOKIE), conn.scope["method"],
                              conn.headers.get(CSRF_HEADER))
        principal.require(permission)

    return check


def _recogniser(session: Session, conn: HTTPConnection, state: State) -> None:
    if state.practice is None:
        raise Unavailable(UNAVAILABLE)


def _free(slots: str) -> CallerCheck:
    """A free slot of `state.<slots>`, or room to wait for one (the route takes it after the
    body is read)."""
    def check(session: Session, conn: HTTPConnection, state: State) -> None:
        held: Slots = getattr(state, slots)
        held.refuse_if_full()

    return check


# The uploads by method and route path, as the app declares them ({id}: one path segment).
UPLOADS: dict[tuple[str, str], Upload] = {
    ("POST", "/api/v1/incidents"): Upload(lambda s: s.ingest_max_body_bytes,
                                          (_pipeline, _free("decode_slots"))),
    ("POST", "/api/v1/practice/attempts"): Upload(
        lambda s: s.practice_max_body_bytes,
        (_user_with(Permission.PRACTICE), _recogniser, _free("practice_slots"))),
    ("POST", "/api/v1/masterdata/import"): Upload(lambda s: s.import_max_body_bytes,
                                                  (_user_with(Permission.MASTER_WRITE),)),
    ("PUT", "/api/v1/staff/{id}/photo"): Upload(
        lambda s: s.photo_max_body_bytes,
        (_user_with(Permission.MASTER_WRITE), _free("decode_slots"))),
}
_ROUTES = [(method, compile_path(path)[0], upload) for (method, path), upload in UPLOADS.items()]


def upload_for(method: str, path: str) -> Upload | None:
    """The upload a request's method and path (below the root path) make, if any."""
    return next((upload for m, pattern, upload in _ROUTES
                 if m == method and pattern.match(path)), None)


class _Body:
    """One request's body as the app receives it: counted against `limit`."""

    def __init__(self, scope: Scope, receive: Receive, limit: int) -> None:
        self.scope = scope
        self._receive = receive
        self.limit = limit
        headers = HTTPConnection(scope).headers
        try:
            self.declared: int | None = int(headers["content-length"])
        except (KeyError, ValueError):
            self.declared = None
        # A body is expected with a Content-Length above 0 or a chunked one.
        self.complete = (self.declared == 0 if self.declared is not None
                         else "transfer-encoding" not in headers)
        self.received = 0
        self.started = False

    async def receive(self) -> Message:
        if self.declared is not None and self.declared > self.limit:
            raise BodyTooLarge(self.limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
            if self.received > self.limit:
                logger.info("%s %s: body cut off at %d bytes (limit %d)", self.scope["method"],
                            self.scope["path"], self.received, self.limit)
                raise BodyTooLarge(self.limit)
        elif message["type"] == "http.disconnect":
            self.complete = True  # nothing more will come
        return message

    def sender(self, send: Send) -> Send:
        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.started = True
                if not self.complete:
                    MutableHeaders(scope=message)["connection"] = "close"
            await send(message)

        return send_closing

    async def refuse(self, send: Send, error: ServiceError) -> None:
        """Answer `error` without handing the request to the app."""
        if self.declared is not None and 0 < self.declared <= min(DRAIN_BYTES, self.limit):
            while not self.complete:  # bounded: the server delivers at most `declared` bytes
                await self.receive()
        response = JSONResponse({"detail": error.detail}, status_code=error.status_code,
                                headers=error.headers)
        await response(self.scope, self.receive, self.sender(send))


class BodyLimits:
    """The middleware; `state`: the app's (settings, sessionmaker, practice checker and slots),
    read at each request."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings: Settings = self.state.settings
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        upload = upload_for(scope["method"], path)
        limit = upload.max_bytes(settings) if upload else settings.max_body_bytes
        body = _Body(scope, receive, limit)
        if upload is not None:  # who is asking first: a stranger learns nothing of the limits
            try:
                await run_in_threadpool(self._check, upload, HTTPConnection(scope))
            except ServiceError as e:
                await body.refuse(send, e)
                return
        if body.declared is not None and body.declared > limit:
            await body.refuse(send, TooLarge(too_large(limit)))
            return
        try:
            await self.app(scope, body.receive, body.sender(send))
        except BodyTooLarge:
            if body.started:
                raise
            await body.refuse(send, TooLarge(too_large(limit)))

    def _check(self, upload: Upload, conn: HTTPConnection) -> None:
        try:
            with self.state.sessionmaker() as session:
                for check in upload.checks:
                    check(session, conn, self.state)
        except OperationalError as e:  # down, restarting or busy: retry, not a server error
            logger.warning("database unavailable for the caller check of %s: %s", conn.url.path,
                           next(iter(str(e.orig or e).splitlines()), ""))
            raise DatabaseUnavailable() from e

"""Request bodies bounded before they are read, and uploads refused before any byte is read.

One ASGI middleware around the app. Every request has a body limit: ingest, practice and the
master-data import their own (from the settings), any other request `max_body_bytes`. A body
whose Content-Length is over the limit is answered 413 at once; one sent without a
Content-Length (chunked) is counted as it arrives and cut off with 413 where it runs over.

The three upload routes also check the caller before the app reads anything, as their
dependencies will again after it: the pipeline's API key (ingest); the session, its CSRF token
and the permission (practice, import); for practice, that the service has a recogniser and a
free recognition slot. So an unauthenticated or refused upload of any size costs at most its
first chunk, and never reaches python-multipart, which spools file parts to disk.

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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from etiquette.service.api.deps import CSRF_HEADER, SESSION_COOKIE, logged_in, with_api_key
from etiquette.service.core.config import Settings
from etiquette.service.errors import DatabaseUnavailable, ServiceError, TooLarge, Unavailable
from etiquette.service.services.access import Permission
from etiquette.service.services.practice import UNAVAILABLE, PracticeSlots

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


# What is checked before an upload's body is read: the caller, with a database session.
# Raises a ServiceError (401, 403, 429, 503) to refuse it.
CallerCheck = Callable[[Session, HTTPConnection, State], None]


@dataclass(frozen=True)
class Upload:
    max_bytes: Callable[[Settings], int]
    check: CallerCheck


def _pipeline(session: Session, conn: HTTPConnection, state: State) -> None:
    with_api_key(session, conn.headers.get("x-api-key"))


def _user_with(permission: Permission) -> CallerCheck:
    def check(session: Session, conn: HTTPConnection, state: State) -> None:
        principal = logged_in(session, conn.cookies.get(SESSION_COOKIE), "POST",
                              conn.headers.get(CSRF_HEADER))
        principal.require(permission)

    return check


def _practice(session: Session, conn: HTTPConnection, state: State) -> None:
    _user_with(Permission.PRACTICE)(session, conn, state)
    if state.practice is None:
        raise Unavailable(UNAVAILABLE)
    slots: PracticeSlots = state.practice_slots
    slots.refuse_if_full()


UPLOADS: dict[tuple[str, str], Upload] = {
    ("POST", "/api/v1/incidents"): Upload(lambda s: s.ingest_max_body_bytes, _pipeline),
    ("POST", "/api/v1/practice/attempts"): Upload(lambda s: s.practice_max_body_bytes, _practice),
    ("POST", "/api/v1/masterdata/import"): Upload(lambda s: s.import_max_body_bytes,
                                                  _user_with(Permission.MASTER_WRITE)),
}


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
        upload = UPLOADS.get((scope["method"], path))
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
                upload.check(session, conn, self.state)
        except OperationalError as e:  # down, restarting or busy: retry, not a server error
            logger.warning("database unavailable for the caller check of %s: %s", conn.url.path,
                           next(iter(str(e.orig or e).splitlines()), ""))
            raise DatabaseUnavailable() from e

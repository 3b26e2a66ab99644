"""What the workbench's pages share: the templates (with the Chinese labels of `labels`), page
rendering in the display time zone, the logged-in user of a page, the forms' CSRF check, and
errors as pages.

Forms post with a CSRF token from the session; the login form, which has no session yet, uses
a double-submit cookie (routes/login.py). Pages of someone not logged in redirect to the login
page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from etiquette.core.presence.offpost import duration_text
from etiquette.service.api.deps import SESSION_COOKIE, SessionDep
from etiquette.service.core import security
from etiquette.service.core.config import Settings
from etiquette.service.errors import Forbidden, NotFound, Unauthorized, chinese
from etiquette.service.labels import (
    APPEAL_DECISION_NAMES,
    EVIDENCE_NAMES,
    HTTP_ERROR_NAMES,
    KIND_NAMES,
    PRESENCE_KINDS,
    ROLE_NAMES,
    SEVERITY_NAMES,
    SPEAKER_NAMES,
    STATUS_NAMES,
    incident_title,
    number,
)
from etiquette.service.services import auth, diff, review
from etiquette.service.services.access import Principal


def seconds_later(at: datetime, seconds: float) -> datetime:
    """When a span of `seconds` from `at` ends (an absence's return, on its incident's page)."""
    return at + timedelta(seconds=seconds)


templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")
templates.env.filters["num"] = number
templates.env.globals.update(STATUS_NAMES=STATUS_NAMES, KIND_NAMES=KIND_NAMES,
                             SEVERITY_NAMES=SEVERITY_NAMES, ROLE_NAMES=ROLE_NAMES,
                             SPEAKER_NAMES=SPEAKER_NAMES, EVIDENCE_NAMES=EVIDENCE_NAMES)
templates.env.globals.update(APPEAL_DECISION_NAMES=APPEAL_DECISION_NAMES,
                             PRESENCE_KINDS=PRESENCE_KINDS, incident_title=incident_title,
                             duration_text=duration_text, seconds_later=seconds_later)


def is_page(request: Request) -> bool:
    """Whether an error of this request is shown as a page (not answered as JSON)."""
    path = request.url.path
    return not path.startswith(("/api/", "/health", "/static/", "/docs", "/redoc", "/openapi"))


def render(request: Request, name: str, context: dict[str, Any],
           status_code: int = 200) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    zone = ZoneInfo(settings.display_timezone)

    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return value.astimezone(zone).strftime(fmt) if value else "—"

    context = {"local": local, "timezone": settings.display_timezone, **context}
    principal = context.get("principal")
    if isinstance(principal, Principal) and principal.user is not None:
        # The menu's counts of waiting work, on every page of someone logged in.
        with request.app.state.sessionmaker() as session:
            context["queue_counts"] = review.queue_counts(session=session, principal=principal)
        context["queue_poll_s"] = settings.queue_poll_s
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def error_page(request: Request, status_code: int, detail: str) -> Response:
    """Every error as a page, in Chinese only: a message's English is for the API's JSON."""
    if status_code == 401:
        return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", status_code=303)
    shown = chinese(detail) or HTTP_ERROR_NAMES.get(status_code, "服务出错，请稍后重试")
    return render(request, "error.html", {"status_code": status_code, "detail": shown,
                                          "principal": _logged_in_or_none(request)},
                  status_code=status_code)


def _logged_in_or_none(request: Request) -> Principal | None:
    """The logged-in user of a request that failed, so that its error page keeps the menu; None
    when there is none or it cannot be told (the error may be the database being down)."""
    try:
        with request.app.state.sessionmaker() as session:
            return auth.principal_from_session(session=session,
                                               token=request.cookies.get(SESSION_COOKIE))
    except SQLAlchemyError:
        return None


def page_user(request: Request, session: SessionDep) -> Principal:
    principal = auth.principal_from_session(session=session,
                                            token=request.cookies.get(SESSION_COOKIE))
    if principal is None:
        raise Unauthorized("请先登录")
    return principal


PageUser = Annotated[Principal, Depends(page_user)]


def check_csrf(principal: Principal, token: str) -> None:
    if not principal.csrf_token or not security.same(token, principal.csrf_token):
        raise Forbidden("表单已过期，请刷新页面后重试 (CSRF token missing or wrong)")


class _Version(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def yaml(self) -> str: ...


class VersionTable(Protocol):
    """A crud module of versions only ever added (crud.rules, crud.scoring)."""

    def current(self, *, session: Session) -> _Version | None: ...
    def get(self, *, session: Session, version_id: int) -> _Version | None: ...
    def list_versions(self, *, session: Session, offset: int = 0,
                      limit: int = 100) -> tuple[Sequence[_Version], int]: ...


def version_diff_page(request: Request, session: Session, principal: Principal,
                      table: VersionTable, *, what: str, base: str, none_yet: str,
                      old: int | None, new: int | None) -> Response:
    """Two versions of `table` side by side: by default the newest and the one before it.
    `what` names a version in the page and its errors, `none_yet` the error of an empty table."""
    newest = table.current(session=session)
    if newest is None:
        raise NotFound(none_yet)
    new_row = table.get(session=session, version_id=new or newest.id)
    old_row = table.get(session=session,
                        version_id=old or max(1, (new_row.id if new_row else 1) - 1))
    if new_row is None or old_row is None:
        raise NotFound(f"没有第 {new if new_row is None else old} 版{what}")
    history, _ = table.list_versions(session=session, limit=200)
    return render(request, "version_diff.html", {
        "principal": principal, "what": what, "base": base, "history": history,
        "old": old_row, "new": new_row, "rows": diff.side_by_side(old_row.yaml, new_row.yaml)})

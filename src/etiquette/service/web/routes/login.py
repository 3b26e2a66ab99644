"""Logging in and out of the workbench, and its home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from etiquette.service.api.deps import SESSION_COOKIE, SessionDep, SettingsDep, client_ip
from etiquette.service.api.routes.auth import set_session_cookie
from etiquette.service.core import security
from etiquette.service.errors import ServiceError
from etiquette.service.security_headers import secure_cookies
from etiquette.service.services import auth
from etiquette.service.web.pages import PageUser, check_csrf, render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "etiquette_login_csrf"
HOME = "/incidents?status=pending"  # a reviewer's day starts at the queue (待审核)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute URL or a scheme-relative //host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Annotated[str | None, Query(max_length=500)] = None,
               error: str | None = None) -> Response:
    # The login form has no session to take a CSRF token from: a double-submit cookie instead.
    token = security.new_token()
    response = render(request, "login.html", {"csrf_token": token, "next": _safe_next(next),
                                              "error": error, "principal": None})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login",
                        secure=secure_cookies(request))
    return response


@router.post("/login")
def login_submit(request: Request, session: SessionDep, settings: SettingsDep,
                 username: Annotated[str, Form(max_length=64)],
                 password: Annotated[str, Form(max_length=256)],
                 csrf_token: Annotated[str, Form(max_length=100)],
                 next: Annotated[str, Form(max_length=500)] = HOME) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not security.same(cookie, csrf_token):
        return login_page(request, next, "登录表单已过期，请重试")
    try:
        _, token, _ = auth.login(session=session, settings=settings, username=username,
                                 password=password, ip=client_ip(request))
    except ServiceError as e:
        response = login_page(request, next, e.detail.split(" (")[0])
        response.status_code = e.status_code
        response.headers.update(e.headers or {})  # a throttled attempt's Retry-After
        return response
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, token, settings, secure_cookies(request))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, principal: PageUser,
           csrf_token: Annotated[str, Form(max_length=100)]) -> Response:
    check_csrf(principal, csrf_token)
    auth.logout(session=session, token=request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse(HOME, status_code=303)

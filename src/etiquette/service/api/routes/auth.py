from __future__ import annotations

from fastapi import APIRouter, Request, Response

from etiquette.service.api.deps import (
    SESSION_COOKIE,
    CurrentUser,
    SessionDep,
    SettingsDep,
    client_ip,
)
from etiquette.service.schemas import (
    LoginRequest,
    LoginResponse,
    Message,
    PasswordChange,
    UserPublic,
)
from etiquette.service.security_headers import secure_cookies
from etiquette.service.services import auth, users

router = APIRouter(prefix="/auth", tags=["auth"])


def set_session_cookie(response: Response, token: str, settings: SettingsDep,
                       secure: bool) -> None:
    """`secure`: security_headers.secure_cookies of the request (HTTPS by setting or proxy)."""
    response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.session_hours * 3600),
                        httponly=True, samesite="lax", secure=secure, path="/")


@router.post("/login", response_model=LoginResponse,
             responses={401: {"model": Message}, 429: {"model": Message}})
def login(body: LoginRequest, request: Request, response: Response, session: SessionDep,
          settings: SettingsDep) -> LoginResponse:
    user, token, row = auth.login(session=session, settings=settings, username=body.username,
                                  password=body.password, ip=client_ip(request))
    set_session_cookie(response, token, settings, secure_cookies(request))
    return LoginResponse(user=UserPublic.model_validate(user, from_attributes=True),
                         csrf_token=row.csrf_token)


@router.post("/logout", response_model=Message)
def logout(request: Request, response: Response, session: SessionDep, _: CurrentUser) -> Message:
    auth.logout(session=session, token=request.cookies.get(SESSION_COOKIE, ""))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return Message(detail="logged out")


@router.get("/me", response_model=LoginResponse)
def me(principal: CurrentUser) -> LoginResponse:
    assert principal.user is not None and principal.csrf_token is not None
    return LoginResponse(user=UserPublic.model_validate(principal.user, from_attributes=True),
                         csrf_token=principal.csrf_token)


@router.put("/password", response_model=Message,
            responses={422: {"model": Message}, 429: {"model": Message}})
def change_password(body: PasswordChange, request: Request, session: SessionDep,
                    settings: SettingsDep, principal: CurrentUser) -> Message:
    """Ends the user's other sessions; this one stays logged in."""
    users.change_own_password(session=session, settings=settings, principal=principal,
                              current=body.current_password, new=body.new_password,
                              token=request.cookies.get(SESSION_COOKIE, ""), ip=client_ip(request))
    return Message(detail="password changed")

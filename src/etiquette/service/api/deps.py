"""Request dependencies as named types: the database session, settings, the evidence store,
and who is asking (a logged-in user with a CSRF-checked session, or a pipeline's API key)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader
from sqlalchemy.orm import Session

from etiquette.service.core import proxies, security
from etiquette.service.core.config import Settings
from etiquette.service.errors import Forbidden, Unauthorized
from etiquette.service.evidence_store import EvidenceStore
from etiquette.service.services import auth
from etiquette.service.services.access import Principal
from etiquette.service.services.forms import refuse_repeated_parts
from etiquette.service.services.practice import PracticeChecker, PracticeSlots
from etiquette.service.services.slots import DecodeSlots

SESSION_COOKIE = "etiquette_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                              description="set by POST /api/v1/auth/login; every POST/PUT/PATCH/"
                                          "DELETE also needs the X-CSRF-Token header it returned")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="a pipeline's API key (etq_…); it can only ingest")


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings  # set by create_app
    return settings


def get_store(request: Request) -> EvidenceStore:
    store: EvidenceStore = request.app.state.store
    return store


def get_practice(request: Request) -> PracticeChecker | None:
    """The practice checker injected into create_app; None: this service cannot judge practice."""
    checker: PracticeChecker | None = request.app.state.practice
    return checker


def get_practice_slots(request: Request) -> PracticeSlots:
    slots: PracticeSlots = request.app.state.practice_slots
    return slots


def get_decode_slots(request: Request) -> DecodeSlots:
    slots: DecodeSlots = request.app.state.decode_slots
    return slots


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[EvidenceStore, Depends(get_store)]
PracticeDep = Annotated[PracticeChecker | None, Depends(get_practice)]
PracticeSlotsDep = Annotated[PracticeSlots, Depends(get_practice_slots)]
DecodeSlotsDep = Annotated[DecodeSlots, Depends(get_decode_slots)]


def logged_in(session: Session, token: str | None, method: str, csrf: str | None) -> Principal:
    """The user of a session cookie; an unsafe `method` must send the session's CSRF token.
    Also called before a body is read (etiquette.service.api.limits).

    Raises:
      Unauthorized: no session, or an expired one.
      Forbidden: the CSRF token is missing or wrong.
    """
    principal = auth.principal_from_session(session=session, token=token)
    if principal is None:
        raise Unauthorized("请先登录 (not logged in, or the session has expired)")
    if method not in SAFE_METHODS:
        if not principal.csrf_token or not security.same(csrf or "", principal.csrf_token):
            raise Forbidden(f"CSRF token missing or wrong (send the {CSRF_HEADER} header)")
    return principal


def with_api_key(session: Session, key: str | None) -> Principal:
    """The pipeline of an API key. Raises Unauthorized: missing, unknown or revoked."""
    principal = auth.principal_from_api_key(session=session, key=key)
    if principal is None:
        raise Unauthorized("missing, unknown or revoked API key (X-API-Key)")
    return principal


def current_user(request: Request, session: SessionDep,
                 token: Annotated[str | None, Depends(session_cookie)] = None) -> Principal:
    return logged_in(session, token, request.method, request.headers.get(CSRF_HEADER))


def pipeline(session: SessionDep,
             key: Annotated[str | None, Depends(api_key_header)] = None) -> Principal:
    return with_api_key(session, key)


def user_or_pipeline(request: Request, session: SessionDep,
                     token: Annotated[str | None, Depends(session_cookie)] = None,
                     key: Annotated[str | None, Depends(api_key_header)] = None) -> Principal:
    """For what both may read (the rules in force): the API key if one is sent, else the login."""
    if key:
        return pipeline(session, key)
    return current_user(request, session, token)


CurrentUser = Annotated[Principal, Depends(current_user)]
Pipeline = Annotated[Principal, Depends(pipeline)]
UserOrPipeline = Annotated[Principal, Depends(user_or_pipeline)]


def client_ip(request: Request) -> str:
    """The client's address; X-Forwarded-For is believed only from `trusted_proxies`."""
    return proxies.client_address(request.client.host if request.client else None,
                                  request.headers.getlist("x-forwarded-for"),
                                  get_settings(request).trusted_proxies)


async def single_form_parts(request: Request) -> None:
    """An upload route's dependency: any form part sent twice is refused (422), whichever it
    is (the form is parsed once; FastAPI reads the same parsed form for the parameters)."""
    refuse_repeated_parts(name for name, _ in (await request.form()).multi_items())

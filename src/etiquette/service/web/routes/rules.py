"""The phrase rules (admins): the YAML in force, edited in place, saved as a new version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from etiquette.service.api.deps import SessionDep
from etiquette.service.crud import rules as crud_rules
from etiquette.service.errors import ServiceError
from etiquette.service.schemas import MAX_ID, RuleVersionCreate
from etiquette.service.services import rules as rules_service
from etiquette.service.services.access import Permission, Principal
from etiquette.service.web.pages import PageUser, check_csrf, render

router = APIRouter(include_in_schema=False)


def _rules_page(request: Request, session: Session, principal: Principal, *,
                text: str | None = None, comment: str = "", based_on: int | None = None,
                error: str | None = None, saved: int | None = None,
                status_code: int = 200) -> HTMLResponse:
    current = crud_rules.current(session=session)
    history, count = crud_rules.list_versions(session=session, limit=200)
    if based_on is None and current is not None:
        based_on = current.id
    return render(request, "rules.html", {
        "principal": principal, "current": current, "history": history, "count": count,
        "text": text if text is not None else (current.yaml if current else ""),
        "comment": comment, "based_on": based_on, "error": error, "saved": saved},
        status_code=status_code)


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, session: SessionDep, principal: PageUser,
               saved: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    principal.require(Permission.RULES_ADMIN)
    return _rules_page(request, session, principal, saved=saved)


@router.post("/rules")
def rules_submit(request: Request, session: SessionDep, principal: PageUser,
                 yaml: Annotated[str, Form(max_length=200_000)],
                 csrf_token: Annotated[str, Form(max_length=100)],
                 based_on: Annotated[int, Form(ge=1, le=MAX_ID)],
                 comment: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Save the edited YAML as a new version; on a bad edit, the same page with the error and
    the admin's text, so nothing typed is lost."""
    principal.require(Permission.RULES_ADMIN)
    check_csrf(principal, csrf_token)
    try:
        row = rules_service.create_version(session=session, principal=principal,
                                           body=RuleVersionCreate(yaml=yaml, comment=comment,
                                                                  based_on=based_on))
    except ServiceError as e:
        return _rules_page(request, session, principal, text=yaml.replace("\r\n", "\n"),
                           comment=comment, based_on=based_on, error=e.detail,
                           status_code=e.status_code)
    except ValidationError:
        return _rules_page(request, session, principal, text=yaml, comment=comment,
                           based_on=based_on, error="规则内容不能为空", status_code=422)
    return RedirectResponse(f"/rules?saved={row.id}", status_code=303)

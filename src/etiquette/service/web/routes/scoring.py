"""The scoring scheme: the version in force this month for readers of reports; admins edit it
as a new version effective from a month on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from etiquette.service.api.deps import SessionDep, SettingsDep
from etiquette.service.core.config import Settings
from etiquette.service.crud import scoring as crud_scoring
from etiquette.service.errors import ServiceError
from etiquette.service.schemas import MAX_ID, ScoringVersionCreate
from etiquette.service.services import scoring as scoring_service
from etiquette.service.services.access import Permission, Principal
from etiquette.service.web.pages import PageUser, check_csrf, render, version_diff_page

router = APIRouter(include_in_schema=False)


def _scoring_page(request: Request, session: Session, settings: Settings, principal: Principal,
                  *, text: str | None = None, effective_from: str | None = None,
                  comment: str = "", error: str | None = None, saved: int | None = None,
                  status_code: int = 200) -> HTMLResponse:
    month = scoring_service.current_month(settings)
    in_force, _ = scoring_service.in_force(session, month)
    newest = crud_scoring.current(session=session)
    history, count = crud_scoring.list_versions(session=session, limit=200)
    return render(request, "scoring.html", {
        "principal": principal, "month": str(month), "in_force": in_force, "history": history,
        "count": count, "text": text if text is not None else in_force.yaml,
        "effective_from": effective_from or str(month), "comment": comment, "error": error,
        "saved": saved, "based_on": newest.id if newest else "",
        "can_edit": principal.can(Permission.SCORING_ADMIN)}, status_code=status_code)


@router.get("/scoring", response_class=HTMLResponse)
def scoring_page(request: Request, session: SessionDep, settings: SettingsDep,
                 principal: PageUser,
                 saved: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    principal.require(Permission.REPORTS_READ)
    return _scoring_page(request, session, settings, principal, saved=saved)


@router.post("/scoring")
def scoring_submit(request: Request, session: SessionDep, settings: SettingsDep,
                   principal: PageUser, yaml: Annotated[str, Form(max_length=200_000)],
                   csrf_token: Annotated[str, Form(max_length=100)],
                   effective_from: Annotated[str, Form(max_length=7)],
                   based_on: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
                   comment: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Save the edited scheme; on a bad edit the same page with the error and the text."""
    principal.require(Permission.SCORING_ADMIN)
    check_csrf(principal, csrf_token)
    try:
        row = scoring_service.create_version(
            session=session, settings=settings, principal=principal,
            body=ScoringVersionCreate(yaml=yaml, effective_from=effective_from, comment=comment,
                                      based_on=based_on))
    except ServiceError as e:
        return _scoring_page(request, session, settings, principal,
                             text=yaml.replace("\r\n", "\n"), effective_from=effective_from,
                             comment=comment, error=e.detail, status_code=e.status_code)
    except ValidationError:
        return _scoring_page(request, session, settings, principal, text=yaml,
                             effective_from=effective_from, comment=comment,
                             error="内容不能为空，生效月份应为 YYYY-MM", status_code=422)
    return RedirectResponse(f"/scoring?saved={row.id}", status_code=303)


@router.get("/scoring/diff", response_class=HTMLResponse)
def scoring_diff(request: Request, session: SessionDep, principal: PageUser,
                 old: Annotated[int | None, Query(alias="from", ge=1, le=MAX_ID)] = None,
                 new: Annotated[int | None, Query(alias="to", ge=1, le=MAX_ID)] = None
                 ) -> Response:
    """Two versions side by side: by default the newest and the one before it."""
    principal.require(Permission.REPORTS_READ)
    return version_diff_page(request, session, principal, crud_scoring, what="评分方案",
                             base="/scoring", none_yet="尚无评分方案", old=old, new=new)

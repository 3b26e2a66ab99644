"""The audit log (auditors, admins): every change to incidents, users, rules and master data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from etiquette.service.api.deps import SessionDep
from etiquette.service.crud import audit
from etiquette.service.services.access import Permission
from etiquette.service.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, principal: PageUser,
               page: Annotated[int, Query(ge=1, le=100_000)] = 1,
               action: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    principal.require(Permission.AUDIT_READ)
    rows, count = audit.list_entries(session=session, action=action or None,
                                     offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render(request, "audit.html", {"principal": principal, "entries": rows, "count": count,
                                          "page": page, "pages": max(1, -(-count // PAGE_SIZE)),
                                          "action": action or ""})

"""The audit log (auditors, admins): every change to incidents, users, rules and master data,
in words (services/audit_text.py)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from etiquette.service.api.deps import SessionDep, SettingsDep
from etiquette.service.crud import audit
from etiquette.service.labels import ACTION_NAMES
from etiquette.service.services import audit_text
from etiquette.service.services.access import Permission
from etiquette.service.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, settings: SettingsDep,
               principal: PageUser, page: Annotated[int, Query(ge=1, le=100_000)] = 1,
               action: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    principal.require(Permission.AUDIT_READ)
    rows, count = audit.list_entries(session=session, action=action or None,
                                     offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                                     center_ids=principal.centers)
    lines = audit_text.lines(session, rows, ZoneInfo(settings.display_timezone))
    return render(request, "audit.html", {"principal": principal, "lines": lines, "count": count,
                                          "page": page, "pages": max(1, -(-count // PAGE_SIZE)),
                                          "action": action or "", "actions": ACTION_NAMES})

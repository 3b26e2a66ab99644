"""大厅态势: one tile per window of each center, kept live by the hall's event stream
(static/hall.js renders each `hall` event of /api/v1/hall/stream)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from etiquette.service.services.access import Permission
from etiquette.service.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)


@router.get("/hall", response_class=HTMLResponse)
def hall_page(request: Request, principal: PageUser) -> HTMLResponse:
    principal.require(Permission.HALL_READ)
    return render(request, "hall.html", {"principal": principal})

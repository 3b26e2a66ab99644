"""Staff self-training: the required phrases to record and the staff member's own history
(the recording itself is sent to the API by static/practice.js)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from etiquette.service.api.deps import PracticeDep, SessionDep
from etiquette.service.services import practice
from etiquette.service.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)


@router.get("/practice", response_class=HTMLResponse)
def practice_page(request: Request, session: SessionDep, checker: PracticeDep,
                  principal: PageUser) -> Response:
    """The required phrases to record, and the staff member's own practice history."""
    phrases = practice.phrases(session, principal)
    history, count = practice.history(session=session, principal=principal, limit=50)
    # The page says it at once rather than after a recording (Chinese only, as the login does).
    unavailable = practice.UNAVAILABLE.split(" (")[0] if checker is None else None
    return render(request, "practice.html", {"principal": principal, "phrases": phrases,
                                             "history": history, "count": count,
                                             "unavailable": unavailable})

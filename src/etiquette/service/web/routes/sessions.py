"""服务记录: the list of service sessions (by window and day) and one session as a timeline of
both channels, each utterance a bar at its time with its words below, the incidents on it
linked, talk time per side and the checks it passed and failed.

The timeline is SVG whose bars are placed by attributes (x, width), not by inline styles, so
the page needs nothing the Content-Security-Policy forbids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from etiquette.core.records import Speaker
from etiquette.core.session_records import CheckState
from etiquette.service.api.deps import SessionDep, SettingsDep
from etiquette.service.api.routes.incidents import day_start
from etiquette.service.crud.sessions import SessionFilter
from etiquette.service.labels import SPEAKER_NAMES
from etiquette.service.schemas import SessionPublic
from etiquette.service.services import sessions
from etiquette.service.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
WIDTH = 1000.0  # the timeline's SVG user units across the whole session
MIN_BAR = 2.0  # the narrowest bar drawn, so that a short 嗯 stays visible
CHECK_STATE_NAMES = {CheckState.PASSED: "通过", CheckState.FAILED: "未通过",
                     CheckState.NOT_JUDGED: "未判定（录音缺失）"}
ROWS = tuple((row, SPEAKER_NAMES[row]) for row in ("staff", "citizen"))


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    row: str  # staff, citizen, incidents
    title: str  # the tooltip: time and words
    href: str | None = None
    css: str = ""


def _bars(s: SessionPublic) -> list[Bar]:
    """Each utterance on its side's row and each incident on the incidents' row, placed in
    proportion to its offsets within the session."""
    span = max(s.end_s - s.offset_s, 1.0)

    def place(start: float, end: float) -> tuple[float, float]:
        x = min(max(0.0, (start - s.offset_s) / span * WIDTH), WIDTH - MIN_BAR)
        return round(x, 1), round(max(MIN_BAR, (end - start) / span * WIDTH), 1)

    bars = []
    for t in s.turns:
        row = "citizen" if t.speaker == Speaker.CITIZEN else "staff"
        words = t.text if t.text is not None else "（未转写）"
        at = f"{t.start_s - s.offset_s:.1f}–{t.end_s - s.offset_s:.1f} 秒"
        bars.append(Bar(*place(t.start_s, t.end_s), row=row, title=f"{at}：{words}",
                        css="untranscribed" if t.text is None else ""))
    for i in s.incident_list:
        bars.append(Bar(*place(i.offset_s, i.end_s), row="incidents", title=i.rule_name,
                        href=f"/incidents/{i.id}", css=f"sev-{i.severity}"))
    return bars


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def session_page(request: Request, session_id: str, session: SessionDep,
                 settings: SettingsDep, principal: PageUser) -> HTMLResponse:
    s = sessions.read(session=session, settings=settings, principal=principal,
                      session_id=session_id)

    def clock(offset_s: float) -> datetime:
        """The absolute time of an offset of the session's recording."""
        return s.start_at + timedelta(seconds=offset_s - s.offset_s)

    return render(request, "session.html", {
        "principal": principal, "s": s, "bars": _bars(s), "rows": ROWS, "width": WIDTH,
        "clock": clock, "state_names": CHECK_STATE_NAMES,
        "duration_s": (s.end_at - s.start_at).total_seconds()})


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, session: SessionDep, settings: SettingsDep,
                  principal: PageUser,
                  window: Annotated[str | None, Query(max_length=64)] = None,
                  day: Annotated[date | None, Query()] = None,
                  page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    """The sessions the user may see, newest first, by window (code or number) and day."""
    zone = ZoneInfo(settings.display_timezone)
    flt = SessionFilter(window_id=(window or "").strip() or None, date_from=day_start(day, zone),
                        date_to=day_start(day, zone, end=True))
    found = sessions.list_sessions(session=session, principal=principal, flt=flt,
                                   offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render(request, "sessions.html", {
        "principal": principal, "found": found, "window": window or "", "day": day,
        "page": page, "pages": max(1, -(-found.count // PAGE_SIZE))})

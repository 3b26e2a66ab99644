"""大厅态势: the live sites' heartbeats, and the hall they make, center by center.

Each live site posts every window's state every few seconds (etiquette.live.heartbeat); the
latest beat of each window is kept, one row per window. The hall is computed from those rows,
the master data and today's incidents whenever it is asked for: staleness is judged then,
against the site's own interval, so a window whose beats stop turns red without any event.
The page's stream recomputes it every `hall_refresh_s` for the same reason (and, like the
alerts, reads the database: a beat taken by any service process reaches every page).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from etiquette.health import HealthState
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import hall as crud
from etiquette.service.crud import master
from etiquette.service.labels import (
    HALL_REASONS,
    HALL_STATUS_NAMES,
    INPUT_PROBLEM_NAMES,
    KIND_NAMES,
    SEAT_NAMES,
)
from etiquette.service.models import Incident, Window, WindowHeartbeat
from etiquette.service.schemas import (
    HallCenter,
    HallIncident,
    HallPublic,
    HallStatus,
    HallWindow,
    HeartbeatIn,
    HeartbeatResult,
    WindowBeat,
)
from etiquette.service.services.access import Permission, Principal

logger = logging.getLogger("etiquette.service.hall")


def record(*, session: Session, settings: Settings, principal: Principal,
           beat: HeartbeatIn) -> HeartbeatResult:
    """Keep each window's state as its latest beat. A key of a center reports only that
    center's windows: a code of another center's window is refused, one of no window is
    unknown; both are answered, and the other windows are taken.

    Raises Forbidden: the principal is no pipeline.
    """
    principal.require(Permission.HEARTBEAT)
    key = principal.api_key
    center_id = key.center_id if key else None
    try:
        return _record(session, settings, beat, center_id, key.id if key else None)
    except IntegrityError:  # two first beats of a window at once: the second is an update
        session.rollback()
        return _record(session, settings, beat, center_id, key.id if key else None)


def _record(session: Session, settings: Settings, beat: HeartbeatIn, center_id: int | None,
            key_id: int | None) -> HeartbeatResult:
    now = utcnow()
    result = HeartbeatResult(accepted=[], unknown=[], refused=[])
    for code, state in beat.windows.items():
        window = master.window_by_code(session=session, code=code, center_id=center_id)
        if window is None:
            elsewhere = center_id is not None and crud.code_elsewhere(
                session=session, code=code, center_id=center_id)
            (result.refused if elsewhere else result.unknown).append(code)
            continue
        row = crud.beat(session=session, window_pk=window.id)
        if row is None:
            row = WindowHeartbeat(window_pk=window.id)
            session.add(row)
        seat = state.camera.seat.value if state.camera else None
        # The seat's time counts from its change, or from the return of a silent site.
        if row.received_at is None or row.seat != seat or _stale(row, settings, now):
            row.seat_since = now
        row.seat, row.received_at, row.interval_s = seat, now, beat.interval_s
        row.state, row.api_key_id = state.model_dump(mode="json"), key_id
        result.accepted.append(code)
    session.commit()
    if result.unknown or result.refused:
        logger.warning("heartbeat of key %s: unknown windows %s, refused (another center's) %s",
                       key_id, result.unknown, result.refused)
    return result


def _stale(row: WindowHeartbeat, settings: Settings, now: datetime) -> bool:
    return (now - row.received_at).total_seconds() > settings.hall_stale_beats * row.interval_s


def today(settings: Settings, now: datetime) -> tuple[datetime, datetime]:
    """Today in the display time zone, as a UTC range [start, end)."""
    zone = ZoneInfo(settings.display_timezone)
    day = now.astimezone(zone).date()
    return (datetime.combine(day, time(), zone).astimezone(UTC),
            datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC))


def build(*, session: Session, settings: Settings, principal: Principal,
          now: datetime | None = None) -> HallPublic:
    """Every active window of every center the principal sees: its inputs, seat and session
    as its latest beat tells, red with the reason where an input is down or the beats stopped,
    未接入 where none ever came; today's incidents and the latest of them."""
    principal.require(Permission.HALL_READ)
    now = now or utcnow()
    start, end = today(settings, now)
    beats = crud.beats(session=session)
    counts = crud.counts(session=session, start=start, end=end)
    latest = crud.latest(session=session, start=start, end=end)
    staff = crud.on_duty(session=session, at=now)
    centers: dict[int, HallCenter] = {}
    for w in crud.windows(session=session):
        if not principal.sees_center(w.center_id):
            continue
        center = centers.get(w.center_id)
        if center is None:
            center = centers[w.center_id] = HallCenter(
                id=w.center.id, code=w.center.code, name=w.center.name,
                counts=dict.fromkeys(HallStatus, 0), windows=[])
        tile = window_tile(w, beats.get(w.id), settings, now, counts.get(w.id, {}),
                           latest.get(w.id), staff.get(w.id))
        center.counts[tile.status] += 1
        center.windows.append(tile)
    day = now.astimezone(ZoneInfo(settings.display_timezone)).date().isoformat()
    return HallPublic(at=now, day=day, kind_names=KIND_NAMES, centers=list(centers.values()))


def window_tile(w: Window, beat: WindowHeartbeat | None, settings: Settings, now: datetime,
                today_counts: dict[str, int], last: Incident | None,
                staff_name: str | None) -> HallWindow:
    """One window's tile: its state and, when it is not green, why."""
    state = WindowBeat.model_validate(beat.state) if beat is not None else None
    stale = beat is not None and _stale(beat, settings, now)
    if beat is None:
        status, reasons = HallStatus.OFFLINE, [HALL_REASONS["offline"]]
    elif stale:
        status, reasons = HallStatus.ALERT, [HALL_REASONS["stale"]]
    else:
        assert state is not None
        status, reasons = _inputs(state)
    seat = state.camera.seat if state is not None and state.camera is not None else None
    return HallWindow(
        window_pk=w.id, code=w.code, number=w.number, department=w.department,
        staff_name=staff_name, status=status, status_name=HALL_STATUS_NAMES[status],
        reasons=reasons, last_beat_at=beat.received_at if beat else None,
        beat_age_s=_seconds(now, beat.received_at) if beat else None, stale=stale,
        seat=seat, seat_name=SEAT_NAMES[seat] if seat else None,
        seat_for_s=_seconds(now, beat.seat_since) if beat and seat and beat.seat_since else None,
        audio=state.audio if state else None, camera=state.camera if state else None,
        session_open=state.session_open if state else None,
        last_incident=_incident(last) if last else None, today=today_counts,
        today_total=sum(today_counts.values()))


def _inputs(state: WindowBeat) -> tuple[HallStatus, list[str]]:
    """What a fresh beat says is wrong: an input down (or no picture) is red, degraded amber."""
    problems: dict[str, HealthState] = dict(state.problems)
    if state.audio is not None and state.audio.state is not HealthState.OK:
        problems.setdefault("audio", state.audio.state)
    reasons = [INPUT_PROBLEM_NAMES.get((component, s.value), f"{component} 异常")
               for component, s in sorted(problems.items())]
    down = HealthState.DOWN in problems.values()
    # A camera that sends nothing (a replayed file at its end, a stream stalled without an
    # error) is as blind as one that is down.
    if state.camera is not None and state.camera.fps == 0 and "camera" not in problems:
        reasons.append(HALL_REASONS["no_picture"])
        down = True
    if down:
        return HallStatus.ALERT, reasons
    return (HallStatus.WARN if reasons else HallStatus.OK), reasons


def _incident(i: Incident) -> HallIncident:
    assert i.at is not None  # today's incidents are those with a time
    return HallIncident(id=i.id, kind=i.kind, kind_name=KIND_NAMES.get(i.kind, i.kind),
                        rule_name=i.rule_name, severity=i.severity, at=i.at,
                        url=f"/incidents/{i.id}")


def _seconds(now: datetime, then: datetime) -> float:
    return round(max(0.0, (now - then).total_seconds()), 1)


async def stream(factory: sessionmaker[Session], settings: Settings, principal: Principal,
                 disconnected: Callable[[], Any]) -> AsyncIterator[str]:
    """Server-sent events: `hall`, the whole hall as JSON, now and every `hall_refresh_s`."""
    def compute() -> str:
        with factory() as session:
            return build(session=session, settings=settings, principal=principal
                         ).model_dump_json()

    yield "retry: 3000\n\n"
    while not await disconnected():
        yield f"event: hall\ndata: {await run_in_threadpool(compute)}\n\n"
        await asyncio.sleep(settings.hall_refresh_s)

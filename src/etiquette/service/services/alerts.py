"""Immediate notice of serious incidents: the alert record, and the workbench's event stream.

The stream polls the database rather than listening inside the process: several service
processes may share one PostgreSQL database, and an incident ingested by any of them must
reach a supervisor connected to another. A poll a second is one indexed query per subscriber.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker
from starlette.concurrency import run_in_threadpool

from etiquette.core.records import Severity
from etiquette.service.core.db import utcnow
from etiquette.service.labels import KIND_NAMES, SEVERITY_NAMES, incident_title
from etiquette.service.models import Incident

SEVERITY_ORDER = [Severity.MINOR, Severity.MAJOR, Severity.CRITICAL]
LOOKBACK = timedelta(seconds=30)  # an ingest commits after it stamps received_at
HEARTBEAT_S = 15.0
MAX_SINCE = timedelta(minutes=5)


def at_least(severity: Severity) -> list[str]:
    return [s.value for s in SEVERITY_ORDER[SEVERITY_ORDER.index(severity):]]


def payload(incident: Incident) -> dict[str, Any]:
    """What an alert says: enough to walk to the window, no staff name, no transcript."""
    window = incident.window
    return {
        "id": incident.id, "kind": incident.kind,
        "kind_name": KIND_NAMES.get(incident.kind, incident.kind),
        "title": incident_title(incident.kind, incident.rule_name),
        "rule_id": incident.rule_id, "rule_name": incident.rule_name, "severity": incident.severity,
        "severity_name": SEVERITY_NAMES.get(incident.severity, incident.severity),
        "window_id": incident.window_id, "window_number": window.number if window else None,
        "department": window.department if window else None,
        "center": incident.center.name if incident.center else None,
        "at": (incident.at or incident.received_at).isoformat(),
        "received_at": incident.received_at.isoformat(), "url": f"/incidents/{incident.id}"}


def recent(session: Session, since: datetime, severities: list[str],
           centers: frozenset[int] | None = None) -> list[Incident]:
    """`centers`: only those centers' incidents (a center-limited user's; None: every one)."""
    query = select(Incident).where(Incident.received_at >= since,
                                   Incident.severity.in_(severities))
    if centers is not None:
        query = query.where(Incident.center_id.in_(sorted(centers)))
    return list(session.scalars(
        query.options(selectinload(Incident.window), selectinload(Incident.center))
        .order_by(Incident.received_at, Incident.id).limit(200)).all())


async def stream(factory: sessionmaker[Session], severities: list[str], poll_s: float,
                 disconnected: Callable[[], Any], since: datetime | None = None,
                 centers: frozenset[int] | None = None) -> AsyncIterator[str]:
    """Server-sent events: `incident` for each new incident of `severities` (and `centers`)
    ingested after the subscriber connected (or `since`, at most MAX_SINCE back); a comment
    line now and then keeps proxies from closing the stream."""
    now = utcnow()
    started = min(now, max(since, now - MAX_SINCE)) if since else now
    sent: OrderedDict[str, None] = OrderedDict()
    yield "retry: 3000\n: subscribed\n\n"
    quiet = 0.0
    window_start = started
    while not await disconnected():
        def poll(since: datetime) -> list[dict[str, Any]]:
            with factory() as session:
                return [payload(i) for i in recent(session, since, severities, centers)
                        if i.id not in sent]

        polled_at = utcnow()
        found = await run_in_threadpool(poll, window_start)
        # The next poll looks a little back again: an incident stamped before this poll may
        # commit after it.
        window_start = max(started, polled_at - LOOKBACK)
        for event in found:
            sent[event["id"]] = None
            if len(sent) > 1000:
                sent.popitem(last=False)
            data = json.dumps(event, ensure_ascii=False)
            yield f"id: {event['id']}\nevent: incident\ndata: {data}\n\n"
            quiet = 0.0
        await asyncio.sleep(poll_s)
        quiet += poll_s
        if quiet >= HEARTBEAT_S:
            yield ": keep-alive\n\n"
            quiet = 0.0

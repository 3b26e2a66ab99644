"""When absence counts: service hours on the center's wall clock, less declared pauses.

Everything here maps wall-clock rules onto offsets of one source: a source that began at
`started` (UTC) and lasts `duration_s` seconds gets its service time as spans of offsets.
Pure functions: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from etiquette.core.presence.records import DeclaredPause
from etiquette.core.presence.rules import PauseStatus, ServiceHours

Span = tuple[float, float]
OUTSIDE_HOURS = "非服务时间"


def normalise(spans: Iterable[Span]) -> list[Span]:
    """Sorted, non-empty, merged spans."""
    out: list[Span] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def intersect(a: Iterable[Span], b: Iterable[Span]) -> list[Span]:
    a, b = normalise(a), normalise(b)
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Iterable[Span], b: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    cuts = normalise(b)
    for lo, hi in normalise(a):
        for c_lo, c_hi in cuts:
            if c_hi <= lo or c_lo >= hi:
                continue
            if c_lo > lo:
                out.append((lo, c_lo))
            lo = max(lo, c_hi)
            if lo >= hi:
                break
        if lo < hi:
            out.append((lo, hi))
    return out


def total(spans: Iterable[Span]) -> float:
    return sum(b - a for a, b in normalise(spans))


def _offset(started: datetime, moment: datetime) -> float:
    return (moment - started).total_seconds()


def service_spans(hours: ServiceHours, started: datetime | None, duration_s: float) -> list[Span]:
    """The parts of [0, duration_s] that fall in service hours.

    A source whose start time is unknown is taken to be all service time: better to show a
    reviewer an absence that might have been at lunch than to hide one that was not.
    """
    if started is None:
        return [(0.0, duration_s)] if duration_s > 0 else []
    if started.tzinfo is None:
        raise ValueError("the start time of a source must be timezone-aware")
    zone = hours.zone
    first = started.astimezone(zone).date() - timedelta(days=1)
    last = (started + timedelta(seconds=duration_s)).astimezone(zone).date()
    spans: list[Span] = []
    day = first
    while day <= last:
        if day.isoweekday() in hours.days:
            for p in hours.periods:
                lo = _offset(started, datetime.combine(day, p.start, zone))
                hi = _offset(started, datetime.combine(day, p.end, zone))
                spans.append((max(0.0, lo), min(duration_s, hi)))
        day += timedelta(days=1)
    return normalise(spans)


@dataclass(frozen=True)
class PauseSpan:
    status: str
    span: Span


def pause_spans(pauses: Sequence[DeclaredPause], statuses: dict[str, PauseStatus], window_id: str,
                started: datetime | None, duration_s: float) -> list[PauseSpan]:
    """Declared pauses of `window_id` as offsets, each cut to its status's longest allowed time.

    Raises:
      ValueError: a pause with a status the rules do not define (it would excuse nothing, and
        a typo must not silently turn a meeting into 离岗).
    """
    out: list[PauseSpan] = []
    for p in pauses:
        if p.window_id != window_id:
            continue
        if p.status not in statuses:
            raise ValueError(f"declared pause status {p.status!r} is not one of the presence "
                             f"rules' pauses: {', '.join(statuses) or '(none)'}")
        if started is None:
            continue  # wall-clock pauses cannot be placed in a source of unknown start
        lo, hi = _offset(started, p.start), _offset(started, p.end)
        limit = statuses[p.status].max_s
        if limit is not None:
            hi = min(hi, lo + limit)
        lo, hi = max(0.0, lo), min(duration_s, hi)
        if hi > lo:
            out.append(PauseSpan(p.status, (lo, hi)))
    return out


def weigh(span: Span, service: Sequence[Span], pauses: Sequence[PauseSpan],
          excusing: Iterable[str] | None = None) -> tuple[list[Span], list[tuple[str, float]]]:
    """What of `span` counts against a rule: its part in service hours less the declared
    pauses (only those whose status is in `excusing`, where given); and what does not, as
    (reason, seconds)."""
    allowed = None if excusing is None else set(excusing)
    in_service = intersect([span], service)
    excused: list[tuple[str, float]] = []
    outside = total([span]) - total(in_service)
    if outside > 0:
        excused.append((OUTSIDE_HOURS, outside))
    counted = in_service
    for p in pauses:
        if allowed is not None and p.status not in allowed:
            continue
        before = total(counted)
        counted = subtract(counted, [p.span])
        if total(counted) < before:
            excused.append((p.status, before - total(counted)))
    return counted, excused

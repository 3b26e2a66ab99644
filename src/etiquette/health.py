"""Health events: what an operator needs to know about inputs and outputs while a site runs.

A microphone that disappears, a camera stream that drops, a recogniser that falls behind, a
supervision API that is down: each is reported as an event (logged, counted in the metrics)
and the other windows go on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

logger = logging.getLogger("etiquette.health")


class HealthState(StrEnum):
    OK = "ok"  # working (again)
    DEGRADED = "degraded"  # working with a problem (lagging, retrying)
    DOWN = "down"  # not working; being reopened or retried


@dataclass(frozen=True)
class HealthEvent:
    component: str  # "audio", "camera", "recogniser", "outbox", …
    state: HealthState
    message: str
    window_id: str | None = None  # None: the whole process
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


HealthCallback = Callable[[HealthEvent], None]


def log_health(event: HealthEvent) -> None:
    """The default callback: one log line per event, at a level that matches its state."""
    level = {HealthState.OK: logging.INFO, HealthState.DEGRADED: logging.WARNING,
             HealthState.DOWN: logging.ERROR}[event.state]
    logger.log(level, "%s %s%s: %s", event.component, event.state.value,
               f" [{event.window_id}]" if event.window_id else "", event.message)


class HealthReporter:
    """One component's health: each change of state is reported once (not every retry of an
    outage), and a faulty callback never takes the component down with it."""

    def __init__(self, component: str, on_health: HealthCallback | None,
                 window_id: str | None = None, state: HealthState | None = None) -> None:
        self.component, self.on_health, self.window_id = component, on_health, window_id
        self.state = state  # None: nothing reported yet
        self._lock = threading.Lock()

    def report(self, state: HealthState, message: str) -> None:
        with self._lock:
            if state is self.state:
                return
            self.state = state
        if self.on_health is None:
            return
        try:
            self.on_health(HealthEvent(self.component, state, message, self.window_id))
        except Exception:  # noqa: BLE001
            logger.exception("%s health callback failed", self.component)

"""The site's heartbeat: each window's state, as the control port's /health shows it, sent to
the supervision service every few seconds, so that the office sees every hall (大厅态势)
without reaching each site's control port.

A thread of its own posts the beats with the pipeline's API key (the key and URL the outbox
uses). A service that is down, slow or refusing costs a log line, never the pipeline: nothing
is queued, the next beat simply carries the state of then. The service shows a window whose
beats stop as 心跳中断.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from etiquette.live.engine import LiveSite, WindowRunner

logger = logging.getLogger("etiquette.live.heartbeat")

HEARTBEAT_PATH = "/api/v1/heartbeats"


def window_state(w: WindowRunner) -> dict[str, Any]:
    """One window's inputs and session: microphone state and level, the seat the camera sees
    and its frame rate, whether a service session is open, what is not OK."""
    stats = w.audio_stats
    return {
        "audio": None if stats is None else {
            "state": str(stats.state), "level_dbfs": round(stats.level_dbfs, 1),
            "stream_s": round(stats.stream_time_s, 1)},
        "camera": None if w.presence is None else {
            "seat": w.presence.state.value, "fps": round(w.presence.fps, 2)},
        "session_open": bool(w.monitor and w.monitor.stats.session_open),
        "problems": {k: v.value for k, v in w.health.items() if v.value != "ok"},
    }


def window_states(site: LiveSite) -> dict[str, dict[str, Any]]:
    """Every window's state by its id: what /health shows and each heartbeat sends."""
    return {w.id: window_state(w) for w in site.windows.values()}


class Heartbeat:
    """Posts `window_states` every `interval_s` until `stop()`."""

    def __init__(self, site: LiveSite, url: str, api_key: str, interval_s: float,
                 client: httpx.Client | None = None) -> None:
        self.site, self.interval_s = site, interval_s
        self.url = url.rstrip("/") + HEARTBEAT_PATH
        # A slow answer delays the next beat, never the pipeline (this thread is the beats' own).
        self._client = client or httpx.Client(timeout=max(5.0, interval_s),
                                              headers={"X-API-Key": api_key})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failing = False  # the last beat was not taken (an outage is logged once)
        self._ignored: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self.sent = 0  # beats the service took

    def beat(self) -> bool:
        """One beat; whether the service took it. Never raises for the service's sake."""
        body = {"interval_s": self.interval_s, "windows": window_states(self.site)}
        try:
            response = self._client.post(self.url, json=body)
        except httpx.HTTPError as e:
            return self._failed(f"{type(e).__name__}: {e}")
        if response.status_code != 200:
            return self._failed(f"HTTP {response.status_code}: {response.text[:300]}")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        ignored = (tuple(answer.get("unknown") or ()), tuple(answer.get("refused") or ()))
        if ignored != self._ignored and any(ignored):  # told once, not at every beat
            logger.warning("heartbeat: the service knows no windows %s and refuses %s (another "
                           "center's) for this key", ", ".join(ignored[0]) or "-",
                           ", ".join(ignored[1]) or "-")
        self._ignored = ignored
        if self.failing:
            logger.info("heartbeat: the service takes beats again")
            self.failing = False
        self.sent += 1
        return True

    def _failed(self, why: str) -> bool:
        if not self.failing:
            logger.warning("heartbeat to %s failed (%s); trying again every %g s", self.url,
                           why, self.interval_s)
            self.failing = True
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception:  # a bug here must not end the beats, nor anything else
                logger.exception("heartbeat failed")
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval_s + 2.0)
        self._client.close()

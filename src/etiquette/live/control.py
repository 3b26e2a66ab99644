"""The running site's own HTTP face: Prometheus metrics, health, and 叫号 events.

The queue-calling system (叫号机) posts each call here; it ends the session in progress at that
window, so greeting and farewell are judged per citizen even when one follows another without
a pause. Bind it to 127.0.0.1 or a management network: it has no login of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI, HTTPException, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from etiquette.live.heartbeat import window_states

if TYPE_CHECKING:
    from etiquette.live.engine import LiveSite

logger = logging.getLogger("etiquette.live.control")


class QueueCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_id: str = Field(min_length=1, max_length=64, description="the window that called")
    ticket: str | None = Field(None, min_length=1, max_length=32,
                               description="the number called: the next session's ticket")
    at: datetime | None = Field(None, description="when it was called (for the log)")


def create_control_app(site: LiveSite) -> FastAPI:
    app = FastAPI(title="etiquette live", description="运行中的实时监测：指标、健康状态、叫号")

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(site.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Each window's inputs and session, the recogniser's backlog and where it transcribes,
        the outbox."""
        outbox = None
        if site.outbox is not None:
            outbox = {"state": site.outbox.state.value, "pending": site.outbox.pending(),
                      "held": site.outbox.held(), "last_error": site.outbox.stats.last_error}
        return {"windows": window_states(site), "outbox": outbox,
                "recogniser": {"backlog_s": round(site.recogniser.backlog_s, 1),
                               "lag_s": round(site.recogniser.lag_s, 1),
                               **recognition_state(site)}}

    @app.post("/api/v1/queue-calls", status_code=202)
    def queue_call(call: QueueCall) -> dict[str, str]:
        """叫号: the session in progress at the window ends; the next one starts with speech."""
        try:
            site.call_next(call.window_id, call.ticket)
        except KeyError:
            raise HTTPException(404, f"本站点没有窗口 {call.window_id}") from None
        logger.info("queue call at %s (ticket %s)", call.window_id, call.ticket or "-")
        return {"window_id": call.window_id, "status": "session closed"}

    return app


def recognition_state(site: LiveSite) -> dict[str, Any]:
    """The recognition backend, and with a shared pool whether the site is on it or on its own
    model (its fallback) and since when, the utterances each transcribed, the pool's model
    settings and how the site's own model differs from them."""
    pool = site.pool
    if pool is None:
        return {"backend": "local", "address": None, "on": "local", "since": None,
                "utterances": {"pool": 0, "local": site.recogniser.stats.utterances}}
    s = pool.status()
    return {"backend": "ray", "address": pool.address, "on": "pool" if s.on_pool else "local",
            "since": s.since.isoformat(), "utterances": {"pool": s.pool, "local": s.local},
            "pool_failures": s.failures, "pool": s.settings, "differs": list(s.differs)}


class ServerThread:
    """An ASGI app served by uvicorn in a thread of its own (the control server; the embedded
    supervision service of the demo). `port` 0 takes any free port (see `url`)."""

    def __init__(self, app: Any, host: str, port: int, name: str) -> None:
        # Forwarded headers: the supervision service believes its own trusted_proxies only.
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                proxy_headers=False)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name=name, daemon=True)
        self.host, self.name = host, name

    def start(self, timeout_s: float = 30.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} server did not start on {self.host} "
                                   f"(port in use?)")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://{self.host}:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10.0)

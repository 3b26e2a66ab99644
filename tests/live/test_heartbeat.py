"""A running site's heartbeat reaches the supervision service's hall, and a service that goes
down costs the site nothing: the beats fail, the windows go on, the beats come back."""

from __future__ import annotations

import logging
import time
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from etiquette.live.engine import build_site
from etiquette.live.heartbeat import window_states
from etiquette.live.site import load_site

from service.conftest import seed, settings_for, start_service, stop_service

pytestmark = pytest.mark.slow


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.1)


def test_a_site_beats_to_the_hall_and_outlives_the_services_outage(
        tmp_path: Path, recogniser, caplog: pytest.LogCaptureFixture) -> None:
    service = start_service(settings_for(tmp_path / "service"), "sqlite")
    seed(service)
    path = tmp_path / "site.yaml"
    # Silence, replayed again and again: the windows run without keeping the recogniser busy.
    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(4 * 16000 * 2))
    recording = {"file": str(silence), "loop": True, "loop_gap_s": 0}
    path.write_text(yaml.safe_dump({
        "center": {"code": "nc"}, "data_dir": str(tmp_path / "live"),
        "supervision": {"url": service.base_url, "api_key": service.api_key,
                        "heartbeat_s": 0.5},
        "windows": [{"id": "w-a", "audio": recording},
                    {"id": "w-unknown", "audio": recording}]}), encoding="utf-8")
    site = build_site(load_site(path), recogniser=recogniser)
    assert site.heartbeat is not None
    supervisor = service.client("supervisor")

    def tile() -> dict:
        center = next(c for c in supervisor.get("/api/v1/hall").json()["centers"]
                      if c["code"] == "nc")
        return next(w for w in center["windows"] if w["code"] == "w-a")

    caplog.set_level(logging.INFO, logger="etiquette.live.heartbeat")
    site.start()
    try:
        wait_for(lambda: tile()["status"] == "ok" and tile()["audio"]["stream_s"] > 0,
                 "w-a green in the hall with its microphone's stream")
        assert tile()["seat"] is None and tile()["session_open"] in (True, False)
        assert set(window_states(site)) == {"w-a", "w-unknown"}  # what /health shows too
        assert sum("knows no windows w-unknown" in r.message for r in caplog.records) == 1

        port = int(service.base_url.rsplit(":", 1)[1])
        logged = len(caplog.records)
        stop_service(service)
        wait_for(lambda: site.heartbeat is not None and site.heartbeat.failing,
                 "a beat failing while the service is down")
        def heard_s() -> float:
            stats = site.windows["w-a"].audio_stats
            return stats.stream_time_s if stats is not None else 0.0

        before = heard_s()
        wait_for(lambda: heard_s() > before + 1, "the window going on meanwhile")
        sent = site.heartbeat.sent
        service = start_service(service.settings, "sqlite", port=port)
        wait_for(lambda: site.heartbeat is not None and site.heartbeat.sent > sent
                 and not site.heartbeat.failing, "beats taken again")
        outage = [r.message for r in caplog.records[logged:]]
        # An outage is logged once, and its end, not every beat.
        assert sum("heartbeat to" in m and "failed" in m for m in outage) == 1, outage
        assert sum("takes beats again" in m for m in outage) == 1, outage
    finally:
        site.stop()
        stop_service(service)

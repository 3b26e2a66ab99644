"""The live pipeline end to end: a microphone and a replayed recording, at real time, into a
running supervision service that is killed and restarted mid-run."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from etiquette.live.control import ServerThread, create_control_app
from etiquette.live.engine import LiveSite, build_site
from etiquette.live.site import load_site
from etiquette.speech.audio import read_audio

from factories import SAMPLES
from factories.service import PASSWORD
from service.conftest import LiveService, seed, settings_for, start_service, stop_service

pytestmark = pytest.mark.slow

# What the two sample recordings must produce (recordings_sample/expected.yaml).
EXPECTED = {("w-a", "forbidden_phrase", "F1-1"), ("w-a", "forbidden_phrase", "F1-2"),
            ("w-a", "forbidden_phrase", "F2-1"), ("w-a", "missing_farewell", "R-farewell"),
            ("w-b", "forbidden_phrase", "F4-1"), ("w-b", "forbidden_phrase", "F6-2")}


class Watcher(threading.Thread):
    """Polls the service as a supervisor would: when each incident was first seen there."""

    def __init__(self, service: LiveService) -> None:
        super().__init__(daemon=True)
        self.base_url = service.base_url
        self.seen: dict[str, tuple[float, dict]] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.25):
            try:
                with httpx.Client(base_url=self.base_url, timeout=5) as c:
                    c.post("/api/v1/auth/login", json={"username": "supervisor",
                                                       "password": PASSWORD})
                    rows = c.get("/api/v1/incidents", params={"limit": 200}).json()["data"]
            except (httpx.HTTPError, KeyError, ValueError):
                continue  # the service is down (on purpose): keep asking
            now = time.time()
            for r in rows:
                self.seen.setdefault(r["id"], (now, r))


def seen_kinds(watcher: Watcher) -> set[tuple[str, str, str]]:
    return {(r["window_id"], r["kind"], r["rule_id"]) for _, r in list(watcher.seen.values())}


def site_file(tmp_path: Path, service: LiveService, mic: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({
        "center": {"code": "nc"},
        "data_dir": str(tmp_path / "live"),
        "supervision": {"url": service.base_url, "api_key": service.api_key},
        "control": {"port": 0},
        "windows": [
            {"id": "w-a", "audio": {"device": mic}},  # a microphone (PulseAudio via PortAudio)
            {"id": "w-b", "audio": {"file": str(SAMPLES / "window05_session.ogg")}},
        ]}, allow_unicode=True), encoding="utf-8")
    return path


def test_two_windows_live_into_a_service_that_goes_down_and_comes_back(
        tmp_path, pipe_source, recogniser):
    service = start_service(settings_for(tmp_path / "service"), "sqlite")
    seed(service)
    mic = pipe_source()
    rude = read_audio(SAMPLES / "window02_rude.flac")
    site = build_site(load_site(site_file(tmp_path, service, mic.device)), recogniser=recogniser)
    control = ServerThread(create_control_app(site), "127.0.0.1", 0, "control")
    control.start()
    watcher = Watcher(service)
    watcher.start()
    site.start()
    mic.feed(np.stack(rude.channels, axis=1), lead_s=0.5)
    try:
        # Down as soon as the first incident is stored; back 4 s later, same port and database.
        deadline = time.time() + 60
        while not watcher.seen and time.time() < deadline:
            time.sleep(0.1)
        assert watcher.seen, "no incident reached the service within a minute"
        port = int(service.base_url.rsplit(":", 1)[1])
        stop_service(service)
        time.sleep(4)
        service = start_service(service.settings, "sqlite", port=port)
        check_control(control.url, site)
        # Live, not at shutdown: every forbidden phrase reaches the service while the site
        # runs (the time it takes is measured below, not asserted: machines are noisy).
        spoken = {e for e in EXPECTED if e[1] == "forbidden_phrase"}
        deadline = time.time() + 90
        while not spoken <= seen_kinds(watcher) and time.time() < deadline:
            time.sleep(0.2)
        assert spoken <= seen_kinds(watcher), seen_kinds(watcher)
        # The microphone's stream never ends; the replay's does: its session is judged, and
        # given as its record (issue 19) once its 31 s have played.
        deadline = time.time() + 90
        while not site.sessions and time.time() < deadline:
            time.sleep(0.2)
        site.stop()
        assert site.outbox is not None and site.outbox.pending() == 0
        deadline = time.time() + 10
        while len(watcher.seen) < site.emitted and time.time() < deadline:
            time.sleep(0.2)
    finally:
        watcher.halt.set()
        site.stop()
        control.stop()
        mic.close()

    stored = [r for _, r in watcher.seen.values()]
    found = Counter((r["window_id"], r["kind"], r["rule_id"]) for r in stored)
    # The microphone's session is still open when the site stops (no farewell judged there),
    # so w-a's missing farewell is not expected from a shutdown.
    expected = EXPECTED - {("w-a", "missing_farewell", "R-farewell")}
    assert set(found) == expected, (
        found, [(i.window_id, i.rule_id, i.transcript) for i in site.incidents])
    assert all(n == 1 for n in found.values()), found  # exactly once, despite the outage
    assert len({r["id"] for r in stored}) == site.emitted == len(site.incidents)
    # The replay's session, judged at its end, went through the outbox after its incidents,
    # which link to it (issue 19); the microphone's, still open, is none.
    (session,) = site.sessions
    assert session.window_id == "w-b"
    assert set(session.incident_ids) == {r["id"] for r in stored if r["window_id"] == "w-b"}
    got = service.client("supervisor").get(f"/api/v1/sessions/{session.id}").json()
    assert sorted(i["id"] for i in got["incident_list"]) == sorted(session.incident_ids)

    # The engine's own measure, end of utterance → acknowledged, for every spoken incident
    # (never less than the pause that ends an utterance).
    forbidden = [r for r in stored if r["kind"] == "forbidden_phrase"]
    latencies = site.stored_latencies
    assert len(latencies) == len(forbidden) and min(latencies) > 0.7, (
        f"end of utterance → stored (s): {sorted(round(x, 1) for x in latencies)}")
    stop_service(service)


def check_control(url: str, site: LiveSite) -> None:
    """While it runs: Prometheus metrics, health, and 叫号 over HTTP."""
    with httpx.Client(base_url=url, timeout=10) as c:
        metrics = c.get("/metrics").text
        for name in ("etiquette_audio_level_dbfs{window=\"w-a\"}", "etiquette_utterances_total",
                     "etiquette_recogniser_backlog_seconds", "etiquette_outbox_pending",
                     "process_resident_memory_bytes", "etiquette_window_queue_depth",
                     'etiquette_recogniser_backend_info{address="",backend="local"} 1.0',
                     'etiquette_recogniser_utterances_total{by="local"}'):
            assert name in metrics, name
        health = c.get("/health").json()
        assert (health["recogniser"]["backend"], health["recogniser"]["on"]) == ("local", "local")
        assert set(health["windows"]) == {"w-a", "w-b"}
        assert health["windows"]["w-a"]["audio"]["stream_s"] > 0
        assert c.post("/api/v1/queue-calls", json={"window_id": "nope"}).status_code == 404
        assert c.post("/api/v1/queue-calls", json={"ticket": "A001"}).status_code == 422


def test_a_site_can_run_with_the_rules_an_admin_saved_in_the_service(tmp_path, recogniser):
    """规则管理 in the service, used live: the version in force is fetched at start, and its
    copy serves when the service is down at the next start."""
    from etiquette.live.rules_source import RulesUnavailable

    service = start_service(settings_for(tmp_path / "service"), "sqlite")
    seed(service)
    try:
        admin = service.client("admin")
        current = admin.get("/api/v1/rules/versions/current").json()
        edited = current["yaml"].replace("phrases: [问别人去]", "phrases: [问别人去, 找别人问去]")
        assert edited != current["yaml"]
        saved = admin.post("/api/v1/rules/versions", json={
            "yaml": edited, "comment": "live test", "based_on": current["id"]})
        assert saved.status_code == 201, saved.text
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump({
            "center": {"code": "nc"}, "data_dir": str(tmp_path / "live"),
            "rules_from_service": True,
            "supervision": {"url": service.base_url, "api_key": service.api_key},
            "windows": [{"id": "w-a", "audio": {"file": str(SAMPLES / "window02_rude.flac")}}]}),
            encoding="utf-8")
        site = build_site(load_site(path), recogniser=recogniser)
        rule = next(r for r in site.speech.rules.forbidden if r.id == "F1-2")
        assert "找别人问去" in rule.phrases
    finally:
        stop_service(service)
    # The service is down now: the copy of the last start serves, and says so in the log.
    again = build_site(load_site(path), recogniser=recogniser)
    assert "找别人问去" in next(r for r in again.speech.rules.forbidden if r.id == "F1-2").phrases
    (tmp_path / "live" / "rules_in_force.yaml").unlink()
    with pytest.raises(RulesUnavailable):
        build_site(load_site(path), recogniser=recogniser)

"""The outbox on a disk that fills up for real (a tmpfs of its own), against the real service
over HTTP: the site goes on, the outbox says DEGRADED, nothing it did not store is taken as
stored, and everything arrives once, in order, when space returns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from etiquette.health import HealthEvent, HealthState
from etiquette.live.control import ServerThread, create_control_app
from etiquette.live.engine import build_site
from etiquette.live.site import load_site
from etiquette.sinks.outbox import Outbox
from etiquette.speech.recogniser import Recogniser

from factories import SAMPLES
from factories.faults import TinyDisk, tiny_disk, wait_for
from factories.service import wav_bytes
from service.conftest import LiveService, seed, settings_for, start_service, stop_service
from sinks.test_outbox import FAST, entries, ingest_audits, stored_ids, with_evidence


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LiveService]:
    live = start_service(settings_for(tmp_path / "service"), "sqlite")
    seed(live)
    yield live
    stop_service(live)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[TinyDisk]:
    """The outbox's own disk: 2 MiB."""
    with tiny_disk(tmp_path / "outbox-disk", 2 << 20) as d:
        yield d


def test_a_full_disk_holds_incidents_unacknowledged_then_delivers_each_once_in_order(
        service: LiveService, disk: TinyDisk, tmp_path: Path) -> None:
    folder = disk.path / "outbox"
    events: list[HealthEvent] = []
    box = Outbox(folder, service.base_url, service.api_key, on_health=events.append, **FAST)
    box.start()
    src = tmp_path / "src"
    src.mkdir()
    records = [with_evidence(src, n) for n in range(14)]
    ids = [r["id"] for r in records]
    try:
        # Room at first.
        assert all(box.put(r) for r in records[:3])
        wait_for(lambda: box.pending() == 0, what="the first deliveries")

        # The disk fills up while the site goes on finding incidents: the first of them is
        # refused halfway through its clip's copy, the rest at once.
        entry_bytes = sum(Path(p).stat().st_size for p in records[3]["evidence"].values())
        disk.fill(leave=entry_bytes // 2)
        started = time.monotonic()
        assert [box.put(r) for r in records[3:11]] == [False] * 8  # not stored, not acknowledged
        assert box.held() == 8 and box.pending() == 8 and box.stats.refused_by_disk == 8
        assert time.monotonic() - started < 60  # the caller went on (no waiting on the disk)
        assert box.state is HealthState.DEGRADED
        degraded = [e for e in events if e.state is HealthState.DEGRADED]
        assert len(degraded) == 1 and "disk" in degraded[0].message
        assert "No space left" in degraded[0].message
        # Nothing half-written is left behind, and nothing held is sent from memory.
        assert entries(folder / "pending") == entries(folder / "tmp") == []
        disk.fill()
        time.sleep(1.0)  # the sender retries the disk meanwhile (backoff 0.05-0.2 s)
        assert stored_ids(service, ids[3:]) == []
        assert box.put(records[3]) is False  # the same id again: still held, once

        # Space returns: the held incidents reach the disk, then the service.
        disk.free()
        assert all(box.put(r) for r in records[11:])  # the held ones go first
        wait_for(lambda: box.pending() == 0, what="delivery after space returned")
    finally:
        box.stop(timeout_s=20)
    assert stored_ids(service, ids) == ids  # in the order of put
    assert ingest_audits(service, ids) == len(ids)  # each stored once
    assert (box.stats.delivered, box.stats.already, box.stats.rejected) == (14, 0, 0)
    assert [e.state for e in events] == [HealthState.DEGRADED, HealthState.OK]
    assert box.state is HealthState.OK and box.held() == 0
    assert entries(folder / "pending") == entries(folder / "tmp") == []
    clip = service.client("supervisor").get(f"/api/v1/incidents/{ids[5]}").json()["evidence"]
    url = next(e["url"] for e in clip if e["role"] == "clip")
    assert service.client("supervisor").get(url).content == wav_bytes(1.0, 305)


def test_held_incidents_are_written_by_the_sender_when_space_returns_without_another_put(
        service: LiveService, disk: TinyDisk, tmp_path: Path) -> None:
    """No incident after the disk came back (a quiet hall): the sender's own retries catch up;
    and a service down at the same time is reported DOWN, the worse of the two."""
    folder = disk.path / "outbox"
    events: list[HealthEvent] = []
    box = Outbox(folder, service.base_url, service.api_key, on_health=events.append, **FAST)
    box.start()
    records = [with_evidence(tmp_path, n) for n in range(5)]
    try:
        assert box.put(records[0])
        wait_for(lambda: box.pending() == 0, what="the first delivery")
        time.sleep(0.5)  # the sender, with nothing left to send, waits for the next put
        disk.fill()
        assert [box.put(r) for r in records[1:]] == [False] * 4
        assert box.state is HealthState.DEGRADED
        disk.free()
        wait_for(lambda: box.pending() == 0, what="the sender writing and sending the held")
    finally:
        box.stop(timeout_s=20)
    ids = [r["id"] for r in records]
    assert stored_ids(service, ids) == ids and ingest_audits(service, ids) == 5
    assert [e.state for e in events] == [HealthState.DEGRADED, HealthState.OK]


def test_incidents_still_held_at_stop_are_named_in_the_log(
        service: LiveService, disk: TinyDisk, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(disk.path / "outbox", service.base_url, service.api_key, **FAST)
    record = with_evidence(tmp_path, 1)
    disk.fill()
    box.start()
    assert box.put(record) is False
    box.stop(timeout_s=1)
    assert box.held() == 1
    assert any(record["id"] in r.getMessage() and "lost to the outbox" in r.getMessage()
               for r in caplog.records)


def test_the_held_are_bounded(service: LiveService, disk: TinyDisk, tmp_path: Path) -> None:
    """Beyond `max_held` the disk's error reaches the caller: refused, not silently dropped."""
    box = Outbox(disk.path / "outbox", service.base_url, service.api_key, max_held=2, **FAST)
    disk.fill()
    assert [box.put(with_evidence(tmp_path, n)) for n in range(2)] == [False, False]
    with pytest.raises(OSError):
        box.put(with_evidence(tmp_path, 3))
    assert box.held() == 2


@pytest.mark.slow
def test_a_live_site_whose_disk_is_full_keeps_monitoring_and_catches_up(
        service: LiveService, tmp_path: Path, recogniser: Recogniser) -> None:
    """The whole data folder (journal, clips, outbox) on a full disk: the window is heard and
    judged all the same, /health says the outbox is degraded and holds what it could not
    store, nothing reaches the service unstored; space returns, and each incident arrives once."""
    with tiny_disk(tmp_path / "live", 4 << 20) as disk:
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump({
            "center": {"code": "nc"}, "data_dir": str(disk.path),
            "supervision": {"url": service.base_url, "api_key": service.api_key},
            "windows": [{"id": "w-a", "audio": {"file": str(SAMPLES / "window02_rude.flac"),
                                                "speed": 4}}]}), encoding="utf-8")
        site = build_site(load_site(path), recogniser=recogniser)
        control = ServerThread(create_control_app(site), "127.0.0.1", 0, "control")
        control.start()
        disk.fill()
        site.start()
        try:
            # The three forbidden phrases of the recording, found while nothing can be written.
            wait_for(lambda: site.emitted >= 3, timeout_s=180, what="the window's incidents")
            assert site.outbox is not None
            outbox = site.outbox
            # The incidents and, judged when the recording ends, the session's record after them.
            wait_for(lambda: bool(site.sessions)
                     and outbox.held() == site.emitted + len(site.sessions),
                     what="the outbox holding them")
            health = httpx.get(f"{control.url}/health", timeout=30).json()["outbox"]
            assert health["state"] == "degraded"
            assert health["held"] == site.emitted + len(site.sessions)
            assert "No space left" in health["last_error"]
            states = {(e.component, e.state) for e in site.health_events}
            assert {("outbox", HealthState.DEGRADED), ("journal", HealthState.DEGRADED)} <= states
            ids = [i.id for i in site.incidents]
            assert stored_ids(service, ids) == []  # nothing sent that was not stored
            assert outbox.stats.attempts == 0

            disk.free()
            wait_for(lambda: outbox.pending() == 0, timeout_s=120, what="the catch-up")
            assert outbox.state is HealthState.OK
        finally:
            site.stop()
            control.stop()
        ids = [i.id for i in site.incidents]
        assert len(ids) == site.emitted >= 3 and outbox.pending() == 0
        assert sorted(stored_ids(service, ids)) == sorted(ids)
        assert ingest_audits(service, ids) == len(ids)  # each once
        kinds = {(i.kind.value, i.rule_id) for i in site.incidents}
        assert {("forbidden_phrase", "F1-1"), ("forbidden_phrase", "F2-1")} <= kinds

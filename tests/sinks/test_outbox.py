"""The durable outbox against the real supervision service (uvicorn, SQLite file) over HTTP:
nothing lost, nothing stored twice, whether the service or the pipeline goes down."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from etiquette.health import HealthEvent, HealthState
from etiquette.service.models import AuditEntry, Incident
from etiquette.sinks.outbox import BadRecord, Outbox

from factories.service import incident, jpeg_bytes, session_record, wav_bytes
from service.conftest import (
    LiveService,
    free_port,
    older_service,
    seed,
    settings_for,
    start_service,
    stop_service,
)

FAST = {"backoff_s": 0.05, "max_backoff_s": 0.2, "timeout_s": 5.0}


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0,
             what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LiveService]:
    """A service of the test's own, so that a test may stop and restart it."""
    live = start_service(settings_for(tmp_path / "service"), "sqlite")
    seed(live)
    yield live
    if live.thread.is_alive():
        stop_service(live)


def restart(live: LiveService) -> LiveService:
    """The same service again, on the same port and database; the key carried over."""
    again = start_service(live.settings, "sqlite", port=int(live.base_url.rsplit(":", 1)[1]))
    again.api_key, again.ids = live.api_key, live.ids
    return again


def with_evidence(folder: Path, n: int, **over: Any) -> dict[str, Any]:
    clip, snap = folder / f"clip{n}.wav", folder / f"snap{n}.jpg"
    clip.write_bytes(wav_bytes(1.0, 300 + n))
    snap.write_bytes(jpeg_bytes(20 + n))
    return {**incident(**over), "evidence": {"clip": str(clip), "snapshot": str(snap)}}


def stored_ids(live: LiveService, ids: list[str]) -> list[str]:
    """The ids stored, in the order the service received them."""
    with live.sessions() as s:
        return list(s.scalars(select(Incident.id).where(Incident.id.in_(ids))
                              .order_by(Incident.received_at)))


def ingest_audits(live: LiveService, ids: list[str]) -> int:
    """Times the service stored one of `ids` (one audit entry per incident it created)."""
    with live.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "incident.ingest", AuditEntry.target_id.in_(ids))) or 0)


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_incidents_put_from_several_threads_arrive_with_their_evidence(service: LiveService,
                                                                       tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    records = [with_evidence(src, n) for n in range(12)]
    box = Outbox(tmp_path / "outbox", service.base_url, service.api_key, **FAST)
    threads = [threading.Thread(target=lambda k=k: [box.put(r) for r in records[k::4]])
               for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert box.pending() == 12
    for r in records:  # the outbox holds its own copies: the originals may go
        for path in r["evidence"].values():
            Path(path).unlink()
    box.start()
    wait_for(lambda: box.pending() == 0, what="delivery")
    box.stop()
    ids = [r["id"] for r in records]
    assert sorted(stored_ids(service, ids)) == sorted(ids)
    assert (box.stats.delivered, box.stats.already, box.stats.rejected) == (12, 0, 0)
    assert entries(tmp_path / "outbox" / "pending") == entries(tmp_path / "outbox" / "tmp") == []
    sup = service.client("supervisor")
    for n in (0, 11):
        got = sup.get(f"/api/v1/incidents/{records[n]['id']}").json()
        urls = {e["role"]: e["url"] for e in got["evidence"]}
        assert sup.get(urls["clip"]).content == wav_bytes(1.0, 300 + n)
        assert sup.get(urls["snapshot"]).content == jpeg_bytes(20 + n)


def test_an_api_down_from_the_start_gets_everything_once_in_order_when_it_comes_up(
        service: LiveService, tmp_path: Path) -> None:
    stop_service(service)
    events: list[HealthEvent] = []
    box = Outbox(tmp_path / "outbox", service.base_url, service.api_key, on_health=events.append,
                 **FAST)
    box.start()
    records = [with_evidence(tmp_path, n) for n in range(6)]
    for r in records:
        box.put(r)  # durable although nothing can be sent
    wait_for(lambda: box.stats.retries >= 3, what="retries against the stopped service")
    assert box.pending() == 6
    assert [e.state for e in events] == [HealthState.DOWN]  # once, not once per attempt
    assert events[0].component == "outbox" and "unreachable" in events[0].message
    service = restart(service)
    try:
        wait_for(lambda: box.pending() == 0, what="delivery after the restart")
        box.stop()
        ids = [r["id"] for r in records]
        assert stored_ids(service, ids) == ids  # oldest first
        assert ingest_audits(service, ids) == 6
        assert (box.stats.delivered, box.stats.already) == (6, 0)
        assert [e.state for e in events] == [HealthState.DOWN, HealthState.OK]
    finally:
        stop_service(service)


def test_killing_the_api_mid_run_and_restarting_it_delivers_every_incident_exactly_once(
        service: LiveService, tmp_path: Path) -> None:
    events: list[HealthEvent] = []
    box = Outbox(tmp_path / "outbox", service.base_url, service.api_key, on_health=events.append,
                 **FAST)
    box.start()
    records = [with_evidence(tmp_path, n) for n in range(40)]
    outage = threading.Event()
    put: list[str] = []

    def produce() -> None:  # a window finding incidents at its own pace, whatever the API does
        for n, r in enumerate(records):
            if n == 30:  # the last ten surely while the API is down
                outage.wait(timeout=20)
            box.put(r)
            put.append(r["id"])
            time.sleep(0.01)

    producer = threading.Thread(target=produce)
    producer.start()
    wait_for(lambda: box.stats.delivered >= 5, what="the first deliveries")
    stop_service(service)  # while incidents keep coming
    wait_for(lambda: any(e.state == HealthState.DOWN for e in events), what="health DOWN")
    outage.set()
    wait_for(lambda: len(put) >= 35, what="puts during the outage")
    assert box.pending() >= 5
    service = restart(service)
    try:
        producer.join(timeout=30)
        box.stop(timeout_s=20)
        ids = [r["id"] for r in records]
        assert box.pending() == 0
        assert sorted(stored_ids(service, ids)) == sorted(ids)
        assert ingest_audits(service, ids) == 40  # each stored once
        stats = box.stats
        assert stats.delivered + stats.already == 40 and stats.rejected == 0
        assert stats.retries >= 1 and stats.last_error
        assert [e.state for e in events][-1] == HealthState.OK
        folder = tmp_path / "outbox"
        assert entries(folder / "pending") == entries(folder / "rejected") == []
    finally:
        stop_service(service)


def test_a_restarted_pipeline_replays_its_outbox_and_duplicates_nothing(service: LiveService,
                                                                         tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    first = Outbox(folder, service.base_url, service.api_key, **FAST)
    records = [with_evidence(tmp_path, n) for n in range(3)]
    for r in records:
        first.put(r)
    first.put(records[0])  # the same id again: nothing more to send
    assert first.pending() == 3
    del first  # the process dies before its sender ever ran
    half = folder / "tmp" / "00000000000000000001-x.put"  # and a put it was in the middle of
    half.mkdir()
    (half / "evidence.clip.wav").write_bytes(b"RIFF")
    oldest = sorted((folder / "pending").iterdir())[0]
    kept = tmp_path / "kept"
    shutil.copytree(oldest, kept)

    second = Outbox(folder, service.base_url, service.api_key, **FAST)
    assert entries(folder / "tmp") == [] and second.pending() == 3
    second.start()
    second.stop(timeout_s=20)
    ids = [r["id"] for r in records]
    assert second.pending() == 0 and second.stats.delivered == 3
    assert stored_ids(service, ids) == ids

    # Delivered, then the process died before it deleted the entry: the replay is recognised.
    shutil.copytree(kept, folder / "pending" / oldest.name)
    third = Outbox(folder, service.base_url, service.api_key, **FAST)
    assert third.pending() == 1
    third.start()
    third.stop(timeout_s=20)
    assert (third.stats.delivered, third.stats.already, third.pending()) == (0, 1, 0)
    assert ingest_audits(service, ids) == 3


def test_an_evidence_copy_gone_missing_is_named_and_the_incident_still_sent(
        service: LiveService, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "outbox"
    box = Outbox(folder, service.base_url, service.api_key, **FAST)
    record = with_evidence(tmp_path, 1)
    box.put(record)
    (next((folder / "pending").iterdir()) / "evidence.snapshot.jpg").unlink()
    with caplog.at_level(logging.WARNING, logger="etiquette.sinks.outbox"):
        box.start()
        box.stop(timeout_s=20)
    assert box.pending() == 0 and box.stats.delivered == 1
    got = service.client("supervisor").get(f"/api/v1/incidents/{record['id']}").json()
    assert [e["role"] for e in got["evidence"]] == ["clip"]
    assert any("'snapshot' is missing" in r.getMessage() for r in caplog.records)


def test_a_rejected_incident_is_set_aside_with_its_reason_and_the_rest_go_on(
        service: LiveService, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    events: list[HealthEvent] = []
    folder = tmp_path / "outbox"
    box = Outbox(folder, service.base_url, service.api_key, on_health=events.append, **FAST)
    good1, bad, good2 = (with_evidence(tmp_path, 1), with_evidence(tmp_path, 2, kind="nonsense"),
                         with_evidence(tmp_path, 3))
    for r in (good1, bad, good2):
        box.put(r)
    with caplog.at_level(logging.ERROR, logger="etiquette.sinks.outbox"):
        box.start()
        box.stop(timeout_s=20)
    assert box.pending() == 0
    assert (box.stats.delivered, box.stats.rejected) == (2, 1)
    assert sorted(stored_ids(service, [good1["id"], good2["id"], bad["id"]])) == sorted(
        [good1["id"], good2["id"]])
    rejected = entries(folder / "rejected")
    assert len(rejected) == 2 and rejected[0].endswith(bad["id"])
    assert rejected[1] == rejected[0] + ".reason"
    assert "422" in (folder / "rejected" / rejected[1]).read_text(encoding="utf-8")
    assert sorted(p.name for p in (folder / "rejected" / rejected[0]).iterdir()) == [
        "evidence.clip.wav", "evidence.snapshot.jpg", "record.json"]
    assert any(bad["id"] in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert events == []  # the service answered all along


def test_a_session_goes_to_its_own_route_and_one_refused_holds_up_no_incident(
        service: LiveService, tmp_path: Path) -> None:
    """A live session's record (issue 19) is sent by the outbox after its incidents, to the
    sessions' route, and links them; one the service refuses as wrong (422) is set aside like a
    refused incident while the incidents go on."""
    folder = tmp_path / "outbox"
    box = Outbox(folder, service.base_url, service.api_key, **FAST)
    first, last = with_evidence(tmp_path, 1), with_evidence(tmp_path, 2)
    session = session_record(incident_ids=(first["id"],)).to_json()
    refused = {**session_record().to_json(), "end_at": "2020-01-01T00:00:00+00:00"}
    box.write([first, refused, session, last])
    box.start()
    box.stop(timeout_s=20)
    assert box.pending() == 0 and (box.stats.delivered, box.stats.rejected) == (3, 1)
    assert entries(folder / "rejected")[0].endswith(refused["id"])
    assert sorted(stored_ids(service, [first["id"], last["id"]])) == sorted(
        [first["id"], last["id"]])
    stored = service.client("supervisor").get(f"/api/v1/sessions/{session['id']}").json()
    assert [i["id"] for i in stored["incident_list"]] == [first["id"]]


def test_a_service_without_the_sessions_route_gets_every_incident_and_the_sessions_wait(
        service: LiveService, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A site upgraded before its service (no sessions route: 404): its incidents keep flowing;
    its session records are set aside, each tried once, neither refused nor lost, and the log
    says so once; the first session the upgraded service takes brings them back to be sent."""
    folder = tmp_path / "outbox"
    first, last = with_evidence(tmp_path, 1), with_evidence(tmp_path, 2)
    sessions = [session_record(incident_ids=(first["id"],)).to_json(),
                session_record().to_json()]
    with older_service(service) as older, caplog.at_level(logging.INFO,
                                                          logger="etiquette.sinks.outbox"):
        box = Outbox(folder, older, service.api_key, **FAST)
        box.write([first, sessions[0], last, sessions[1]])
        box.start()
        box.stop(timeout_s=20)
    assert box.pending() == 0 and entries(folder / "rejected") == []
    stats = box.stats
    assert (stats.delivered, stats.rejected, stats.sessions_unsupported) == (2, 0, 2)
    assert stats.attempts == 4  # each session record once: not retried
    assert sorted(stored_ids(service, [first["id"], last["id"]])) == sorted(
        [first["id"], last["id"]])
    assert [n.split("-", 1)[1] for n in entries(folder / "unsupported")] == [
        s["id"] for s in sessions]
    told = [r for r in caplog.records if "no route for session records" in r.getMessage()]
    assert len(told) == 1 and told[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    # The service upgraded: the next session it takes brings the two set aside back.
    box = Outbox(folder, service.base_url, service.api_key, **FAST)
    later = session_record().to_json()
    box.put(later)
    box.start()
    box.stop(timeout_s=20)
    assert box.pending() == 0 and entries(folder / "unsupported") == []
    sup = service.client("supervisor")
    for s in (*sessions, later):
        assert sup.get(f"/api/v1/sessions/{s['id']}").status_code == 200
    linked = sup.get(f"/api/v1/sessions/{sessions[0]['id']}").json()
    assert [i["id"] for i in linked["incident_list"]] == [first["id"]]


def test_a_refused_api_key_keeps_incidents_pending_and_reports_down(service: LiveService,
                                                                     tmp_path: Path) -> None:
    events: list[HealthEvent] = []
    box = Outbox(tmp_path / "outbox", service.base_url, "etq_wrong_key", on_health=events.append,
                 **FAST)
    box.put(with_evidence(tmp_path, 1))
    box.start()
    wait_for(lambda: bool(events), what="a health event")
    box.stop(timeout_s=0.2)
    assert box.pending() == 1 and box.stats.rejected == 0  # the incident is fine; the key is not
    assert events[0].state == HealthState.DOWN and "401" in events[0].message


def test_stop_does_not_wait_out_a_long_back_off(tmp_path: Path) -> None:
    events: list[HealthEvent] = []
    box = Outbox(tmp_path / "outbox", f"http://127.0.0.1:{free_port()}", "etq_x_y",
                 backoff_s=30.0, max_backoff_s=30.0, timeout_s=2.0, on_health=events.append)
    box.put(incident())
    box.start()
    wait_for(lambda: bool(events), what="the first failed attempt")
    started = time.monotonic()
    box.stop(timeout_s=0.5)
    assert time.monotonic() - started < 3.0
    assert box.pending() == 1 and box.stats.attempts >= 2  # stop() tried once more, at once


def test_bad_input_is_refused_and_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    box = Outbox(folder, "http://127.0.0.1:9", "etq_x_y")
    clip = tmp_path / "clip.wav"
    clip.write_bytes(wav_bytes(0.5))
    cases: list[tuple[Any, str]] = [
        ({k: v for k, v in incident().items() if k != "id"}, "id"),
        (incident(id="../escape"), "id"),
        ({**incident(), "evidence": {"clip": str(tmp_path / "gone.wav")}}, "gone.wav"),
        ({**incident(), "evidence": {"clip": str(clip), "snapshot": str(tmp_path)}}, "snapshot"),
        ({**incident(), "evidence": {"../x": str(clip)}}, "role"),
        ({**incident(), "evidence": [str(clip)]}, "evidence"),
        ({**incident(), "score": object()}, "JSON"),
    ]
    for record, says in cases:
        with pytest.raises(BadRecord, match=says):
            box.put(record)
    assert box.pending() == 0
    assert entries(folder / "pending") == entries(folder / "tmp") == []
    assert clip.exists()

"""The service's database in trouble, for real: PostgreSQL restarted while a pipeline's outbox
is sending (the service reconnects, the retries store every incident once), and a SQLite
file written by many concurrent posts (busy, never a server error, each incident once)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from etiquette.health import HealthEvent, HealthState
from etiquette.service.models import Evidence, Incident
from etiquette.sinks.outbox import Outbox

from factories.faults import wait_for
from factories.service import incident, jpeg_bytes, post_incident, wav_bytes
from service.conftest import (
    PostgresCluster,
    postgres_cluster,
    seed,
    settings_for,
    start_service,
    stop_service,
)
from sinks.test_outbox import FAST, entries, ingest_audits, stored_ids, with_evidence


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own, since the test stops and starts it."""
    yield from postgres_cluster()


def test_postgresql_restarted_mid_ingest_loses_and_duplicates_nothing(
        cluster: PostgresCluster, tmp_path: Path) -> None:
    service = start_service(settings_for(tmp_path / "service",
                                         cluster.create_database("etiquette_restart")),
                            "postgresql")
    seed(service)
    events: list[HealthEvent] = []
    box = Outbox(tmp_path / "outbox", service.base_url, service.api_key, on_health=events.append,
                 **FAST)
    records = [with_evidence(tmp_path, n) for n in range(40)]
    ids = [r["id"] for r in records]
    restarted = threading.Event()

    def produce() -> None:  # a window finding incidents at its own pace, whatever the database does
        for n, r in enumerate(records):
            if n == 30:  # the last ten surely after the restart
                restarted.wait(timeout=120)
            box.put(r)
            time.sleep(0.01)

    producer = threading.Thread(target=produce)
    box.start()
    producer.start()
    try:
        wait_for(lambda: box.stats.delivered >= 5, what="the first deliveries")
        cluster.stop("fast")  # every connection of the service's pool is cut
        wait_for(lambda: box.stats.retries >= 3, what="the outbox retrying while it is down")
        refused = httpx.get(f"{service.base_url}/health/ready", timeout=30)
        assert refused.status_code == 503 and "database" in refused.json()["detail"]
        # Told to come back later, not a server error; the outbox reports it busy.
        down = post_incident(service.pipeline(), incident())
        assert down.status_code == 503 and down.headers["Retry-After"] == "5"
        assert "数据库暂时不可用" in down.json()["detail"]
        assert box.stats.last_error and "HTTP 503" in box.stats.last_error
        assert any(e.state is HealthState.DEGRADED and "busy" in e.message for e in events)
        cluster.start()  # same port, same data
        restarted.set()
        # The pool's connections died with the old server: the service reconnects at once.
        assert httpx.get(f"{service.base_url}/health/ready", timeout=30).status_code == 200
        again = incident()
        assert post_incident(service.pipeline(), again).status_code == 201
        producer.join(timeout=120)
        wait_for(lambda: box.pending() == 0, timeout_s=120, what="delivery after the restart")
    finally:
        restarted.set()
        box.stop(timeout_s=20)
        stop_service(service)
    stored = stored_ids(service, ids)
    assert len(stored) == len(set(stored)) == 40 and set(stored) == set(ids)
    assert ingest_audits(service, ids) == 40  # each stored once, however often it was sent
    stats = box.stats
    assert stats.delivered + stats.already == 40 and stats.rejected == 0 and stats.retries >= 3
    assert entries(tmp_path / "outbox" / "pending") == entries(tmp_path / "outbox" / "rejected")
    assert [e.state for e in events][-1] is HealthState.OK
    with service.sessions() as s:  # every incident with both its evidence files
        n = s.scalar(select(func.count()).select_from(Evidence)
                     .where(Evidence.incident_id.in_(ids)))
    assert n == 80


def test_sqlite_under_concurrent_ingest_answers_every_post_and_stores_each_once(
        tmp_path: Path) -> None:
    """32 pipelines posting at once to one SQLite file, each incident twice (a retry racing
    its original), while a supervisor reads the list: no 5xx (nor a 503 for a database that
    is locked), each incident stored once."""
    service = start_service(settings_for(tmp_path / "service"), "sqlite")
    seed(service)
    clip, snapshot = wav_bytes(1.0), jpeg_bytes()
    bodies = [incident(window_id="w-a" if n % 2 else "w-b") for n in range(80)]
    posting = threading.Event()
    reads: list[int] = []

    def post(body: dict[str, Any]) -> int:
        with httpx.Client(base_url=service.base_url, timeout=120,
                          headers={"X-API-Key": service.api_key}) as c:
            files = {"clip": ("clip.wav", clip, "audio/wav"),
                     "snapshot": ("s.jpg", snapshot, "image/jpeg")}
            return post_incident(c, body, files).status_code

    def read() -> None:
        supervisor = service.client("supervisor")
        while not posting.is_set() or not reads:
            reads.append(supervisor.get("/api/v1/incidents", params={"limit": 50}).status_code)

    reader = threading.Thread(target=read)
    try:
        reader.start()
        with ThreadPoolExecutor(32) as pool:
            codes = list(pool.map(post, bodies + bodies[::-1]))
        posting.set()
        reader.join(timeout=120)
    finally:
        posting.set()
        stop_service(service)
    ids = [b["id"] for b in bodies]
    assert sorted(codes) == sorted([201] * 80 + [200] * 80), sorted(set(codes))
    assert reads and set(reads) == {200}
    assert sorted(stored_ids(service, ids)) == sorted(ids)
    assert ingest_audits(service, ids) == 80
    with service.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 80

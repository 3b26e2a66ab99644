"""The service killed (SIGKILL) while it writes evidence, as `python -m etiquette.service serve`
runs it: the half-written file is never served, and after a restart the outbox's retries store
every incident once with every evidence file whole."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from etiquette.service.core.config import Settings
from etiquette.service.core.db import make_engine, make_sessionmaker
from etiquette.service.evidence_store import EvidenceStore
from etiquette.service.models import AuditEntry, Incident
from etiquette.service.services.retention import purge_expired
from etiquette.sinks.outbox import Outbox

from factories.faults import ServiceProcess, seed_database, wait_for
from factories.service import PASSWORD, Api, incident, wav_bytes
from service.conftest import free_port
from sinks.test_outbox import FAST

N = 10


def big_png(n: int) -> bytes:
    """A camera frame of noise stored without compression: about 5.8 MB, a write that takes a
    while, and different for each `n` (the store names files by their hash)."""
    rng = np.random.default_rng(n)
    image = rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert ok
    return data.tobytes()


def temporaries(store: Path) -> list[Path]:
    """The atomic writer's temporaries in the store: `.<target>.<uuid>.tmp`."""
    found = []
    with os.scandir(store) as subs:
        for sub in subs:
            if sub.is_dir():
                with os.scandir(sub.path) as files:
                    found += [Path(f.path) for f in files
                              if f.name.startswith(".") and f.name.endswith(".tmp")]
    return found


def kill_while_writing(service: ServiceProcess, store: Path, sizes: dict[str, int],
                       timeout_s: float = 120.0) -> list[tuple[Path, int]]:
    """Freeze the service the moment the temporary of a large file (over 1 MB: a `sizes`
    sha256 -> length) is in the store; if it still is once frozen, SIGKILL the service there
    (else let it go on and watch again). Returns the temporaries left, with their sizes."""
    deadline = time.monotonic() + timeout_s

    def large(tmp: Path) -> bool:
        return sizes.get(tmp.name[1:65], 0) > 1_000_000

    while time.monotonic() < deadline:
        if store.is_dir() and any(large(t) for t in temporaries(store)):
            service.signal(signal.SIGSTOP)
            left = []
            for tmp in temporaries(store):
                with suppress(FileNotFoundError):
                    left.append((tmp, tmp.stat().st_size))
            if any(large(t) for t, _ in left):
                service.kill()  # while stopped: SIGKILL ends it there, mid-write
                return left
            service.signal(signal.SIGCONT)  # renamed between the look and the stop
        time.sleep(0.001)
    raise AssertionError(f"no large evidence file seen being written in {timeout_s:.0f} s")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    data = tmp_path / "service"
    data.mkdir()
    proc = ServiceProcess(data, free_port(), {**os.environ, "ETIQUETTE_DATA_DIR": str(data)})
    yield proc
    proc.stop()


def test_the_service_killed_mid_write_never_serves_a_half_file(
        service: ServiceProcess, tmp_path: Path) -> None:
    key = seed_database(Settings(data_dir=service.data_dir))
    store = service.data_dir / "evidence"
    src = tmp_path / "src"
    src.mkdir()
    records: list[dict[str, Any]] = []
    sent: dict[str, bytes] = {}  # sha256 -> the bytes posted
    for n in range(N):
        clip, snap = src / f"clip{n}.wav", src / f"snap{n}.png"
        clip.write_bytes(wav_bytes(1.0, 300 + n))
        snap.write_bytes(big_png(n))
        for f in (clip, snap):
            sent[hashlib.sha256(f.read_bytes()).hexdigest()] = f.read_bytes()
        records.append({**incident(), "evidence": {"clip": str(clip), "snapshot": str(snap)}})
    ids = [r["id"] for r in records]

    service.start()
    box = Outbox(tmp_path / "outbox", service.base_url, key, **FAST)
    for r in records:
        assert box.put(r)
    box.start()
    try:
        left = kill_while_writing(service, store, {k: len(v) for k, v in sent.items()})
        # Killed with the temporary of a large file in the store (a write cut short, or not yet
        # renamed into place), under a name no request can reach (the store serves 64 hex
        # digits only).
        for tmp, size in left:
            sha = tmp.name[1:65]
            assert sha in sent and size <= len(sent[sha]), (tmp.name, size)
        assert box.pending() > 0
        wait_for(lambda: box.stats.retries >= 1, what="the outbox finding the service gone")

        service.start()  # the same data folder and port
        wait_for(lambda: box.pending() == 0, timeout_s=180, what="delivery after the restart")
    finally:
        box.stop(timeout_s=20)

    # Each file the store holds under a hash is whole: its content has that hash.
    held = [p for p in store.glob("??/*") if not p.name.startswith(".")]
    assert held and all(hashlib.sha256(p.read_bytes()).hexdigest() == p.name for p in held)
    # Every incident once, each of its evidence files served whole and decodable.
    api = Api(service.base_url)
    assert api.login("supervisor", PASSWORD).status_code == 200
    for r in records:
        got = api.get(f"/api/v1/incidents/{r['id']}")
        assert got.status_code == 200
        evidence = {e["role"]: e for e in got.json()["evidence"]}
        assert set(evidence) == {"clip", "snapshot"}
        for role, path in r["evidence"].items():
            body = api.get(evidence[role]["url"])
            assert body.status_code == 200
            assert body.content == Path(path).read_bytes(), (r["id"], role, len(body.content))
        image = cv2.imdecode(np.frombuffer(body.content, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (1200, 1600, 3)
    api.close()
    service.stop()
    settings = Settings(data_dir=service.data_dir, orphan_grace_s=0)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with make_sessionmaker(engine)() as s:
            assert s.scalar(select(func.count()).select_from(Incident)) == N
            assert s.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "incident.ingest", AuditEntry.target_id.in_(ids))) == N
            # The retention sweep removes what the kill left half-written, and nothing else.
            report = purge_expired(session=s, store=EvidenceStore(store), settings=settings)
    finally:
        engine.dispose()
    assert report.temporaries_deleted == len(left) and report.files_deleted == 0
    assert temporaries(store) == []
    assert sorted(p for p in store.glob("??/*")) == sorted(held)

"""The durable outbox: incidents wait on disk until the supervision service acknowledges them.

`put` returns only once the incident and copies of its evidence files are on disk (fsync'd,
renamed into place in one step), so a crash after it loses nothing. A sender thread posts the
entries oldest first with `etiquette.sinks.http.post_once`, backs off while the service is
down, and deletes an entry only after a 201 or 200. A restart replays what is left; the
service stores an incident id once, so an entry delivered but not yet deleted when the
process died is answered 200 and not stored twice.

On disk, under `directory` (one Outbox object per directory at a time):

    pending/<entry>/record.json          the record; its `evidence` maps role -> file name here
    pending/<entry>/evidence.<role><ext> the copies of the evidence files
    rejected/<entry>/, rejected/<entry>.reason
                                         what the service refused (4xx): kept for a person
    tmp/                                 entries being written or deleted; whatever a crash
                                         leaves there is removed when an Outbox opens the folder

`<entry>` is `<sequence>-<incident id>`, the sequence a 20-digit nanosecond clock made strictly
increasing, so sorting the names gives the order of `put`, across restarts too.

A pending entry whose evidence copy has gone missing (a disk error, a person tidying up) is
sent with what remains and a warning that names the missing role: a supervisor would rather
review the incident without its clip than never see it, and the log says why the clip is absent.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from etiquette.files import atomic_write, atomic_writer, fsync_dir
from etiquette.health import HealthCallback, HealthReporter, HealthState
from etiquette.sinks import incidents
from etiquette.sinks.http import Attempt, Delivery, endpoint, multipart, post_once

logger = logging.getLogger("etiquette.sinks.outbox")

COMPONENT = "outbox"
RECORD = "record.json"
EVIDENCE_PREFIX = "evidence."  # never clashes with RECORD, whatever the role is called
SEQUENCE_DIGITS = 20
# Ids and roles become file names: no separators, no leading dot, bounded length.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class BadRecord(ValueError):
    """`put` refused a record (no usable id, an evidence file that is not there…); nothing of
    it was written."""


@dataclass
class OutboxStats:
    """Counters since this Outbox object was made, for the metrics."""

    delivered: int = 0  # stored by the service now (201)
    already: int = 0  # the service had it (200): a retry after a lost answer or a restart
    rejected: int = 0  # refused as wrong (4xx): moved to rejected/
    attempts: int = 0  # every POST
    retries: int = 0  # attempts that failed in a way worth repeating (down, busy, key refused)
    last_error: str | None = None


class Outbox:
    """Thread-safe `put`; one sender thread between `start` and `stop`."""

    def __init__(self, directory: Path, url: str, api_key: str, *, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, on_health: HealthCallback | None = None,
                 timeout_s: float = 30.0,
                 on_stored: Callable[[str], None] | None = None) -> None:
        """`on_stored(incident_id)`: called when the service has acknowledged an incident (the
        live engine measures its latency to there)."""
        self.directory = Path(directory)
        self.url = endpoint(url)
        self.backoff_s, self.max_backoff_s, self.timeout_s = backoff_s, max_backoff_s, timeout_s
        self._api_key = api_key
        self._on_stored = on_stored
        self._pending_dir = self.directory / "pending"
        self._rejected_dir = self.directory / "rejected"
        self._tmp_dir = self.directory / "tmp"
        for d in (self._pending_dir, self._rejected_dir, self._tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()  # entry names, oldest first
        self._ids: set[str] = set()  # incident ids of the queued entries
        self._last_sequence = 0
        self._stats = OutboxStats()
        self._health = HealthReporter(COMPONENT, on_health, state=HealthState.OK)
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()  # a put (or stop) after the queue ran empty
        self._interrupt = threading.Event()  # stop() during a back-off pause
        self._stopping = threading.Event()
        self._deadline = 0.0
        self._clean_tmp()
        self._load()

    # ------------------------------------------------------------------ the caller's side

    def put(self, record: dict[str, Any]) -> None:
        """Store `record` (an `Incident.to_json()` line) and copies of its evidence durably.

        A record whose id is already pending is a no-op. Raises BadRecord for a record that
        cannot be stored as it is, and OSError where the disk fails; either way nothing of it
        is left behind.
        """
        iid = record.get("id") if isinstance(record, dict) else None
        if not isinstance(iid, str) or not SAFE_NAME.match(iid):
            raise BadRecord(f"record has no usable id (a UUID string is expected): {iid!r}")
        sources = _evidence_sources(iid, record.get("evidence"))
        stored = {**record, "evidence": {role: EVIDENCE_PREFIX + role + src.suffix.lower()
                                         for role, src in sources.items()}}
        try:
            body = json.dumps(stored, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError) as e:
            raise BadRecord(f"incident {iid} is not JSON: {e}") from e
        with self._lock:  # one put at a time: the sequence is the order of put
            if iid in self._ids:
                return
            self._last_sequence = max(time.time_ns(), self._last_sequence + 1)
            name = f"{self._last_sequence:0{SEQUENCE_DIGITS}d}-{iid}"
            staging = self._tmp_dir / (name + ".put")
            try:
                staging.mkdir()
                # The entry becomes pending in one rename of its folder: its files need their
                # names on disk only by then, so the folder is fsync'd once, after the last.
                for role, src in sources.items():
                    copy = staging / stored["evidence"][role]
                    with src.open("rb") as fin, atomic_writer(copy, sync_dir=False) as fout:
                        shutil.copyfileobj(fin, fout, 1 << 20)
                atomic_write(staging / RECORD, body, sync_dir=False)
                fsync_dir(staging)
                os.rename(staging, self._pending_dir / name)
                fsync_dir(self._pending_dir)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            self._queue.append(name)
            self._ids.add(iid)
        self._wake.set()

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        """`put` each incident of `records` (the `Sink` side of the outbox); batch's file
        errors are no incidents and are passed over."""
        for record in incidents(records):
            self.put(record)

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def stats(self) -> OutboxStats:
        with self._lock:
            return replace(self._stats)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the outbox sender is already running")
        self._stopping.clear()
        self._interrupt.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Deliver what is pending until none is left or `timeout_s` has passed, then stop.

        What is not delivered stays on disk for the next start.
        """
        thread = self._thread
        if thread is None:
            return
        self._deadline = time.monotonic() + timeout_s
        self._stopping.set()
        self._interrupt.set()
        self._wake.set()
        # A request in flight may outlast the deadline by up to its own timeout.
        thread.join(timeout_s + self.timeout_s + 1.0)
        if thread.is_alive():
            logger.warning("outbox sender did not finish a request in time; %d pending stay on "
                           "disk", self.pending())
        else:
            self._thread = None
        left = self.pending()
        if left:
            logger.warning("outbox stopped with %d incidents pending in %s", left,
                           self._pending_dir)

    # ------------------------------------------------------------------ the sender thread

    def _run(self) -> None:
        client = httpx.Client(timeout=self.timeout_s, headers={"X-API-Key": self._api_key})
        backoff = 0.0
        try:
            while True:
                self._wake.clear()
                name = self._oldest()
                if self._stopping.is_set() and (name is None or time.monotonic() >= self._deadline):
                    return
                if name is None:
                    self._wake.wait()
                    continue
                try:
                    outcome = self._send(client, name)
                except Exception as e:  # the sender must outlive anything one entry does
                    logger.exception("outbox: sending %s failed", name)
                    outcome = Attempt(Delivery.BUSY, f"{type(e).__name__}: {e}")
                    with self._lock:
                        self._stats.last_error = outcome.why
                if outcome.delivery.stored or outcome.delivery is Delivery.REJECTED:
                    backoff = 0.0
                    continue
                backoff = min(self.max_backoff_s, backoff * 2 if backoff else self.backoff_s)
                self._pause(backoff)
        finally:
            client.close()

    def _pause(self, seconds: float) -> None:
        if self._stopping.is_set():
            seconds = min(seconds, max(0.0, self._deadline - time.monotonic()))
        if self._interrupt.wait(seconds):
            # stop() woke us: one more try now, then pauses bounded by its deadline
            self._interrupt.clear()

    def _oldest(self) -> str | None:
        with self._lock:
            return self._queue[0] if self._queue else None

    def _send(self, client: httpx.Client, name: str) -> Attempt:
        entry = self._pending_dir / name
        try:
            stored = json.loads((entry / RECORD).read_text(encoding="utf-8"))
            if not isinstance(stored, dict):
                raise ValueError("not a JSON object")
        except (FileNotFoundError, ValueError) as e:  # no record, or not one: a person must look
            why = f"outbox entry unreadable: {e}"
            self._reject(name, why)
            return Attempt(Delivery.REJECTED, why)
        record = {**stored, "evidence": {}}
        for role, file_name in (stored.get("evidence") or {}).items():
            path = entry / str(file_name)
            if path.is_file():
                record["evidence"][role] = str(path)
            else:
                logger.warning("incident %s: evidence %r is missing from the outbox (%s); "
                               "sending the incident without it", stored.get("id"), role, path)
        data, files = multipart(record)
        with self._lock:
            self._stats.attempts += 1
        outcome = post_once(client, self.url, data, files)
        if outcome.delivery.stored:
            self._delete(name)
            with self._lock:
                if outcome.delivery is Delivery.CREATED:
                    self._stats.delivered += 1
                else:
                    self._stats.already += 1
            self._health.report(HealthState.OK, "delivering incidents to the supervision API")
            if self._on_stored is not None:
                self._on_stored(str(stored.get("id")))
        elif outcome.delivery is Delivery.REJECTED:
            self._reject(name, outcome.why)
            self._health.report(HealthState.OK, "the supervision API answers")
        else:
            with self._lock:
                self._stats.retries += 1
                self._stats.last_error = outcome.why
            logger.warning("incident %s not delivered yet (%s); %d pending", stored.get("id"),
                           outcome.why, self.pending())
            if outcome.delivery is Delivery.BUSY:
                self._health.report(HealthState.DEGRADED, f"supervision API busy: {outcome.why}")
            elif outcome.delivery is Delivery.UNAUTHORISED:
                self._health.report(HealthState.DOWN,
                                    f"supervision API refuses the key: {outcome.why}")
            else:
                self._health.report(HealthState.DOWN, f"supervision API unreachable: {outcome.why}")
        return outcome

    def _delete(self, name: str) -> None:
        # Out of pending/ in one rename, so a crash never leaves half an entry to replay.
        trash = self._tmp_dir / (name + ".done")
        os.rename(self._pending_dir / name, trash)
        fsync_dir(self._pending_dir)
        shutil.rmtree(trash, ignore_errors=True)
        self._dequeue(name)

    def _reject(self, name: str, why: str) -> None:
        logger.error("incident entry %s rejected by the supervision API, kept in %s: %s",
                     name, self._rejected_dir, why)
        reason = f"{datetime.now(UTC).isoformat()}\n{why}\n".encode()
        # Written in tmp/ (cleaned at the next open if a crash cuts it short), then moved.
        staging = self._tmp_dir / (name + ".reason")
        atomic_write(staging, reason, sync_dir=False)
        os.rename(staging, self._rejected_dir / (name + ".reason"))
        os.rename(self._pending_dir / name, self._rejected_dir / name)
        fsync_dir(self._rejected_dir)
        fsync_dir(self._pending_dir)
        self._dequeue(name)
        with self._lock:
            self._stats.rejected += 1
            self._stats.last_error = why

    def _dequeue(self, name: str) -> None:
        with self._lock:
            self._queue.remove(name)
            self._ids.discard(name[SEQUENCE_DIGITS + 1:])

    # ------------------------------------------------------------------ opening the folder

    def _clean_tmp(self) -> None:
        for leftover in self._tmp_dir.iterdir():
            logger.warning("outbox: removing %s, left half-written or half-deleted by an "
                           "earlier run", leftover)
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)

    def _load(self) -> None:
        for entry in sorted(self._pending_dir.iterdir()):
            sequence, _, iid = entry.name.partition("-")
            if not (entry.is_dir() and sequence.isdigit() and len(sequence) == SEQUENCE_DIGITS):
                logger.warning("outbox: ignoring %s, which is no outbox entry", entry)
                continue
            self._queue.append(entry.name)
            self._ids.add(iid)
            self._last_sequence = max(self._last_sequence, int(sequence))
        if self._queue:
            logger.info("outbox: %d incidents pending from an earlier run", len(self._queue))


def _evidence_sources(iid: str, evidence: object) -> dict[str, Path]:
    if evidence is None:
        return {}
    if not isinstance(evidence, dict):
        raise BadRecord(f"incident {iid}: evidence must map roles to file paths, not {evidence!r}")
    sources: dict[str, Path] = {}
    for role, path in evidence.items():
        if not isinstance(role, str) or not SAFE_NAME.match(role):
            raise BadRecord(f"incident {iid}: evidence role {role!r} is not a plain name")
        if not isinstance(path, str | os.PathLike) or not Path(path).is_file():
            raise BadRecord(f"incident {iid}: evidence {role!r} is not a file: {path}")
        sources[role] = Path(path)
    return sources

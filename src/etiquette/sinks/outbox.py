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
    unsupported/<entry>/                 session records a service older than them refused
                                         (404: no sessions route), set aside until it takes one
    tmp/                                 entries being written or deleted; whatever a crash
                                         leaves there is removed when an Outbox opens the folder

`<entry>` is `<sequence>-<incident id>`, the sequence a 20-digit nanosecond clock made strictly
increasing, so sorting the names gives the order of `put`, across restarts too.

A pending entry whose evidence copy has gone missing (a disk error, a person tidying up) is
sent with what remains and a warning that names the missing role: a supervisor would rather
review the incident without its clip than never see it, and the log says why the clip is absent.

A disk that refuses an entry (full, over quota, read-only) does not stop the site: `put` keeps
the record in memory (up to `max_held`), answers False (not stored, so nothing is acknowledged
that is not on disk) and the outbox reports DEGRADED. Each later `put`, and the sender with
back-off, tries again to write what is held, oldest first, so delivery keeps the order of
`put`; once the disk takes them (space freed by someone, or by the outbox's own deliveries)
they are sent like any other entry and the state goes back to OK. What is held is never sent
from memory (an incident is on disk before it is sent); what is still held when the process
ends is lost to the outbox, and `stop` logs its ids.

A service older than session records (issue 19) answers 404 on their route. Such a session
record is set aside in unsupported/, neither retried nor counted as refused, and the log says
so once (the incidents go on as before, as `batch --post` does against such a service); the
first session record a service takes later (it was upgraded) brings the set-aside ones back to
be sent, oldest first.
"""

from __future__ import annotations

import errno
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

from etiquette.core.session_records import SESSION_RECORD
from etiquette.files import atomic_write, atomic_writer, fsync_dir
from etiquette.health import HealthCallback, HealthReporter, HealthState
from etiquette.sinks import deliverable
from etiquette.sinks.http import Attempt, Delivery, endpoint, post_once, request_of

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
    refused_by_disk: int = 0  # puts the disk refused (held in memory until it takes them)
    sessions_unsupported: int = 0  # session records an older service has no route for
    last_error: str | None = None


class Outbox:
    """Thread-safe `put`; one sender thread between `start` and `stop`."""

    def __init__(self, directory: Path, url: str, api_key: str, *, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, on_health: HealthCallback | None = None,
                 timeout_s: float = 30.0,
                 on_stored: Callable[[str], None] | None = None, max_held: int = 10_000) -> None:
        """`on_stored(incident_id)`: called when the service has acknowledged an incident (the
        live engine measures its latency to there). `max_held`: the records kept in memory
        while the disk refuses them; beyond it `put` raises the disk's error."""
        self.directory = Path(directory)
        self.url = endpoint(url)
        self.backoff_s, self.max_backoff_s, self.timeout_s = backoff_s, max_backoff_s, timeout_s
        self._api_key = api_key
        self._on_stored = on_stored
        self._pending_dir = self.directory / "pending"
        self._rejected_dir = self.directory / "rejected"
        self._tmp_dir = self.directory / "tmp"
        self._unsupported_dir = self.directory / "unsupported"
        for d in (self._pending_dir, self._rejected_dir, self._tmp_dir, self._unsupported_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()  # entry names, oldest first
        self._ids: set[str] = set()  # incident ids of the queued entries
        # Records the disk refused, oldest first; each newer than every queued entry.
        self._held: deque[dict[str, Any]] = deque()
        self._held_ids: set[str] = set()
        self.max_held = max_held
        self._disk_error: str | None = None  # why the disk refuses entries, while it does
        self._disk_backoff = 0.0
        self._disk_retry_at = 0.0  # monotonic: the sender's next try at what is held
        # The delivery's own state; the state reported is the worse of it and the disk's.
        self._link = (HealthState.OK, "delivering incidents to the supervision API")
        self._last_sequence = 0
        self._warned_unsupported = False  # the log said once that sessions are set aside
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

    def put(self, record: dict[str, Any]) -> bool:
        """Store `record` (an `Incident.to_json()` line) and copies of its evidence durably.

        True: it is on disk (or was already pending). False: the disk refused it; it is held
        in memory and written, then sent, when the disk takes it (the module's notes). Raises
        BadRecord for a record that cannot be stored as it is, and the disk's OSError where
        `max_held` records are held already; nothing of a refused record is left on disk.
        """
        iid = record.get("id") if isinstance(record, dict) else None
        if not isinstance(iid, str) or not SAFE_NAME.match(iid):
            raise BadRecord(f"record has no usable id (a UUID string is expected): {iid!r}")
        sources = _evidence_sources(iid, record.get("evidence"))
        stored = _stored_form(record, sources)
        try:
            json.dumps(stored, ensure_ascii=False)
        except (TypeError, ValueError) as e:
            raise BadRecord(f"incident {iid} is not JSON: {e}") from e
        with self._lock:  # one put at a time: the sequence is the order of put
            if iid in self._ids:
                return True
            on_disk = iid not in self._held_ids
            if on_disk:
                # What the disk refused before goes first: delivery keeps the order of put.
                try:
                    if not self._store_held():
                        raise OSError(errno.ENOSPC, "older incidents are still held in memory")
                    self._write_entry(iid, stored, sources)
                except OSError as e:
                    self._hold(iid, record, e)
                    on_disk = False
        self._report()
        self._wake.set()  # to send it, or (held) to schedule its retries: it may be idle
        return on_disk

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        """`put` each incident and session of `records` (the `Sink` side of the outbox);
        batch's file errors are passed over."""
        for record in deliverable(records):
            self.put(record)

    def pending(self) -> int:
        """Incidents not yet acknowledged: on disk, and held in memory while the disk refuses
        them."""
        with self._lock:
            return len(self._queue) + len(self._held)

    def held(self) -> int:
        """Incidents the disk refused, kept in memory until it takes them (not yet stored)."""
        with self._lock:
            return len(self._held)

    @property
    def state(self) -> HealthState:
        """The state last reported (OK, DEGRADED while busy or refused by the disk, DOWN)."""
        return self._health.state or HealthState.OK

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
        with self._lock:
            self._store_held()  # the disk may take them now
            on_disk, held = len(self._queue), [str(r["id"]) for r in self._held]
        if on_disk:
            logger.warning("outbox stopped with %d incidents pending in %s", on_disk,
                           self._pending_dir)
        if held:
            logger.error("outbox stopped with %d incidents the disk refused, held in memory only "
                         "and lost to the outbox when this process ends: %s", len(held),
                         ", ".join(held))

    # ------------------------------------------------------------------ the sender thread

    def _run(self) -> None:
        client = httpx.Client(timeout=self.timeout_s, headers={"X-API-Key": self._api_key})
        backoff = 0.0
        try:
            while True:
                self._wake.clear()
                self._retry_held(now=False)
                name = self._oldest()
                if self._stopping.is_set() and name is None:
                    self._retry_held(now=True)  # a last try: the disk may take them now
                    name = self._oldest()
                if self._stopping.is_set() and (name is None or time.monotonic() >= self._deadline):
                    return
                if name is None:
                    self._wake.wait(self._held_wait())
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

    # ------------------------------------------------------------------ a disk that refuses

    def _write_entry(self, iid: str, stored: dict[str, Any], sources: dict[str, Path]) -> None:
        """One entry on disk and queued, or nothing of it on disk (raises OSError). Lock held."""
        body = json.dumps(stored, ensure_ascii=False).encode("utf-8")
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
            shutil.rmtree(staging, ignore_errors=True)  # gives back what it took of the disk
            raise
        self._queue.append(name)
        self._ids.add(iid)

    def _hold(self, iid: str, record: dict[str, Any], error: OSError) -> None:
        """Keep a record the disk refused, in memory, to be written later. Lock held."""
        if len(self._held) >= self.max_held:
            logger.error("outbox: the disk refuses incidents (%s) and %d are held in memory "
                         "already; incident %s is not taken", error, len(self._held), iid)
            raise error
        if self._disk_error is None:
            self._disk_backoff = self.backoff_s
            self._disk_retry_at = time.monotonic() + self._disk_backoff
            self._disk_error = f"{type(error).__name__}: {error}"
        self._held.append(dict(record))
        self._held_ids.add(iid)
        self._stats.refused_by_disk += 1
        self._stats.last_error = f"outbox disk: {self._disk_error}"
        logger.warning("outbox: incident %s not stored (%s); %d held in memory until the disk "
                       "takes them", iid, self._disk_error, len(self._held))

    def _store_held(self) -> bool:
        """Write what is held to disk, oldest first; True when nothing is left held. Lock held."""
        while self._held:
            record = self._held[0]
            iid = str(record["id"])
            sources = _evidence_still_there(iid, record.get("evidence"))
            try:
                self._write_entry(iid, _stored_form(record, sources), sources)
            except OSError as e:
                self._disk_error = f"{type(e).__name__}: {e}"
                self._stats.last_error = f"outbox disk: {self._disk_error}"
                return False
            self._held.popleft()
            self._held_ids.discard(iid)
        if self._disk_error is not None:
            logger.warning("outbox: the disk takes incidents again (%s before)", self._disk_error)
            self._disk_error = None
            self._disk_retry_at = 0.0
        return True

    def _retry_held(self, *, now: bool) -> None:
        """The sender's try at what is held: when its back-off is over, or `now`."""
        with self._lock:
            if not self._held or (not now and time.monotonic() < self._disk_retry_at):
                return
            if not self._store_held():
                self._disk_backoff = min(self.max_backoff_s, self._disk_backoff * 2
                                         or self.backoff_s)
                self._disk_retry_at = time.monotonic() + self._disk_backoff
        self._report()

    def _held_wait(self) -> float | None:
        """How long the idle sender may sleep: until its next try at what is held, if any."""
        with self._lock:
            if not self._held:
                return None
            return max(0.0, self._disk_retry_at - time.monotonic())

    def _set_link(self, state: HealthState, message: str) -> None:
        self._link = (state, message)
        self._report()

    def _report(self) -> None:
        """The worse of the delivery's state and the disk's, reported once per change."""
        with self._lock:
            disk, held = self._disk_error, len(self._held)
        state, message = self._link
        if disk is not None:
            refused = (f"outbox disk refuses incidents ({disk}): {held} held in memory, "
                       f"not yet stored")
            message = refused if state is HealthState.OK else f"{message}; {refused}"
            state = HealthState.DOWN if state is HealthState.DOWN else HealthState.DEGRADED
        self._health.report(state, message)

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
        url, content = request_of(self.url, record)
        with self._lock:
            self._stats.attempts += 1
        outcome = post_once(client, url, content)
        if outcome.delivery.stored:
            self._delete(name)
            with self._lock:
                if outcome.delivery is Delivery.CREATED:
                    self._stats.delivered += 1
                else:
                    self._stats.already += 1
            self._set_link(HealthState.OK, "delivering incidents to the supervision API")
            if stored.get("kind") == SESSION_RECORD:
                self._requeue_unsupported()
            if self._on_stored is not None:
                self._on_stored(str(stored.get("id")))
        elif outcome.status == 404 and stored.get("kind") == SESSION_RECORD:
            self._set_aside_unsupported(name)
            self._set_link(HealthState.OK, "the supervision API answers")
        elif outcome.delivery is Delivery.REJECTED:
            self._reject(name, outcome.why)
            self._set_link(HealthState.OK, "the supervision API answers")
        else:
            with self._lock:
                self._stats.retries += 1
                self._stats.last_error = outcome.why
            logger.warning("incident %s not delivered yet (%s); %d pending", stored.get("id"),
                           outcome.why, self.pending())
            if outcome.delivery is Delivery.BUSY:
                self._set_link(HealthState.DEGRADED, f"supervision API busy: {outcome.why}")
            elif outcome.delivery is Delivery.UNAUTHORISED:
                self._set_link(HealthState.DOWN, f"supervision API refuses the key: {outcome.why}")
            else:
                self._set_link(HealthState.DOWN, f"supervision API unreachable: {outcome.why}")
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
        # Written in tmp/ (cleaned at the next open if a crash cuts it short), then moved. A
        # disk too full for it leaves the reason in the log only: the entry is set aside still.
        staging = self._tmp_dir / (name + ".reason")
        try:
            atomic_write(staging, reason, sync_dir=False)
            os.rename(staging, self._rejected_dir / (name + ".reason"))
        except OSError as e:
            logger.error("outbox: the reason for %s is not written (%s); it is the line above",
                         name, e)
        self._set_aside(name, self._rejected_dir)
        with self._lock:
            self._stats.rejected += 1
            self._stats.last_error = why

    def _set_aside(self, name: str, folder: Path) -> None:
        """The pending entry `name` moved to `folder`, no longer to be sent."""
        os.rename(self._pending_dir / name, folder / name)
        fsync_dir(folder)
        fsync_dir(self._pending_dir)
        self._dequeue(name)

    def _set_aside_unsupported(self, name: str) -> None:
        self._set_aside(name, self._unsupported_dir)
        with self._lock:
            self._stats.sessions_unsupported += 1
            first, self._warned_unsupported = not self._warned_unsupported, True
        if first:
            logger.warning(
                "the supervision service has no route for session records (it answered 404: a "
                "version older than them); session records are set aside in %s and sent once "
                "the service takes one after its upgrade; incidents are delivered as before",
                self._unsupported_dir)

    def _requeue_unsupported(self) -> None:
        """The service takes session records now: those set aside go back to be sent."""
        names = sorted(p.name for p in self._unsupported_dir.iterdir())
        if not names:
            return
        for name in names:
            os.rename(self._unsupported_dir / name, self._pending_dir / name)
        fsync_dir(self._pending_dir)
        fsync_dir(self._unsupported_dir)
        with self._lock:
            self._queue = deque(sorted([*self._queue, *names]))
            self._ids.update(name[SEQUENCE_DIGITS + 1:] for name in names)
            self._warned_unsupported = False
        logger.info("the supervision service takes session records now: %d set aside before "
                    "are sent", len(names))

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


def _stored_form(record: dict[str, Any], sources: dict[str, Path]) -> dict[str, Any]:
    """The record as the entry keeps it: its evidence named by the copies beside it."""
    return {**record, "evidence": {role: EVIDENCE_PREFIX + role + src.suffix.lower()
                                   for role, src in sources.items()}}


def _evidence_still_there(iid: str, evidence: object) -> dict[str, Path]:
    """The evidence of a held record that is still there when the disk takes it (checked at
    `put`); a file gone since is named in the log and left out, as a lost copy is."""
    sources: dict[str, Path] = {}
    for role, path in (evidence if isinstance(evidence, dict) else {}).items():
        if Path(path).is_file():
            sources[role] = Path(path)
        else:
            logger.warning("incident %s: evidence %r is gone (%s) while the disk refused the "
                           "incident; storing it without it", iid, role, path)
    return sources


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

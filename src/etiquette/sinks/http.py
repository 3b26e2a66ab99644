"""The HTTP sink: each incident, with its evidence files, and each session's record posted to
the supervision service.

One multipart request per incident (`incident` = the JSON line without `evidence`, one file
part per evidence role), one JSON request per session (SESSIONS_PATH), authenticated with the
pipeline's API key. A service older than the sessions' route answers 404 there (the service
itself never refuses a session with 404): the batch sink counts such sessions apart from the
failures (PostReport.sessions_unsupported, logged once), since every incident may still have
been delivered; a durable sender sets them aside. The incidents go on either way.
`post_once` makes one attempt and says what it means; the batch sink retries in-line and the
live outbox (etiquette.sinks.outbox) retries from disk, both on that one classification. The
incident id makes a retry harmless, so connection errors, 5xx and 429 are retried with
backoff; any other 4xx is the service saying the incident is wrong, which retrying cannot fix:
it is reported.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from etiquette.core.session_records import SESSION_RECORD
from etiquette.sinks import deliverable

logger = logging.getLogger("etiquette.sinks.http")

INGEST_PATH = "/api/v1/incidents"
SESSIONS_PATH = "/api/v1/sessions"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
KEY_STATUS = frozenset({401, 403})  # the key, not the incident, is refused


class Delivery(StrEnum):
    """What one attempt to post an incident came to."""

    CREATED = "created"  # 201: stored now
    ALREADY = "already"  # 200: the service had it (a re-run or a retry); stored once
    UNREACHABLE = "unreachable"  # no answer (refused, reset, timed out): try again later
    BUSY = "busy"  # 429 or 5xx: the service is up but cannot take it now; try again later
    # 401/403: every incident would be refused until an operator fixes the key; the incident
    # itself is fine, so a durable sender keeps it rather than giving up on it.
    UNAUTHORISED = "unauthorised"
    REJECTED = "rejected"  # another 4xx: this incident is wrong; retrying cannot help

    @property
    def stored(self) -> bool:
        return self in (Delivery.CREATED, Delivery.ALREADY)

    @property
    def retryable(self) -> bool:
        """Worth the same request again soon, without anyone changing anything."""
        return self in (Delivery.UNREACHABLE, Delivery.BUSY)


@dataclass(frozen=True)
class Attempt:
    delivery: Delivery
    why: str = ""  # for the failures: the exception or "HTTP <status>: <detail>"
    status: int | None = None  # the HTTP status answered; None: no answer


@dataclass
class PostReport:
    created: int = 0
    already: int = 0  # the service had it (a re-run or a retry): stored once
    failed: list[tuple[str, str]] = field(default_factory=list)  # (incident id, why)
    # Session records a service without the sessions' route (an older one) answered 404 to.
    sessions_unsupported: int = 0


Files = dict[str, tuple[str, bytes, str]]  # role -> (file name, bytes, media type)


def endpoint(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith(INGEST_PATH) else url + INGEST_PATH


def request_of(url: str, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Where and what to POST for one record (`url` the service's, as `endpoint` takes it): a
    session's JSON to SESSIONS_PATH, an incident's multipart (`multipart`) to INGEST_PATH."""
    if record.get("kind") == SESSION_RECORD:  # no evidence (the outbox gives each entry one)
        body = {k: v for k, v in record.items() if k != "evidence"}
        return endpoint(url).removesuffix(INGEST_PATH) + SESSIONS_PATH, {"json": body}
    data, files = multipart(record)
    return endpoint(url), {"data": data, "files": files}


def multipart(record: dict[str, Any]) -> tuple[dict[str, str], Files]:
    """The form fields and files of one incident line (its evidence read from disk)."""
    body = {k: v for k, v in record.items() if k != "evidence"}
    files: Files = {}
    for role, path in (record.get("evidence") or {}).items():
        p = Path(path)
        media_type = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        files[role] = (p.name, p.read_bytes(), media_type)
    return {"incident": json.dumps(body, ensure_ascii=False)}, files


def post_once(client: httpx.Client, url: str, content: dict[str, Any]) -> Attempt:
    """One POST of one record (`request_of`'s output), classified."""
    try:
        response = client.post(url, **content)
    except httpx.TransportError as e:
        return Attempt(Delivery.UNREACHABLE, f"{type(e).__name__}: {e}")
    code = response.status_code
    if code == 201:
        return Attempt(Delivery.CREATED, status=code)
    if code == 200:
        return Attempt(Delivery.ALREADY, status=code)
    why = f"HTTP {code}: {_detail(response)}"
    if code in RETRY_STATUS:
        return Attempt(Delivery.BUSY, why, code)
    if code in KEY_STATUS:
        return Attempt(Delivery.UNAUTHORISED, why, code)
    return Attempt(Delivery.REJECTED, why, code)


class HttpSink:
    """Thread-safe; `write` takes the JSON records `etiquette batch` writes (errors skipped)."""

    def __init__(self, url: str, api_key: str, timeout_s: float = 30.0, retries: int = 5,
                 backoff_s: float = 0.5, client: httpx.Client | None = None) -> None:
        self.url = endpoint(url)
        self.retries, self.backoff_s = retries, backoff_s
        self._client = client or httpx.Client(timeout=timeout_s, headers={"X-API-Key": api_key})
        self._lock = threading.Lock()
        self.report = PostReport()

    def post(self, record: dict[str, Any]) -> None:
        iid = str(record.get("id", "?"))
        try:
            url, content = request_of(self.url, record)
        except OSError as e:
            self._fail(iid, f"evidence file unreadable: {e}")
            return
        outcome = Attempt(Delivery.UNREACHABLE, "not attempted")
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(30.0, self.backoff_s * 2 ** (attempt - 1)))
            outcome = post_once(self._client, url, content)
            if outcome.delivery.stored:
                with self._lock:
                    if outcome.delivery is Delivery.CREATED:
                        self.report.created += 1
                    else:
                        self.report.already += 1
                return
            if not outcome.delivery.retryable:
                break
            logger.warning("post %s: %s, attempt %d", iid, outcome.why, attempt + 1)
        if outcome.status == 404 and record.get("kind") == SESSION_RECORD:
            self._unsupported(iid)
            return
        self._fail(iid, outcome.why)

    def _unsupported(self, sid: str) -> None:
        with self._lock:
            self.report.sessions_unsupported += 1
            first = self.report.sessions_unsupported == 1
        if first:
            logger.warning("the service has no sessions route (an older service answered 404 "
                           "to session %s): session records are not posted", sid)

    def _fail(self, iid: str, why: str) -> None:
        logger.error("incident %s not delivered: %s", iid, why)
        with self._lock:
            self.report.failed.append((iid, why))

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        for record in deliverable(records):
            self.post(record)

    def close(self) -> None:
        self._client.close()


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:300]
    if isinstance(detail, str):
        return detail[:300]
    return json.dumps(detail, ensure_ascii=False)[:300]

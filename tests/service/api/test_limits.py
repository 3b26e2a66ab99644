"""Request bodies bounded before they are read (issue 17, items 1 and 2's service half), against
a real uvicorn server over real sockets: an unauthenticated upload of any declared size is
refused after at most its first chunk, before any form parsing (python-multipart spools file
parts to disk); a key holder's oversized body gets 413 from its Content-Length before it is
sent, or, chunked, as soon as it runs over; normal uploads are unaffected; practice refuses
one attempt more than its slots with 429 and Retry-After.

The service here has small limits and a stand-in practice checker that waits until the test
lets it finish (the real recogniser is tested in test_practice.py)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import starlette.requests
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartParser

from etiquette.core.practice import PracticeVerdict
from etiquette.core.rules import RequiredRule, RuleSet
from etiquette.service.api.limits import UPLOADS
from etiquette.service.main import create_app

from factories.service import MASTERDATA, incident, post_incident, wav_bytes
from service.conftest import LiveService, seed, settings_for, start_service, stop_service

GB = 1024 ** 3
CHUNK = 64 * 1024
BOUNDARY = "etiquette-limits"
EVIDENCE_BYTES = 64 * 1024
IMPORT_BYTES = 8 * 1024


class HeldChecker:
    """A practice checker that holds its slot until `release` is set."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self, recording: bytes, rules: RuleSet, rule: RequiredRule) -> PracticeVerdict:
        self.entered.release()
        assert self.release.wait(30), "the test never let the attempt finish"
        return PracticeVerdict(rule.id, rule.phrases[0], rule.phrases[0], True, 1.0,
                               rule.phrases[0], (), 1.0)


@dataclass
class Limited:
    live: LiveService
    checker: HeldChecker
    host: str = ""
    port: int = 0
    parsers: list[int] = field(default_factory=list)

    def credentials(self, who: str) -> dict[str, str]:
        if who == "pipeline":
            return {"X-API-Key": self.live.api_key}
        client = self.live.client(who)
        return {"Cookie": f"etiquette_session={client.cookies['etiquette_session']}",
                "X-CSRF-Token": client.csrf}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    settings = settings_for(tmp_path_factory.mktemp("limits"), max_evidence_bytes=EVIDENCE_BYTES,
                            max_evidence_files=2, max_import_bytes=IMPORT_BYTES,
                            practice_concurrency=1, run_webhook_job=False)
    checker = HeldChecker()
    live = start_service(settings, "sqlite", practice=checker)
    seed(live)
    url = urlsplit(live.base_url)
    assert url.hostname and url.port
    yield Limited(live, checker, url.hostname, url.port)
    checker.release.set()
    stop_service(live)


@pytest.fixture
def parsers(monkeypatch: pytest.MonkeyPatch, limited: Limited) -> list[int]:
    """Counts the multipart parsers the service (in this process) makes: one per form read."""
    made: list[int] = []

    class Counting(MultiPartParser):
        def __init__(self, headers: Headers, stream: AsyncGenerator[bytes, None],
                     **limits: Any) -> None:
            made.append(1)
            super().__init__(headers, stream, **limits)

    monkeypatch.setattr(starlette.requests, "MultiPartParser", Counting)
    return made


# ---------------------------------------------------------------- raw HTTP over a socket


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    detail: str
    closed: bool  # the server closed the connection after answering
    elapsed_s: float


def raw(limited: Limited, path: str, headers: dict[str, str], body: bytes = b"",
        wait_s: float = 10.0) -> Answer:
    """Send the request line, `headers` and `body` (perhaps only the start of what the headers
    declare), then read the answer and whether the server closes the connection."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {limited.host}:{limited.port}",
             *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    started = time.monotonic()
    with socket.create_connection((limited.host, limited.port), timeout=wait_s) as s:
        s.sendall("\r\n".join(lines).encode() + body)
        data, closed = b"", False
        while True:
            try:
                chunk = s.recv(CHUNK)
            except ConnectionResetError:
                closed = True
                break
            except TimeoutError:
                break  # kept open: the answer is whole (read below) or there is none
            if not chunk:
                closed = True
                break
            data += chunk
    assert data, f"no answer in {wait_s} s"
    head, _, content = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answer_headers = {k.strip().lower(): v.strip()
                      for k, _, v in (h.partition(":") for h in header_lines)}
    assert len(content) == int(answer_headers["content-length"]), data
    return Answer(int(status_line.split()[1]), answer_headers,
                  json.loads(content)["detail"], closed, time.monotonic() - started)


def multipart_start(field_name: str = "audio") -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field_name}"; '
            f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()


def multipart(declared: int, **extra: str) -> dict[str, str]:
    return {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(declared), **extra}


ROUTES = [("/api/v1/incidents", "clip", "pipeline"),
          ("/api/v1/practice/attempts", "audio", "staff1"),
          ("/api/v1/masterdata/import", "file", "admin")]


@pytest.mark.parametrize("path,field_name,who", ROUTES)
def test_an_unauthenticated_gigabyte_is_refused_after_its_first_chunk(
        limited: Limited, parsers: list[int], path: str, field_name: str, who: str) -> None:
    """1 GB declared, the first 64 KiB sent: 401 at once, the connection closed (the rest is
    never read), and no form parser made (nothing spooled to disk)."""
    first = multipart_start(field_name) + b"\0" * (CHUNK - len(multipart_start(field_name)))
    answer = raw(limited, path, multipart(GB), first)
    assert answer.status == 401, answer
    assert answer.detail.startswith(("请先登录", "missing, unknown or revoked API key"))
    assert answer.closed and answer.headers["connection"] == "close"
    assert answer.elapsed_s < 5
    assert parsers == []


@pytest.mark.parametrize("path,field_name,who", ROUTES)
def test_an_oversized_body_of_a_key_holder_is_refused_before_it_is_sent(
        limited: Limited, parsers: list[int], path: str, field_name: str, who: str) -> None:
    """Authenticated, 1 GB declared: 413 with the limit in Chinese on the headers alone; a
    client that waits for `100 Continue` before sending is never asked for the body."""
    answer = raw(limited, path, multipart(GB, Expect="100-continue", **limited.credentials(who)))
    assert answer.status == 413, answer  # not 100
    assert answer.detail.startswith("请求内容过大，超过上限") and "bytes" in answer.detail
    assert answer.closed and answer.elapsed_s < 5
    assert parsers == []


def test_the_caller_and_its_permission_are_checked_before_the_body(
        limited: Limited, parsers: list[int]) -> None:
    staff = limited.credentials("staff1")
    refused = raw(limited, "/api/v1/masterdata/import", multipart(GB, **staff),
                  multipart_start("file"))
    assert refused.status == 403, refused  # staff may not import master data
    wrong_csrf = {**staff, "X-CSRF-Token": "forged"}
    forged = raw(limited, "/api/v1/practice/attempts", multipart(GB, **wrong_csrf))
    assert forged.status == 403 and "CSRF" in forged.detail
    session_for_ingest = raw(limited, "/api/v1/incidents",
                             multipart(GB, **limited.credentials("admin")))
    assert session_for_ingest.status == 401  # ingest takes a pipeline's key only
    assert parsers == []


def test_a_small_refused_body_is_read_so_the_client_gets_its_answer(limited: Limited) -> None:
    """A body of at most one chunk is drained before the 401: the connection stays usable."""
    body = multipart_start("clip") + b"x" * 100 + f"\r\n--{BOUNDARY}--\r\n".encode()
    answer = raw(limited, "/api/v1/incidents", multipart(len(body)), body, wait_s=1.0)
    assert answer.status == 401 and not answer.closed


def test_other_requests_have_the_default_limit(limited: Limited) -> None:
    login = raw(limited, "/api/v1/auth/login",
                {"Content-Type": "application/json", "Content-Length": str(GB)})
    assert login.status == 413 and login.closed
    assert str(limited.live.settings.max_body_bytes) in login.detail


class Body:
    """A streamed request body: `head`, then zeros up to `total` bytes, counting what the client
    managed to send before the server stopped taking it."""

    def __init__(self, head: bytes, total: int) -> None:
        self.head = head
        self.total = total
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        self.sent = len(self.head)
        yield self.head
        block = b"\0" * CHUNK
        while self.sent < self.total:
            self.sent += len(block)
            yield block


def test_a_chunked_body_is_cut_off_where_it_runs_over(limited: Limited,
                                                      parsers: list[int]) -> None:
    """No Content-Length (chunked transfer): read until the limit, then 413 and closed; the
    client, streaming 1 GB, got no further than the limit and the sockets' buffers."""
    limit = limited.live.settings.ingest_max_body_bytes
    body = Body(multipart_start("clip"), GB)
    with httpx.Client(base_url=limited.live.base_url, timeout=30,
                      headers={"X-API-Key": limited.live.api_key}) as client:
        started = time.monotonic()
        r = client.post("/api/v1/incidents", content=body,
                        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        elapsed = time.monotonic() - started
    assert r.status_code == 413, r.text
    assert r.json()["detail"].startswith("请求内容过大") and str(limit) in r.json()["detail"]
    assert r.headers["connection"] == "close"
    assert body.sent < limit + 32 * 1024 * 1024, body.sent
    assert elapsed < 10
    assert len(parsers) == 1  # the key is good: the form was read, as far as the limit


def test_a_streamed_unauthenticated_body_costs_the_client_little(limited: Limited) -> None:
    """An ordinary client streaming a declared 1 GB without a key gets the 401 while sending."""
    body = Body(multipart_start("clip"), GB)
    with httpx.Client(base_url=limited.live.base_url, timeout=30) as client:
        r = client.post("/api/v1/incidents", content=body, headers=multipart(GB))
    assert r.status_code == 401, r.text
    assert body.sent < 32 * 1024 * 1024, body.sent


def test_uploads_within_the_limits_are_unaffected(limited: Limited) -> None:
    live = limited.live
    ok = post_incident(live.pipeline(), incident(),
                       files={"clip": ("c.wav", wav_bytes(1.0), "audio/wav")})
    assert ok.status_code == 201, ok.text
    # One evidence file over max_evidence_bytes but the post within the ingest limit: the
    # route's own check answers, after reading it, as before.
    big = post_incident(live.pipeline(), incident(),
                        files={"clip": ("c.wav", wav_bytes(3.0), "audio/wav")})
    assert big.status_code == 413 and "limit" in big.json()["detail"]

    admin = live.client("admin")
    imported = admin.post("/api/v1/masterdata/import",  # the seeded data again: no change
                          files={"file": ("m.yaml", MASTERDATA.encode(), "text/yaml")})
    assert imported.status_code == 200, imported.text
    too_big = admin.post("/api/v1/masterdata/import",
                         files={"file": ("m.yaml", b"#" * (IMPORT_BYTES + 1), "text/yaml")})
    assert too_big.status_code == 413 and too_big.json()["detail"].startswith("导入文件太大")

    limited.checker.release.set()
    staff = live.client("staff1")
    attempt = staff.post("/api/v1/practice/attempts", data={"rule_id": "R-greeting"},
                         files={"audio": ("p.wav", wav_bytes(1.0), "audio/wav")})
    assert attempt.status_code == 201, attempt.text
    assert limited.checker.entered.acquire(timeout=1)


def test_practice_beyond_its_slots_is_answered_429(limited: Limited) -> None:
    live = limited.live
    limited.checker.release.clear()
    done: list[httpx.Response] = []

    def first() -> None:
        with httpx.Client(base_url=live.base_url, timeout=30,
                          headers=limited.credentials("staff1")) as client:
            done.append(client.post("/api/v1/practice/attempts", data={"rule_id": "R-greeting"},
                                    files={"audio": ("p.wav", wav_bytes(1.0), "audio/wav")}))

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert limited.checker.entered.acquire(timeout=10)  # the one slot is taken
        second = live.client("staff2").post(
            "/api/v1/practice/attempts", data={"rule_id": "R-greeting"},
            files={"audio": ("p.wav", wav_bytes(1.0), "audio/wav")})
        assert second.status_code == 429, second.text
        assert second.json()["detail"].startswith("正在识别的练习录音较多")
        assert int(second.headers["retry-after"]) > 0
        # Refused before its body is read, too: a declared gigabyte gets the same answer.
        early = raw(limited, "/api/v1/practice/attempts",
                    multipart(GB, **limited.credentials("staff2")))
        assert early.status == 429 and early.closed and "retry-after" in early.headers
    finally:
        limited.checker.release.set()
        thread.join(timeout=30)
    assert [r.status_code for r in done] == [201]
    again = live.client("staff2").post("/api/v1/practice/attempts", data={"rule_id": "R-greeting"},
                                       files={"audio": ("p.wav", wav_bytes(1.0), "audio/wav")})
    assert again.status_code == 201, again.text  # the slot was given back
    assert limited.checker.entered.acquire(timeout=1)


def test_the_guarded_uploads_are_the_apps_routes(tmp_path: Path) -> None:
    """The middleware's table names routes that exist (a renamed route would go unguarded)."""
    paths = create_app(settings_for(tmp_path)).openapi()["paths"]
    operations = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert set(UPLOADS) <= operations

"""Request bodies bounded before they are read (issue 17, items 1 and 2's service half), against
a real uvicorn server over real sockets: an unauthenticated upload of any declared size is
refused after at most its first chunk, before any form parsing (python-multipart spools file
parts to disk); a key holder's oversized body gets 413 from its Content-Length before it is
sent, or, chunked, as soon as it runs over; each upload's limit is its parts plus one form's
overhead; normal uploads are unaffected; practice refuses one attempt more than its slots,
and ingest and staff photos one decode more than theirs, with 429 and Retry-After.

The service here has small limits and a stand-in practice checker that waits until the test
lets it finish (the real recogniser is tested in test_practice.py)."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import pytest
import starlette.requests
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartParser

from etiquette.core.practice import PracticeVerdict
from etiquette.core.rules import RequiredRule, RuleSet
from etiquette.service.api.limits import UPLOADS
from etiquette.service.core.config import FORM_BYTES, INCIDENT_LINE_BYTES, RECORDING_BYTES_PER_S
from etiquette.service.main import create_app
from etiquette.service.services.slots import DecodeSlots

from factories.service import (
    MASTERDATA,
    PASSWORD,
    Api,
    incident,
    jpeg_bytes,
    post_incident,
    wav_bytes,
)
from service.conftest import LiveService, seed, settings_for, start_service, stop_service

GB = 1024 ** 3
CHUNK = 64 * 1024
BOUNDARY = "etiquette-limits"
EVIDENCE_BYTES = 128 * 1024
BODY_BYTES = 64 * 1024  # any other request: less than a photo may be
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

    @property
    def app(self) -> FastAPI:
        app = self.live.server.config.app
        assert isinstance(app, FastAPI)
        return app

    def credentials(self, who: str) -> dict[str, str]:
        if who == "pipeline":
            return {"X-API-Key": self.live.api_key}
        client = self.live.client(who)
        return {"Cookie": f"etiquette_session={client.cookies['etiquette_session']}",
                "X-CSRF-Token": client.csrf}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    settings = settings_for(tmp_path_factory.mktemp("limits"), max_evidence_bytes=EVIDENCE_BYTES,
                            max_body_bytes=BODY_BYTES, max_import_bytes=IMPORT_BYTES,
                            practice_concurrency=1, decode_concurrency=2, decode_wait_s=0.5,
                            run_webhook_job=False)
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
        wait_s: float = 10.0, method: str = "POST", then: Callable[[], None] | None = None,
        rest: bytes = b"") -> Answer:
    """Send the request line, `headers` and `body` (perhaps only the start of what the headers
    declare), then, if given, call `then` and send `rest`; read the answer and whether the
    server closes the connection."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {limited.host}:{limited.port}",
             *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    started = time.monotonic()
    with socket.create_connection((limited.host, limited.port), timeout=wait_s) as s:
        s.sendall("\r\n".join(lines).encode() + body)
        if then is not None:
            then()
            s.sendall(rest)
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


def multipart_end() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


def form(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A whole multipart body of (name, file name or None for a text field, content) parts."""
    body = b""
    for name, filename, content in parts:
        file = f'; filename="{filename}"' if filename else ""
        body += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{file}\r\n\r\n'
                 .encode() + content + b"\r\n")
    return body + f"--{BOUNDARY}--\r\n".encode()


PHOTO = "/api/v1/staff/{T001}/photo"
ROUTES = [("POST", "/api/v1/incidents", "clip", "pipeline"),
          ("POST", "/api/v1/practice/attempts", "audio", "staff1"),
          ("POST", "/api/v1/masterdata/import", "file", "admin"),
          ("PUT", PHOTO, "photo", "admin")]


def route(limited: Limited, path: str) -> str:
    return path.format(**{k: str(v) for k, v in limited.live.ids.items()})


def stored_files(limited: Limited) -> list[str]:
    return sorted(p.name for p in limited.live.settings.evidence_dir.rglob("*") if p.is_file())


@pytest.mark.parametrize("method,path,field_name,who", ROUTES)
def test_an_unauthenticated_gigabyte_is_refused_after_its_first_chunk(
        limited: Limited, parsers: list[int], method: str, path: str, field_name: str,
        who: str) -> None:
    """1 GB declared, the first 64 KiB sent: 401 at once, the connection closed (the rest is
    never read), and no form parser made (nothing spooled to disk, nothing stored)."""
    before = stored_files(limited)
    first = multipart_start(field_name) + b"\0" * (CHUNK - len(multipart_start(field_name)))
    answer = raw(limited, route(limited, path), multipart(GB), first, method=method)
    assert answer.status == 401, answer
    assert answer.detail.startswith(("请先登录", "missing, unknown or revoked API key"))
    assert answer.closed and answer.headers["connection"] == "close"
    assert answer.elapsed_s < 5
    assert parsers == []
    assert stored_files(limited) == before


@pytest.mark.parametrize("method,path,field_name,who", ROUTES)
def test_an_oversized_body_of_a_key_holder_is_refused_before_it_is_sent(
        limited: Limited, parsers: list[int], method: str, path: str, field_name: str,
        who: str) -> None:
    """Authenticated, 1 GB declared: 413 with the limit in Chinese on the headers alone; a
    client that waits for `100 Continue` before sending is never asked for the body."""
    answer = raw(limited, route(limited, path),
                 multipart(GB, Expect="100-continue", **limited.credentials(who)), method=method)
    assert answer.status == 413, answer  # not 100
    assert answer.detail.startswith("请求内容过大，超过上限") and "bytes" in answer.detail
    assert answer.closed and answer.elapsed_s < 5
    assert parsers == []


def file_parts(app: FastAPI, method: str, path: str) -> list[str]:
    """The file parts an upload route takes, as its OpenAPI schema states them."""
    api = app.openapi()
    ref = (api["paths"][path][method.lower()]["requestBody"]["content"]["multipart/form-data"]
           ["schema"]["$ref"])
    fields = api["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    return [name for name, spec in fields.items()
            if any("contentMediaType" in s for s in [spec, *spec.get("anyOf", [])])]


@pytest.mark.parametrize("method,path,field_name,who", ROUTES)
def test_each_upload_is_allowed_its_parts_and_one_forms_overhead(
        limited: Limited, method: str, path: str, field_name: str, who: str) -> None:
    """Ingest: max_evidence_bytes for each evidence part the route takes (six), plus the
    incident line; practice: the longest recording; import: the import file; a photo:
    max_evidence_bytes; each with one allowance for the form (boundaries, part headers). A body
    one byte over is refused from its Content-Length, the limit named."""
    settings = limited.live.settings
    parts = file_parts(limited.app, method, path.replace("{T001}", "{id}"))
    expected = {
        "/api/v1/incidents": len(parts) * EVIDENCE_BYTES + INCIDENT_LINE_BYTES,
        "/api/v1/practice/attempts": math.ceil(settings.practice_max_s * RECORDING_BYTES_PER_S),
        "/api/v1/masterdata/import": IMPORT_BYTES,
        PHOTO: EVIDENCE_BYTES,
    }[path] + FORM_BYTES
    if path == "/api/v1/incidents":
        assert parts == [
            "clip", "snapshot", "empty_seat", "last_seen", "first_frame", "last_frame"]
    answer = raw(limited, route(limited, path), multipart(
        expected + 1, Expect="100-continue", **limited.credentials(who)), method=method)
    assert answer.status == 413, answer
    assert f"limit of {expected} bytes" in answer.detail, (answer.detail, expected)


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
    photo = raw(limited, route(limited, PHOTO), multipart(GB, **staff), multipart_start("photo"),
                method="PUT")
    assert photo.status == 403, photo  # a staff member may not set even their own photo
    assert parsers == []


def test_a_small_refused_body_is_read_so_the_client_gets_its_answer(limited: Limited) -> None:
    """A body of at most one chunk is drained before the 401: the connection stays usable."""
    body = multipart_start("clip") + b"x" * 100 + multipart_end()
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


@pytest.mark.parametrize("method,path,field_name,who,limit_of", [
    ("POST", "/api/v1/incidents", "clip", "pipeline", "ingest_max_body_bytes"),
    ("PUT", PHOTO, "photo", "admin", "photo_max_body_bytes")])
def test_a_chunked_body_is_cut_off_where_it_runs_over(
        limited: Limited, parsers: list[int], method: str, path: str, field_name: str, who: str,
        limit_of: str) -> None:
    """No Content-Length (chunked transfer): read until the route's limit, then 413 and closed;
    the client, streaming 1 GB, got no further than the limit and the sockets' buffers."""
    limit = getattr(limited.live.settings, limit_of)
    body = Body(multipart_start(field_name), GB)
    with httpx.Client(base_url=limited.live.base_url, timeout=30,
                      headers=limited.credentials(who)) as client:
        started = time.monotonic()
        r = client.request(method, route(limited, path), content=body,
                           headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        elapsed = time.monotonic() - started
    assert r.status_code == 413, r.text
    assert r.json()["detail"].startswith("请求内容过大") and f"limit of {limit} bytes" in r.json()[
        "detail"]
    assert r.headers["connection"] == "close"
    assert body.sent < limit + 32 * 1024 * 1024, body.sent
    assert elapsed < 10
    assert len(parsers) == 1  # the caller is good: the form was read, as far as the limit


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
                        files={"clip": ("c.wav", wav_bytes(5.0), "audio/wav")})
    assert big.status_code == 413 and "limit" in big.json()["detail"]

    admin = live.client("admin")
    imported = admin.post("/api/v1/masterdata/import",  # the seeded data again: no change
                          files={"file": ("m.yaml", MASTERDATA.encode(), "text/yaml")})
    assert imported.status_code == 200, imported.text
    too_big = admin.post("/api/v1/masterdata/import",
                         files={"file": ("m.yaml", b"#" * (IMPORT_BYTES + 1), "text/yaml")})
    assert too_big.status_code == 413 and too_big.json()["detail"].startswith("导入文件太大")

    # A photo larger than any other request may be (max_body_bytes) but within the photo limit.
    photo_path = route(limited, PHOTO)
    photo = noise_png(160)
    assert BODY_BYTES < len(photo) < EVIDENCE_BYTES
    put = admin.put(photo_path, files={"photo": ("p.png", photo, "image/png")})
    assert put.status_code == 200 and put.json()["has_photo"], put.text
    assert admin.get(photo_path).content == photo
    over = noise_png(220)  # over max_evidence_bytes, the body within the photo's limit
    assert EVIDENCE_BYTES < len(over) < live.settings.photo_max_body_bytes - 1024
    refused = admin.put(photo_path, files={"photo": ("p.png", over, "image/png")})
    assert refused.status_code == 413 and "the limit is" in refused.json()["detail"]

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


def noise_png(side: int) -> bytes:
    """A PNG of random pixels: it hardly compresses, so its size follows `side`."""
    pixels = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".png", pixels)
    assert ok
    return data.tobytes()


def take_slots_once_the_form_is_read(parsers: list[int], slots: DecodeSlots,
                                     held: ExitStack) -> Callable[[], None]:
    """Waits until the service reads the form (its caller check passed), then takes every
    slot, held until `held` closes."""
    def take() -> None:
        deadline = time.monotonic() + 10
        while not parsers:
            assert time.monotonic() < deadline, "the form was never read"
            time.sleep(0.01)
        for _ in range(slots.size):
            held.enter_context(slots.hold())

    return take


def assert_busy(r: httpx.Response | Answer) -> None:
    if isinstance(r, httpx.Response):
        r = Answer(r.status_code, dict(r.headers), r.json()["detail"], False, 0.0)
    assert r.status == 429, r
    assert r.detail.startswith("正在校验的上传文件较多") and int(r.headers["retry-after"]) > 0


def wait_for_a_slot(slots: DecodeSlots) -> None:
    with slots.hold():
        pass


def test_a_burst_of_decodes_waits_for_a_slot(limited: Limited,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Every decoding slot taken for a moment: an incident and a photo posted meanwhile wait
    (decode_wait_s) and are taken once a slot is free, not told to come back."""
    live = limited.live
    slots: DecodeSlots = limited.app.state.decode_slots
    monkeypatch.setattr(slots, "wait_s", 30.0)  # however slowly the two arrive here
    done: dict[str, httpx.Response] = {}

    def send(name: str) -> None:
        with Api(live.base_url) as client:
            if name == "photo":
                assert client.login("admin", PASSWORD).status_code == 200
                done[name] = client.put(route(limited, PHOTO), files={
                    "photo": ("p.jpg", jpeg_bytes(70), "image/jpeg")})
            else:
                client.headers["X-API-Key"] = live.api_key
                done[name] = post_incident(client, incident(), files={
                    "snapshot": ("s.jpg", jpeg_bytes(), "image/jpeg")})

    with ExitStack() as held:
        for _ in range(slots.size):
            held.enter_context(slots.hold())
        senders = [threading.Thread(target=send, args=(n,)) for n in ("photo", "incident")]
        for t in senders:
            t.start()
        deadline = time.monotonic() + 20
        while slots.waiting < 2:  # both got as far as the decoding, and wait
            assert time.monotonic() < deadline, done
            time.sleep(0.01)
    for t in senders:
        t.join(30)
    assert done["photo"].status_code == 200, done["photo"].text
    assert done["incident"].status_code == 201, done["incident"].text


def test_decoding_beyond_its_slots_is_answered_429(limited: Limited, parsers: list[int],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """While every decoding slot stays taken, an incident with evidence and a staff photo wait
    decode_wait_s, then are refused with 429, Retry-After and a Chinese message, also where the
    slots filled while the body was being sent; with the waiting places taken too, before
    their body is read. Nothing is stored. Once a slot is free, both are taken."""
    live = limited.live
    slots: DecodeSlots = limited.app.state.decode_slots
    photo_path = route(limited, PHOTO)
    admin = live.client("admin")
    before = admin.get(f"/api/v1/staff/{live.ids['T001']}").json()
    stored = stored_files(limited)
    with ExitStack() as held:
        for _ in range(slots.size):
            held.enter_context(slots.hold())
        started = time.monotonic()
        assert_busy(post_incident(live.pipeline(), incident(), files={
            "clip": ("c.wav", wav_bytes(1.0), "audio/wav"),
            "snapshot": ("s.jpg", jpeg_bytes(), "image/jpeg")}))
        assert_busy(admin.put(photo_path, files={"photo": ("p.jpg", jpeg_bytes(90), "image/jpeg")}))
        assert time.monotonic() - started >= 2 * slots.wait_s  # each waited for a slot

    # The slots fill while the body is being sent: the caller was let in, the route refuses it.
    ingest_body = form(("incident", None, json.dumps(incident()).encode()),
                       ("snapshot", "s.jpg", jpeg_bytes()))
    for method, path, who, body in [("PUT", photo_path, "admin",
                                     form(("photo", "p.jpg", jpeg_bytes(90)))),
                                    ("POST", "/api/v1/incidents", "pipeline", ingest_body)]:
        parsers.clear()
        half = len(body) // 2
        with ExitStack() as late_held:
            late = raw(limited, path, multipart(len(body), **limited.credentials(who)),
                       body[:half], method=method, rest=body[half:], wait_s=slots.wait_s + 1,
                       then=take_slots_once_the_form_is_read(parsers, slots, late_held))
        assert_busy(late)

    # Every slot and every waiting place taken: refused on the headers, the body never read.
    parsers.clear()
    monkeypatch.setattr(slots, "wait_s", 30.0)  # the waiting places stay taken meanwhile
    with ExitStack() as held:
        for _ in range(slots.size):
            held.enter_context(slots.hold())
        waiting = [threading.Thread(target=wait_for_a_slot, args=(slots,))
                   for _ in range(slots.queue)]
        for t in waiting:
            t.start()
        deadline = time.monotonic() + 10
        while slots.waiting < slots.queue:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for path, method, who in [(photo_path, "PUT", "admin"),
                                  ("/api/v1/incidents", "POST", "pipeline")]:
            early = raw(limited, path, multipart(GB, **limited.credentials(who)), method=method)
            assert_busy(early)
            assert early.closed and early.elapsed_s < 5
        assert parsers == []
    for t in waiting:
        t.join(10)

    assert admin.get(f"/api/v1/staff/{live.ids['T001']}").json() == before
    assert stored_files(limited) == stored
    ok = admin.put(photo_path, files={"photo": ("p.jpg", jpeg_bytes(90), "image/jpeg")})
    assert ok.status_code == 200, ok.text
    stored_ok = post_incident(live.pipeline(), incident(), files={
        "clip": ("c.wav", wav_bytes(1.0), "audio/wav"),
        "snapshot": ("s.jpg", jpeg_bytes(), "image/jpeg")})
    assert stored_ok.status_code == 201, stored_ok.text


def test_the_guarded_uploads_are_the_apps_routes(tmp_path: Path) -> None:
    """The middleware's table names routes that exist (a renamed route would go unguarded)."""
    paths = create_app(settings_for(tmp_path)).openapi()["paths"]
    operations = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert set(UPLOADS) <= operations

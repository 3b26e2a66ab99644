"""Reliability under bad input (issue 17, item 8): what was tried against `etiquette serve` and
`etiquette batch`, and what came of it.

    python -m benchmarks.reliability [--quick] [--out DIR] [--examples N] [--no-write]

1. Starts `etiquette serve` (the real command, its practice recogniser included) as its own
   process on a free loopback port with a fresh data directory (SQLite), seeded through the
   service's code with master data, one user per role and a pipeline key;
   ETIQUETTE_TRUSTED_PROXIES is 127.0.0.1, so that attacks can come from other addresses by
   X-Forwarded-For, as behind a proxy. Its TMPDIR is a folder of its own.
2. Bad requests, made by hand: oversized bodies with and without a Content-Length
   (unauthenticated and authenticated; ingest, practice, import) sent over a raw socket to see
   how much the service took before it answered, while a sampler adds up the regular files the
   service holds open under its TMPDIR and data directory and follows its RSS; duplicate form
   parts; fake evidence (a PNG signature before `<script>`, HTML as audio); an audio bomb (a
   FLAC of 2 h of silence) to practice, alone and three at once; 30 parallel wrong passwords for
   one user, from one address and from 30; weak passwords; a password change's effect on the
   other sessions; the security headers of a page and of evidence; damaged clips posted as
   evidence.
3. Bad requests, generated: schemathesis from the service's own OpenAPI, every operation,
   negative (schema-violating) and positive data, as no one, the pipeline key and the admin
   session (cookie + CSRF token). Any 5xx or broken connection is a failure row with the
   request as curl.
4. Damaged media: controls and damaged copies of recordings_sample/ (wav, flac, mp3, m4a, ogg,
   and an MP4 made from the WAV; benchmarks/reliability_media.py) in one folder, through the
   real `etiquette batch` (a subprocess, JSONL out), in the background while 2-3 run. For each
   file: reported (an error or incomplete line) or taken as complete, and any missing
   greeting/farewell judged on a damaged file that its intact control does not have.
5. At the end: is the service still up, did its log record an unhandled exception, did batch
   exit as it should (1: something was damaged) without a traceback.

Results: benchmarks/reliability_results.{md,json} (or --out DIR). Exit status 0 when no
server error, crash or unreported detectable damage was found. Every loop is bounded in count
and time; the full run takes a few minutes on two cores, --quick about one.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf

from benchmarks import service_process
from benchmarks.practice_memory import audio_bomb, unstated
from benchmarks.reliability_media import (
    Damage,
    damaged_clips,
    make_damaged,
)
from etiquette.sinks import NOT_INCIDENTS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MiB = 1024 * 1024
TIME_LIMIT_S = 900.0
ROLES = ("admin", "supervisor", "auditor", "staff1", "staff2")
MASTERDATA = """
centers:
  - code: nc
    name: 南昌市政务服务中心
    windows:
      - {code: w-a, number: "01", department: 市场监督管理局, business_category: 企业登记}
      - {code: w-b, number: "02", department: 人社局, business_category: 社保}
staff:
  - {employee_no: T001, name: 王芳, center: nc}
  - {employee_no: T002, name: 李强, center: nc}
assignments:
  - {employee_no: T001, center: nc, window: w-a, start_at: "2020-01-01T00:00:00+08:00"}
  - {employee_no: T002, center: nc, window: w-b, start_at: "2020-01-01T00:00:00+08:00"}
"""
SKIP = {("POST", "/api/v1/auth/logout"),  # it would end the session the run works with
        ("GET", "/api/v1/alerts/stream")}  # an event stream never ends


@dataclass
class Row:
    """One bad input (or one group of them) and what came of it."""

    group: str
    name: str
    expected: str
    got: str
    ok: bool
    tried: int = 1  # bad inputs this row stands for
    server_error: bool = False
    detail: str = ""


@dataclass
class Service:
    base: str
    port: int
    proc: subprocess.Popen[bytes]
    data_dir: Path
    tmp_dir: Path
    log: Path
    password: str
    api_key: str
    ids: dict[str, int] = field(default_factory=dict)
    png_incident: str = ""  # an incident with a real PNG snapshot, for the headers' check

    def login(self, who: str, client: httpx.Client | None = None) -> tuple[httpx.Client, str]:
        c = client or httpx.Client(base_url=self.base, timeout=60)
        r = c.post("/api/v1/auth/login", json={"username": who, "password": self.password})
        r.raise_for_status()
        return c, str(r.json()["csrf_token"])


# ---------------------------------------------------------------- the service


def seed(data_dir: Path, password: str) -> tuple[str, dict[str, int]]:
    """Migrations, master data, one user per role and a pipeline key, through the service's
    own code (as the tests' conftest does)."""
    from etiquette.service.core.config import Settings
    from etiquette.service.core.db import make_engine, make_sessionmaker
    from etiquette.service.crud import master
    from etiquette.service.main import prestart
    from etiquette.service.schemas import ApiKeyCreate, Role, UserCreate
    from etiquette.service.services import masterdata, users
    from etiquette.service.services.access import SYSTEM_CLI

    settings = Settings(data_dir=data_dir)
    engine = make_engine(settings.sqlalchemy_url)
    prestart(settings, engine)
    ids: dict[str, int] = {}
    roles = {"admin": Role.ADMIN, "supervisor": Role.SUPERVISOR, "auditor": Role.AUDITOR,
             "staff1": Role.STAFF, "staff2": Role.STAFF}
    with make_sessionmaker(engine)() as session:
        masterdata.import_file(session=session, principal=SYSTEM_CLI,
                               data=masterdata.parse_yaml(MASTERDATA))
        for no in ("T001", "T002"):
            staff = master.staff_by_employee_no(session=session, employee_no=no)
            assert staff is not None
            ids[no] = staff.id
        center = master.center_by_code(session=session, code="nc")
        assert center is not None
        ids["center"] = center.id
        for name, role in roles.items():
            staff_id = ids["T001"] if name == "staff1" else ids["T002"] if name == "staff2" \
                else None
            user = users.create_user(session=session, principal=SYSTEM_CLI, user_in=UserCreate(
                username=name, password=password, role=role, staff_id=staff_id,
                display_name=name))
            ids[name] = user.id
        _, key = users.create_api_key(session=session, principal=SYSTEM_CLI,
                                      key_in=ApiKeyCreate(name="reliability",
                                                          center_id=center.id))
    engine.dispose()
    return key, ids


def start_service(work: Path) -> Service:
    data_dir, tmp_dir = work / "service", work / "service-tmp"
    data_dir.mkdir()
    tmp_dir.mkdir()
    password = "Rb-" + secrets.token_urlsafe(18)
    key, ids = seed(data_dir, password)
    port = service_process.free_port()
    log = work / "service.log"
    proc = launch(port, data_dir, tmp_dir, log)
    base = f"http://127.0.0.1:{port}"
    service_process.wait_ready(base, proc, log)
    return Service(base, port, proc, data_dir, tmp_dir, log, password, key, ids)


def launch(port: int, data_dir: Path, tmp_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """`etiquette serve` on `port` over `data_dir`, spooling under `tmp_dir` (watched)."""
    return service_process.launch(port, data_dir, log, env={
        "ETIQUETTE_RETENTION_INTERVAL_S": "86400",
        "ETIQUETTE_TRUSTED_PROXIES": '["127.0.0.1"]', "TMPDIR": str(tmp_dir)})


class Sampler(threading.Thread):
    """Follows the service process: its RSS, and the bytes of the regular files it holds open
    under its TMPDIR or data directory other than the database (spooled uploads, evidence
    being written; unlinked temporary files included, through /proc/PID/fd)."""

    def __init__(self, svc: Service) -> None:
        super().__init__(daemon=True)
        self.pid = svc.proc.pid
        self.roots = (str(svc.tmp_dir), str(svc.data_dir / "evidence"))
        self.stop = threading.Event()
        self.peak_rss_kib = self.peak_open_bytes = 0
        self._lock = threading.Lock()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def open_bytes(self) -> int:
        total = 0
        fd_dir = Path(f"/proc/{self.pid}/fd")
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(fd_dir / fd)
                if target.startswith(self.roots):
                    total += os.stat(fd_dir / fd).st_size
            except OSError:
                continue
        return total

    def reset(self) -> None:
        with self._lock:
            self.peak_rss_kib = self.peak_open_bytes = 0

    def run(self) -> None:
        while not self.stop.wait(0.02):
            try:
                rss, held = self.rss_kib(), self.open_bytes()
            except OSError:
                return
            with self._lock:
                self.peak_rss_kib = max(self.peak_rss_kib, rss)
                self.peak_open_bytes = max(self.peak_open_bytes, held)


# ---------------------------------------------------------------- inputs


def incident(window: str = "w-a", offset_s: float = 1.0, end_s: float = 3.5) -> dict[str, Any]:
    """An incident line as `etiquette batch` writes it (without evidence)."""
    return {"id": str(uuid.uuid4()), "source": "recordings/w-a.wav", "window_id": window,
            "kind": "forbidden_phrase", "rule_id": "F1-1", "rule_name": "禁用语：不知道",
            "phrase": "不知道", "speaker": "staff", "offset_s": offset_s, "end_s": end_s,
            "at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "transcript": "这个我也不知道，你问别人去吧", "score": 1.0, "severity": "major",
            "deduction": 2.0, "explanation": "「不知道」匹配「不知道」（逐字相同），相似度 1.00",
            "hit_start": 4, "hit_end": 7}


def png_bytes() -> bytes:
    import cv2

    image = np.full((32, 40, 3), 80, np.uint8)
    cv2.circle(image, (20, 16), 8, (0, 200, 0), -1)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return bytes(data.tobytes())


def summary(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail", "")
    except (ValueError, AttributeError):
        detail = r.text
    return f"{r.status_code} {str(detail)[:140]}".strip()


# ---------------------------------------------------------------- raw uploads


@dataclass
class Upload:
    status: int | None
    sent: int
    elapsed_s: float
    how_it_ended: str
    peak_open_bytes: int = 0
    peak_rss_mib: float = 0.0


def raw_upload(port: int, path: str, headers: dict[str, str], prefix: bytes, declared: int,
               cap: int, chunked: bool, time_limit_s: float = 60.0) -> Upload:
    """POST a multipart body: `prefix` (the form up to a file part's content), then zeros, over
    a raw socket so that what was sent before the service answered is known. Declares
    `declared` bytes (Content-Length) or none (chunked); sends at most `cap`."""
    t0 = time.perf_counter()
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
            "Content-Type: multipart/form-data; boundary=RELIABILITY"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {declared}")
    sock = socket.create_connection(("127.0.0.1", port), timeout=time_limit_s)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sock.setblocking(False)
    zeros = bytes(256 * 1024)
    pending = memoryview(b"")
    body_left = min(declared, cap)
    first = True
    sent = 0
    ended = "sent all"
    deadline = time.monotonic() + time_limit_s
    while time.monotonic() < deadline:
        if not pending:
            if body_left == -1:  # all sent, the chunked terminator included
                break
            if body_left == 0:
                if not chunked:
                    break
                pending = memoryview(b"0\r\n\r\n")
                body_left = -1
            else:
                piece = prefix if first else zeros[:min(len(zeros), body_left)]
                piece = piece[:body_left]
                first = False
                body_left -= len(piece)
                pending = memoryview((f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                                     if chunked else piece)
        readable, writable, _ = select.select([sock], [sock], [], 1.0)
        if readable:
            ended = "answered while sending"
            break
        if writable:
            try:
                n = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                ended = "closed by the service while sending"
                break
            except BlockingIOError:
                continue
            sent += n
            pending = pending[n:]
    else:
        ended = "time limit while sending"
    if ended == "sent all" and cap < declared:
        ended = f"stopped at the cap of {cap // MiB} MiB"
    sock.setblocking(True)
    sock.settimeout(30)
    status: int | None = None
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
        status = int(m.group(1)) if m else None
    except (ConnectionResetError, TimeoutError, OSError) as e:
        ended += f"; no answer ({type(e).__name__})"
    finally:
        sock.close()
    return Upload(status, sent, time.perf_counter() - t0, ended)


def form_prefix(fields: dict[str, str], file_field: str, filename: str, ctype: str) -> bytes:
    out = b""
    for name, value in fields.items():
        out += (f'--RELIABILITY\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n").encode()
    out += (f'--RELIABILITY\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n').encode()
    return out


# ---------------------------------------------------------------- hand-made attacks


def oversized(svc: Service, sampler: Sampler, quick: bool) -> list[Row]:
    rows: list[Row] = []
    staff, staff_csrf = svc.login("staff1")
    admin, admin_csrf = svc.login("admin")
    staff_auth = {"Cookie": f"etiquette_session={staff.cookies['etiquette_session']}",
                  "X-CSRF-Token": staff_csrf}
    admin_auth = {"Cookie": f"etiquette_session={admin.cookies['etiquette_session']}",
                  "X-CSRF-Token": admin_csrf}
    from etiquette.service.core.config import Settings

    limits = Settings(data_dir=svc.data_dir)  # the service runs with the defaults
    line = json.dumps(incident(), ensure_ascii=False)
    routes = [("ingest", "/api/v1/incidents", {"X-API-Key": svc.api_key},
               form_prefix({"incident": line}, "clip", "clip.wav", "audio/wav"),
               limits.ingest_max_body_bytes),
              ("practice", "/api/v1/practice/attempts", staff_auth,
               form_prefix({"rule_id": "R-greeting"}, "audio", "a.wav", "audio/wav"),
               limits.practice_max_body_bytes),
              ("import", "/api/v1/masterdata/import", admin_auth,
               form_prefix({}, "file", "m.yaml", "application/yaml"),
               limits.import_max_body_bytes)]
    big_unauth = 1024 * MiB
    big_auth = 200 * MiB
    cap = 64 * MiB if quick else 256 * MiB
    for name, path, auth, prefix, limit in routes:
        for who, headers, declared in (("no login", {}, big_unauth),
                                       ("authenticated", auth, big_auth)):
            for chunked in (False, True):
                sampler.reset()
                up = raw_upload(svc.port, path, headers, prefix, declared, cap, chunked)
                up.peak_open_bytes, up.peak_rss_mib = sampler.peak_open_bytes, \
                    sampler.peak_rss_kib / 1024
                framing = "chunked, no Content-Length" if chunked else \
                    f"Content-Length {declared // MiB} MiB"
                if who == "no login":
                    expected = "401, at most its first chunk read, nothing on disk"
                    ok = up.status in (401, 403) and up.sent <= 16 * MiB \
                        and up.peak_open_bytes == 0
                else:
                    expected = ("413 at once" if not chunked
                                else f"413 where it passes the limit ({limit / MiB:.1f} MiB)")
                    bound = 16 * MiB if not chunked else limit + 16 * MiB
                    ok = up.status == 413 and up.sent <= bound
                got = (f"{up.status or 'no answer'} after {up.sent / MiB:.1f} MiB sent "
                       "(into the socket buffers), "
                       f"{up.elapsed_s:.2f} s; {up.how_it_ended}; "
                       f"open temp/evidence files peak {up.peak_open_bytes / MiB:.1f} MiB")
                rows.append(Row("oversized body", f"{name}, {who}, {framing}", expected, got, ok,
                                server_error=(up.status or 0) >= 500))
    staff.close()
    admin.close()
    return rows


def duplicate_parts(svc: Service) -> list[Row]:
    rows: list[Row] = []
    wav = damaged_clips(quick=True)[0][2]
    line = json.dumps(incident(), ensure_ascii=False)
    with httpx.Client(base_url=svc.base, timeout=60,
                      headers={"X-API-Key": svc.api_key}) as pipe:
        cases: list[tuple[str, list[tuple[str, Any]], list[tuple[str, Any]]]] = [
            ("ingest: two clip parts", [("incident", line)],
             [("clip", ("a.wav", wav, "audio/wav")), ("clip", ("b.wav", wav, "audio/wav"))]),
            ("ingest: two incident parts", [("incident", line),
                                            ("incident", json.dumps(incident()))],
             [("clip", ("a.wav", wav, "audio/wav"))]),
        ]
        for name, data, files in cases:
            r = pipe.post("/api/v1/incidents", data=dict(data) if len(data) == 1 else None,
                          files=files if len(data) == 1 else [*files, *[(k, (None, v))
                                                                       for k, v in data]])
            rows.append(Row("duplicate form parts", name, "422", summary(r),
                            r.status_code == 422, server_error=r.status_code >= 500))
    staff, csrf = svc.login("staff1")
    r = staff.post("/api/v1/practice/attempts", headers={"X-CSRF-Token": csrf},
                   files=[("rule_id", (None, "R-greeting")), ("audio", ("a.wav", wav, "audio/wav")),
                          ("audio", ("b.wav", wav, "audio/wav"))])
    rows.append(Row("duplicate form parts", "practice: two audio parts",
                    "422", summary(r), r.status_code == 422,
                    server_error=r.status_code >= 500))
    staff.close()
    admin, csrf = svc.login("admin")
    yaml1, yaml2 = MASTERDATA.encode(), b"centers: []\n"
    r = admin.post("/api/v1/masterdata/import", headers={"X-CSRF-Token": csrf},
                   files=[("file", ("a.yaml", yaml1, "application/yaml")),
                          ("file", ("b.yaml", yaml2, "application/yaml"))])
    rows.append(Row("duplicate form parts", "import: two file parts",
                    "422", summary(r), r.status_code == 422,
                    server_error=r.status_code >= 500))
    admin.close()
    return rows


def fake_evidence(svc: Service) -> list[Row]:
    rows: list[Row] = []
    png = png_bytes()
    fakes = [("snapshot: PNG signature then <script>", "snapshot", "s.png", "image/png",
              b"\x89PNG\r\n\x1a\n<script>alert(document.cookie)</script>" * 4, False),
             ("snapshot: a real PNG's header then HTML", "snapshot", "s.png", "image/png",
              png[:33] + b"<html><script>alert(1)</script></html>", False),
             ("snapshot: JPEG start marker then garbage", "snapshot", "s.jpg", "image/jpeg",
              b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, False),
             ("snapshot: SVG with a script", "snapshot", "s.svg", "image/svg+xml",
              b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', False),
             ("snapshot: GIF89a then <script>", "snapshot", "s.gif", "image/gif",
              b"GIF89a<script>alert(1)</script>", False),
             ("snapshot: a real PNG (control)", "snapshot", "s.png", "image/png", png, True)]
    with httpx.Client(base_url=svc.base, timeout=60,
                      headers={"X-API-Key": svc.api_key}) as pipe:
        for name, part, fname, ctype, data, good in fakes:
            body = incident()
            r = pipe.post("/api/v1/incidents", data={"incident": json.dumps(body)},
                          files={part: (fname, data, ctype)})
            expected = "201" if good else "refused: 415 or 422"
            ok = r.status_code == 201 if good else r.status_code in (415, 422)
            rows.append(Row("fake evidence", name, expected, summary(r), ok, tried=0 if good else 1,
                            server_error=r.status_code >= 500))
            if good and r.status_code == 201:
                svc.png_incident = str(body["id"])
    return rows


def evidence_clips(svc: Service, quick: bool) -> list[Row]:
    rows: list[Row] = []
    with httpx.Client(base_url=svc.base, timeout=60,
                      headers={"X-API-Key": svc.api_key}) as pipe:
        for name, ctype, data, expect in damaged_clips(quick):
            body = incident(offset_s=1.0, end_s=3.5)
            r = pipe.post("/api/v1/incidents", data={"incident": json.dumps(body)},
                          files={"clip": (name.split()[0].replace(":", ""), data, ctype)})
            ok = r.status_code < 500 and (
                expect == "either" or (r.status_code == 201 if expect == "accepted"
                                       else r.status_code in (415, 422)))
            rows.append(Row("damaged clip as evidence", f"{name} ({len(data):,} bytes)",
                            {"accepted": "201", "refused": "refused: 415 or 422",
                             "either": "201 or 4xx, never 5xx"}[expect], summary(r), ok,
                            tried=0 if expect == "accepted" else 1,
                            server_error=r.status_code >= 500))
    return rows


def bombs(svc: Service, sampler: Sampler) -> list[Row]:
    rows: list[Row] = []
    bomb = audio_bomb()
    quiet = unstated(bomb)

    def attempt(data: bytes) -> tuple[int, str, float]:
        c, csrf = svc.login("staff1")
        t0 = time.perf_counter()
        for _ in range(20):
            r = c.post("/api/v1/practice/attempts", headers={"X-CSRF-Token": csrf},
                       data={"rule_id": "R-greeting"},
                       files={"audio": ("bomb.flac", data, "audio/flac")})
            if r.status_code != 429:
                break
            time.sleep(float(r.headers.get("retry-after", "1")))
        c.close()
        return r.status_code, summary(r), time.perf_counter() - t0

    base_rss = sampler.rss_kib() / 1024
    for name, data in (("FLAC, 2 h of silence, header states 7200 s", bomb),
                       ("the same, header stating no length", quiet)):
        sampler.reset()
        status, text, elapsed = attempt(data)
        rows.append(Row("audio bomb (practice)", f"{name} ({len(data):,} bytes)",
                        "422 too long, memory bounded",
                        f"{text} in {elapsed:.1f} s; service RSS {base_rss:.0f} → peak "
                        f"{sampler.peak_rss_kib / 1024:.0f} MiB", status == 422,
                        server_error=status >= 500))
    sampler.reset()
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(attempt, [bomb, quiet, bomb]))
    statuses = [s for s, _, _ in results]
    rows.append(Row("audio bomb (practice)", "three bombs at once", "422 each (429 waited out)",
                    f"{statuses}; service RSS peak {sampler.peak_rss_kib / 1024:.0f} MiB",
                    all(s == 422 for s in statuses), tried=3,
                    server_error=any(s >= 500 for s in statuses)))
    return rows


def logins(svc: Service) -> list[Row]:
    rows: list[Row] = []
    # The owners log in from their usual address first (127.0.0.1, no X-Forwarded-For).
    for who in ("supervisor", "admin"):
        c, _ = svc.login(who)
        c.close()

    def wrong(who: str, address: str, go: threading.Event) -> int:
        go.wait()
        with httpx.Client(base_url=svc.base, timeout=60,
                          headers={"X-Forwarded-For": address}) as c:
            return c.post("/api/v1/auth/login",
                          json={"username": who, "password": "Wrong-" + secrets.token_hex(6)}
                          ).status_code

    for who, label, addresses in (("supervisor", "one address", ["203.0.113.7"] * 30),
                                  ("admin", "30 addresses",
                                   [f"198.51.100.{k + 1}" for k in range(30)])):
        go = threading.Event()
        with ThreadPoolExecutor(30) as pool:
            futures = [pool.submit(wrong, who, a, go) for a in addresses]
            t0 = time.perf_counter()
            go.set()
            statuses = Counter(f.result() for f in futures)
            burst_s = time.perf_counter() - t0
        checked = statuses.get(401, 0)
        # Past the allowance the waits are 1 s, 2 s, 4 s…: a burst lasting burst_s may see
        # one more attempt checked after each wait that ran out within it.
        extra, waited = 0, 1.0
        while waited <= burst_s:
            extra += 1
            waited += 2.0 ** extra
        got = ", ".join(f"{n}× {s}" for s, n in sorted(statuses.items())) + \
            f" (the burst took {burst_s:.1f} s)"
        with httpx.Client(base_url=svc.base, timeout=60) as owner:
            r = owner.post("/api/v1/auth/login",
                           json={"username": who, "password": svc.password})
        allowance = 5 if label == "one address" else 10
        ok = checked <= allowance + extra and statuses.get(429, 0) >= 30 - allowance - extra \
            and r.status_code == 200 and not any(s >= 500 for s in statuses)
        rows.append(Row("login", f"30 parallel wrong passwords for {who}, from {label}",
                        f"{allowance} checked (401), one more after each wait that ran out "
                        f"within the burst (1 s, 2 s, …: here ≤ {allowance + extra}), the rest "
                        "429; the owner still logs in from their usual address",
                        f"{got}; the owner then: {r.status_code}", ok, tried=30,
                        server_error=any(s >= 500 for s in statuses)))
    return rows


def passwords(svc: Service) -> list[Row]:
    rows: list[Row] = []
    admin, csrf = svc.login("admin")
    weak = ["password12", "qwertyuiop", "1234567890", "aaaaaaaaaaaa", "zhangwei2026",
            "nanchang123", "Passw0rd!"]
    for k, pw in enumerate(weak):
        r = admin.post("/api/v1/users", headers={"X-CSRF-Token": csrf},
                       json={"username": "zhangwei" if k != 5 else "nanchang",
                             "password": pw, "role": "auditor", "display_name": "张伟"})
        rows.append(Row("weak password", f"new user with {pw!r}", "422 with the reason",
                        summary(r), r.status_code == 422, server_error=r.status_code >= 500))
    strong = "Tq-" + secrets.token_urlsafe(12)
    r = admin.post("/api/v1/users", headers={"X-CSRF-Token": csrf},
                   json={"username": "zhangwei", "password": strong, "role": "auditor",
                         "display_name": "张伟"})
    rows.append(Row("weak password", "new user with a random 19-character one (control)", "201",
                    summary(r), r.status_code == 201, tried=0, server_error=r.status_code >= 500))
    admin.close()
    # Own change to a weak password; then a strong change ends the other session.
    one, csrf1 = svc.login("staff2")
    other, _ = svc.login("staff2")
    r = one.put("/api/v1/auth/password", headers={"X-CSRF-Token": csrf1},
                json={"current_password": svc.password, "new_password": "qwertyuiop"})
    rows.append(Row("weak password", "own change to 'qwertyuiop'", "422", summary(r),
                    r.status_code == 422, server_error=r.status_code >= 500))
    new = "Nw-" + secrets.token_urlsafe(12)
    r = one.put("/api/v1/auth/password", headers={"X-CSRF-Token": csrf1},
                json={"current_password": svc.password, "new_password": new})
    me_other = other.get("/api/v1/auth/me").status_code
    me_one = one.get("/api/v1/auth/me").status_code
    rows.append(Row("sessions", "password changed in one session: the user's other session",
                    "change 200; the other session 401, this one 200",
                    f"change {r.status_code}; other {me_other}; this one {me_one}",
                    r.status_code == 200 and me_other == 401 and me_one == 200, tried=0,
                    server_error=r.status_code >= 500))
    one.close()
    other.close()
    return rows


def headers_checks(svc: Service) -> list[Row]:
    rows: list[Row] = []
    with httpx.Client(base_url=svc.base, timeout=60) as c:
        r = c.get("/login")
        h = r.headers
        csp = h.get("content-security-policy", "")
        ok = ("frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
              and h.get("x-frame-options", "").upper() == "DENY"
              and h.get("x-content-type-options") == "nosniff" and "referrer-policy" in h)
        rows.append(Row("headers", "GET /login: CSP, frame-ancestors, X-Frame-Options, nosniff, "
                        "Referrer-Policy", "all present", f"{r.status_code}; CSP {csp[:90]!r}; "
                        f"XFO {h.get('x-frame-options')}; XCTO {h.get('x-content-type-options')};"
                        f" referrer {h.get('referrer-policy')}", ok, tried=0))
        r = c.post("/api/v1/auth/login", json={"username": "auditor", "password": svc.password},
                   headers={"X-Forwarded-Proto": "https"})
        cookie = r.headers.get("set-cookie", "")
        rows.append(Row("headers", "login over HTTPS behind the trusted proxy "
                        "(X-Forwarded-Proto: https)", "Secure cookie",
                        f"{r.status_code}; Secure {'yes' if 'secure' in cookie.lower() else 'no'}",
                        r.status_code == 200 and "secure" in cookie.lower(), tried=0))
        iid = svc.png_incident
        if iid:
            sup, _ = svc.login("supervisor")
            r = sup.get(f"/api/v1/incidents/{iid}/evidence/snapshot")
            h = r.headers
            rows.append(Row("headers", "GET a PNG snapshot evidence", "image/png, nosniff",
                            f"{r.status_code}; {h.get('content-type')}; "
                            f"XCTO {h.get('x-content-type-options')}; "
                            f"disposition {h.get('content-disposition')}",
                            r.status_code == 200 and h.get("content-type") == "image/png"
                            and h.get("x-content-type-options") == "nosniff", tried=0))
            sup.close()
    return rows


# ---------------------------------------------------------------- a fault


def noise_wav(seed: int, seconds: float = 2.0) -> bytes:
    """A distinct clip per incident, 16 kHz mono WAV."""
    pcm = (np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * 800).astype("<i2")
    out = io.BytesIO()
    sf.write(out, pcm, 16000, format="WAV", subtype="PCM_16")
    return out.getvalue()


def killed_mid_ingest(svc: Service, sampler: Sampler, quick: bool) -> list[Row]:
    """Pipelines post incidents with clips; the service is killed (-9) once a third are stored
    and started again on the same port and data; the pipelines retry (same id) as `batch
    --post` does. Then: every incident stored once, every clip served whole, no evidence file
    whose bytes differ from its name."""
    import hashlib

    total, pipelines = (40, 2) if quick else (150, 4)
    sent: dict[str, str] = {}
    stored = Counter[str]()
    lock = threading.Lock()
    stop = time.monotonic() + 240

    def pipeline(k: int) -> None:
        with httpx.Client(base_url=svc.base, timeout=30,
                          headers={"X-API-Key": svc.api_key}) as c:
            for j in range(k, total, pipelines):
                body = incident(offset_s=1.0, end_s=2.0)
                body["source"] = "reliability/killed.wav"
                clip = noise_wav(j)
                with lock:
                    sent[body["id"]] = hashlib.sha256(clip).hexdigest()
                while time.monotonic() < stop:
                    try:
                        r = c.post("/api/v1/incidents", data={"incident": json.dumps(body)},
                                   files={"clip": ("clip.wav", clip, "audio/wav")})
                    except httpx.TransportError:
                        with lock:
                            stored["connection error, retried"] += 1
                        time.sleep(0.2)
                        continue
                    with lock:
                        stored[str(r.status_code)] += 1
                    if r.status_code in (200, 201) or r.status_code < 500 and \
                            r.status_code != 429:
                        break
                    time.sleep(0.2)

    threads = [threading.Thread(target=pipeline, args=(k,)) for k in range(pipelines)]
    for t in threads:
        t.start()
    while time.monotonic() < stop and stored["201"] < total // 3:
        time.sleep(0.02)
    svc.proc.kill()
    svc.proc.wait(timeout=30)
    killed_at = stored["201"]
    svc.proc = launch(svc.port, svc.data_dir, svc.tmp_dir, svc.log)
    service_process.wait_ready(svc.base, svc.proc, svc.log)
    sampler.pid = svc.proc.pid
    for t in threads:
        t.join(timeout=300)
    # What the restarted service serves.
    sup, _ = svc.login("supervisor")
    missing = wrong = 0
    for iid, sha in sent.items():
        r = sup.get(f"/api/v1/incidents/{iid}/evidence/clip")
        if r.status_code != 200:
            missing += 1
        elif hashlib.sha256(r.content).hexdigest() != sha:
            wrong += 1
    sup.close()
    from sqlalchemy import func, select

    from etiquette.service.core.config import Settings
    from etiquette.service.core.db import make_engine, make_sessionmaker
    from etiquette.service.models import Incident

    engine = make_engine(Settings(data_dir=svc.data_dir).sqlalchemy_url)
    with make_sessionmaker(engine)() as session:
        rows = session.scalar(select(func.count()).select_from(Incident)
                              .where(Incident.source == "reliability/killed.wav")) or 0
    engine.dispose()
    bad_files = temporaries = 0
    for path in (svc.data_dir / "evidence").rglob("*"):
        if not path.is_file():
            continue
        if re.fullmatch(r"[0-9a-f]{64}", path.name):
            bad_files += hashlib.sha256(path.read_bytes()).hexdigest() != path.name
        else:
            temporaries += 1
    answers = ", ".join(f"{n}× {k}" for k, n in sorted(stored.items()))
    ok = rows == len(sent) == total and missing == wrong == bad_files == 0
    return [Row("fault", f"service killed (-9) mid-ingest after {killed_at} of {total} incidents "
                f"({pipelines} pipelines posting with clips), restarted on the same data",
                "every incident stored once, every clip served whole, no evidence file unlike "
                "its name",
                f"stored {rows} of {len(sent)} (duplicates {max(0, rows - len(sent))}); clips not "
                f"served {missing}, served wrong {wrong}; evidence files unlike their name "
                f"{bad_files}, unfinished temporaries left {temporaries}; answers: {answers}",
                ok, tried=1)]


# ---------------------------------------------------------------- schemathesis


@dataclass
class Fuzz:
    per_op: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    per_pass: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[Row] = field(default_factory=list)
    generation_errors: list[str] = field(default_factory=list)
    accepted_negative: list[str] = field(default_factory=list)  # 2xx to schema-violating data
    operations: int = 0


def send_case(svc: Service, out: Fuzz, key: str, label: str, headers: dict[str, str],
              cookies: dict[str, str]) -> Callable[[Any], None]:
    """The test hypothesis runs for one operation and pass: send the case, count its answer."""

    def send(case: Any) -> None:
        try:
            response = case.call(base_url=svc.base, headers=headers, cookies=cookies, timeout=30)
        except Exception as e:  # noqa: BLE001 - a broken connection is a finding
            cls = "connection error"
            out.failures.append(Row(
                "generated request", f"{label}: {case.method} {case.formatted_path}",
                "a 2xx/4xx answer", f"{type(e).__name__}: {str(e)[:160]}", False,
                server_error=True,
                detail=case.as_curl_command(headers=headers, base_url=svc.base)[:1500]))
        else:
            cls = f"{response.status_code // 100}xx"
            if response.status_code >= 500:
                out.failures.append(Row(
                    "generated request", f"{label}: {case.method} {case.formatted_path}",
                    "a 2xx/4xx answer", f"{response.status_code} {response.text[:160]}", False,
                    server_error=True,
                    detail=case.as_curl_command(headers=headers, base_url=svc.base)[:1500]))
            if "negative" in label and response.status_code < 300 \
                    and len(out.accepted_negative) < 40:
                out.accepted_negative.append(
                    f"{label}: {response.status_code}: "
                    + case.as_curl_command(headers=headers, base_url=svc.base)[:600])
        out.per_op[key][cls] += 1
        out.per_pass[label][cls] += 1

    return send


def fuzz(svc: Service, examples: int, deadline: float) -> Fuzz:
    import hypothesis
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    out = Fuzz()
    schema = schemathesis.openapi.from_url(f"{svc.base}/openapi.json")
    from schemathesis.core.result import Ok

    ops = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]
    ops = [op for op in ops if (op.method.upper(), op.path) not in SKIP]
    out.operations = len(ops)
    admin, csrf = svc.login("admin")
    admin_cookie = {"etiquette_session": admin.cookies["etiquette_session"]}
    passes: list[tuple[str, dict[str, str], dict[str, str], GenerationMode, int]] = [
        ("no login", {}, {}, GenerationMode.NEGATIVE, max(1, examples // 2)),
        ("pipeline key", {"X-API-Key": svc.api_key}, {}, GenerationMode.NEGATIVE, examples),
        ("pipeline key", {"X-API-Key": svc.api_key}, {}, GenerationMode.POSITIVE,
         max(1, examples // 2)),
        ("admin session", {"X-CSRF-Token": csrf}, admin_cookie, GenerationMode.NEGATIVE,
         examples),
        ("admin session", {"X-CSRF-Token": csrf}, admin_cookie, GenerationMode.POSITIVE,
         examples)]
    for who, headers, cookies, mode, n in passes:
        label = f"{who}, {mode.value}"
        for op in ops:
            if time.monotonic() > deadline:
                out.per_pass[label]["skipped (time limit)"] += 1
                continue
            key = f"{op.method.upper()} {op.path}"

            run = given(case=op.as_strategy(generation_mode=mode))(
                settings(max_examples=n, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck),
                         phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])(
                    send_case(svc, out, key, label, headers, cookies)))
            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                out.per_pass[label]["no invalid input exists"] += 1
            except Exception as e:  # noqa: BLE001 - schemathesis could not build a case
                out.per_pass[label][f"generation error: {type(e).__name__}"] += 1
                out.generation_errors.append(f"{label}: {key}: {type(e).__name__}: "
                                             f"{str(e)[:300]}")
    me = admin.get("/api/v1/auth/me").status_code
    out.per_pass["admin session, after the run"][f"GET /auth/me {me}"] += 1
    admin.close()
    return out


# ---------------------------------------------------------------- batch over damaged files


@dataclass
class BatchRun:
    proc: subprocess.Popen[bytes]
    folder: Path
    out: Path
    log: Path
    started: float
    files: list[Damage]


def start_batch(work: Path, quick: bool, jobs: int) -> BatchRun:
    folder = work / "damaged"
    files = make_damaged(folder, work, quick)
    out, log = work / "batch.jsonl", work / "batch.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([str(service_process.ETIQUETTE), "batch", str(folder), "--out",
                                 str(out), "--jobs", str(jobs), "--threads", "1"],
                                stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
    return BatchRun(proc, folder, out, log, time.perf_counter(), files)


def finish_batch(run: BatchRun, timeout_s: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    killed = False
    try:
        code: int | None = run.proc.wait(timeout=max(1.0, timeout_s))
    except subprocess.TimeoutExpired:
        run.proc.kill()
        run.proc.wait(timeout=30)
        code, killed = None, True
    wall = time.perf_counter() - run.started
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if run.out.exists():
        for text in run.out.read_text(encoding="utf-8").splitlines():
            if text.strip():
                obj = json.loads(text)
                lines[Path(obj.get("source", "")).name].append(obj)
    stderr = run.log.read_text(encoding="utf-8", errors="replace")
    controls: dict[str, set[str]] = {}
    for d in run.files:
        if d.how == "intact (control)":
            controls[d.fmt] = {x["kind"] for x in lines[d.file]
                               if x["kind"] in ("missing_greeting", "missing_farewell")}
    rows: list[dict[str, Any]] = []
    for d in run.files:
        got = lines[d.file]
        kinds = Counter(x["kind"] for x in got)
        error = next((x for x in got if x["kind"] == "error"), None)
        incomplete = next((x for x in got if x["kind"] == "incomplete"), None)
        verdict = "error line" if error else "incomplete" if incomplete else \
            "unknown (batch stopped at the time limit)" if killed and not got else "complete"
        missing = sorted(k for k in kinds if k in ("missing_greeting", "missing_farewell"))
        false_missing = [k for k in missing if k not in controls.get(d.fmt, set())] \
            if d.expect == "reported" else []
        internal = bool(error and "内部错误" in str(error.get("error", "")))
        if killed and not got:
            ok = False
        elif d.expect == "complete":
            ok = verdict == "complete"
        else:
            ok = verdict != "complete" or not d.detectable
        ok = ok and not false_missing and not internal
        message = (error or incomplete or {}).get("error", "")
        rows.append({**d.to_json(), "verdict": verdict,
                     "incidents": {k: n for k, n in kinds.items()
                                   if k not in NOT_INCIDENTS},
                     "missing_judged": missing, "false_missing": false_missing,
                     "not_judged": (incomplete or {}).get("not_judged"),
                     "declared_s": (incomplete or {}).get("declared_s"),
                     "decoded_s": (incomplete or {}).get("decoded_s"),
                     "internal_error": internal, "message": str(message)[:200], "ok": ok})
    info = {"exit_status": code, "wall_s": round(wall, 1), "files": len(run.files),
            "tracebacks": stderr.count("Traceback (most recent call last)"),
            "stderr_tail": stderr[-1500:]}
    return rows, info


# ---------------------------------------------------------------- report


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for pkg in ("etiquette", "av", "fastapi", "uvicorn", "schemathesis", "faster-whisper"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # noqa: BLE001
            out[pkg] = "?"
    try:
        out["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                       capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        out["src_uncommitted"] = str(len(dirty.splitlines()))
    except (OSError, subprocess.SubprocessError):
        out["commit"] = "?"
    return out


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(r: dict[str, Any]) -> str:
    v, h = r["versions"], r["headline"]
    dirty = (f" with {v['src_uncommitted']} files of src/ uncommitted"
             if v.get("src_uncommitted", "0") != "0" else "")
    out = [f"""# Reliability under bad input

Written by `python -m benchmarks.reliability{' --quick' if r['quick'] else ''}` on \
{r['when']}: {r['machine']['cpus']} CPUs (shared), {r['machine']['platform']}; Python \
{v['python']}, etiquette at {v['commit']}{dirty}, FastAPI {v['fastapi']}, uvicorn \
{v['uvicorn']}, PyAV {v['av']}, schemathesis {v['schemathesis']}, faster-whisper \
{v['faster-whisper']}; {r['wall_s']} s in all.

The service is one `etiquette serve` process (SQLite, practice recogniser available) on
127.0.0.1, trusting 127.0.0.1 as its proxy so that attacks can come from other addresses;
`etiquette batch` ran over the damaged files at the same time. Targets (issue 17): ≥ 300 bad
inputs across routes and media, 0 server errors, 0 crashes, every damaged file reported.

| what | result | target |
| --- | --- | --- |
| bad inputs tried | **{h['bad_inputs']}** ({h['bad_requests_generated']} generated requests \
with invalid data, {h['bad_requests_by_hand']} made by hand, {h['damaged_files']} damaged \
files) | ≥ 300 |
| generated requests besides: valid data / negative-mode data answered 2xx | \
{h['valid_requests_generated']} / {h['negative_accepted']}, over {h['operations']} operations \
| |
| server errors (5xx) and broken connections | **{h['server_errors']}** | 0 |
| hand-made attacks answered otherwise than expected | **{h['hand_made_failed']}** of \
{h['hand_made_rows']} rows | 0 |
| service still up at the end / unhandled exceptions in its log | \
{'yes' if h['service_alive'] else '**no**'} / **{h['service_tracebacks']}** | yes / 0 |
| `etiquette batch` exit status / tracebacks / internal errors | {h['batch_exit']} / \
**{h['batch_tracebacks']}** / **{h['batch_internal_errors']}** | 1 (files damaged) / 0 / 0 |
| damaged files reported (error or incomplete line) | **{h['damaged_reported']} of \
{h['damaged_files']}** ({h['damaged_undetectable']} of the rest are damage the README says a \
file cannot show) | all |
| intact controls and misnamed intact files taken as complete | {h['intact_complete']} of \
{h['intact_files']} | all |
| missing greeting/farewell judged on a damaged file (its control has none) | \
**{h['false_missing']}** | 0 |

Result: **{'pass' if r['ok'] else 'FAIL'}**{'' if r['ok'] else ' — see the rows marked FAIL below'}.
"""]
    out.append("## Hand-made attacks\n\n| group | what was sent | expected | what it got | |\n"
               "| --- | --- | --- | --- | --- |")
    for row in r["hand_made"]:
        out.append(f"| {cell(row['group'])} | {cell(row['name'])} | {cell(row['expected'])} | "
                   f"{cell(row['got'])} | {'ok' if row['ok'] else '**FAIL**'} |")
    f = r["fuzz"]
    out.append(f"\n## Generated requests (schemathesis, {f['examples']} examples per operation "
               "and pass at most)\n\n| pass | 2xx | 3xx | 4xx | 5xx | connection error | other |"
               "\n| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for label, c in f["per_pass"].items():
        other = ", ".join(f"{k}: {n}" for k, n in c.items()
                          if k not in ("2xx", "3xx", "4xx", "5xx", "connection error"))
        out.append(f"| {label} | {c.get('2xx', 0)} | {c.get('3xx', 0)} | {c.get('4xx', 0)} | "
                   f"{c.get('5xx', 0)} | {c.get('connection error', 0)} | {cell(other)} |")
    out.append("\nPer operation, all passes together:\n\n| operation | 2xx | 4xx | 5xx | "
               "connection error |\n| --- | ---: | ---: | ---: | ---: |")
    for op, c in sorted(f["per_op"].items(), key=lambda kv: kv[0].split(" ", 1)[::-1]):
        out.append(f"| `{op}` | {c.get('2xx', 0)} | {c.get('4xx', 0)} | {c.get('5xx', 0)} | "
                   f"{c.get('connection error', 0)} |")
    if f["failures"]:
        out.append("\nFailures (the request as curl in the JSON):\n")
        for row in f["failures"][:40]:
            out.append(f"- {cell(row['name'])}: {cell(row['got'])}")
    if f["accepted_negative_examples"]:
        n = sum(c.get("2xx", 0) for label, c in f["per_pass"].items() if "negative" in label)
        out.append(f"\n{n} requests of schemathesis' negative mode were answered 2xx and are "
                   "not counted as bad inputs: in the first 40 (their curl is in the JSON) the "
                   "violation is an extra cookie, an unknown query name, or none the curl "
                   "shows. The first few:\n")
        out += [f"- `{cell(e[:300])}`" for e in f["accepted_negative_examples"][:5]]
    if f["generation_errors"]:
        out.append("\nOperations schemathesis could not generate for:\n")
        out += [f"- {cell(e[:200])}" for e in f["generation_errors"][:20]]
    b = r["batch"]
    out.append(f"\n## Damaged recordings through `etiquette batch`\n\n{b['info']['files']} files "
               f"in one folder, `etiquette batch FOLDER --out batch.jsonl --jobs "
               f"{r['batch_jobs']} --threads 1`: exit status {b['info']['exit_status']} in "
               f"{b['info']['wall_s']} s. The MP4 is AAC transcoded from window01_polite.wav "
               "(index first). *Control missing* is what the intact copy was judged to lack.\n\n"
               "| file | made from | what was done | bytes | reported as | declared → decoded s | "
               "not judged | missing judged | |\n| --- | --- | --- | ---: | --- | --- | --- | --- "
               "| --- |")
    for row in b["files"]:
        declared = "?" if row["declared_s"] is None else row["declared_s"]
        secs = f"{declared} → {row['decoded_s']}" if row["verdict"] == "incomplete" else ""
        verdict = row["verdict"] if row["verdict"] != "error line" else \
            f"error: {row['message'][:60]}"
        mark = "ok" if row["ok"] else ("**FAIL**")
        if row["ok"] and row["expect"] == "reported" and row["verdict"] == "complete":
            mark = "not detectable (README)"
        missing = ", ".join(row["missing_judged"])
        if row["false_missing"]:
            missing += " (**false**)"
        out.append(f"| {row['file']} | {row['source']} | {cell(row['how'])} | {row['bytes']:,} | "
                   f"{cell(verdict)} | {secs} | {', '.join(row['not_judged'] or [])} | "
                   f"{missing} | {mark} |")
    if b["info"]["tracebacks"]:
        out.append(f"\nbatch stderr (tail):\n\n```\n{b['info']['stderr_tail']}\n```")
    if r["service_log_tail"]:
        out.append(f"\nService log, unhandled exceptions (tail):\n\n```\n{r['service_log_tail']}"
                   "\n```")
    out.append("\n## What this shows\n\n" + "\n".join(f"- {s}" for s in r["findings"]) + "\n")
    return "\n".join(out)


def findings(r: dict[str, Any]) -> list[str]:
    """The short 'what this shows', from the rows themselves."""
    h = r["headline"]
    rows = r["hand_made"]
    out = [f"{h['bad_inputs']} bad inputs were tried ({h['bad_requests_generated']} generated "
           f"and {h['bad_requests_by_hand']} hand-made requests, {h['damaged_files']} damaged "
           f"files): {h['server_errors']} server errors or broken connections; the service was "
           f"{'still answering' if h['service_alive'] else 'DOWN'} at the end with "
           f"{h['service_tracebacks']} unhandled exceptions in its log; batch exited "
           f"{h['batch_exit']} with {h['batch_tracebacks']} tracebacks."]
    failed = [row for row in rows if not row["ok"]]
    if failed:
        out.append("Hand-made attacks answered otherwise than expected: "
                   + "; ".join(f"{row['name']} ({row['got']})" for row in failed[:12]) + ".")
    else:
        out.append(f"All {len(rows)} hand-made rows got the answer the hardening promises: "
                   "bodies refused before they are read (an unauthenticated upload held no byte "
                   "on disk; an authenticated chunked one was cut off at its route's limit), "
                   "bombs refused, throttling that a burst cannot outrun and that leaves the "
                   "owner able to log in, the password policy, evidence decoded before it is "
                   "stored, the security headers, and a service killed mid-ingest that lost, "
                   "duplicated and half-wrote nothing.")
    silent = [row["name"].split(":")[0] for row in rows
              if row["group"] == "duplicate form parts" and "silently" in row["got"]]
    if silent:
        out.append(f"Not an error, but worth knowing: a form part sent twice is refused by ingest, "
                   f"while {' and '.join(silent)} use one of the two without a word (the README "
                   "promises 422 for evidence only).")
    files = r["batch"]["files"]
    missed = [row for row in files if not row["ok"]]
    undetectable = [row["file"] for row in files if row["expect"] == "reported"
                    and row["verdict"] == "complete" and not row["detectable"]]
    text = f"Damaged recordings: {h['damaged_reported']} of {h['damaged_files']} reported. "
    if undetectable:
        text += (f"Taken as complete, as the README says they must be: {', '.join(undetectable)} "
                 "(garbage inside PCM decodes as noise). ")
    if missed:
        text += "Findings: " + "; ".join(
            f"{row['file']} ({row['how']}) {row['verdict']}"
            + (f", {', '.join(row['false_missing'])} judged" if row["false_missing"] else "")
            for row in missed) + ". "
    else:
        text += ("No detectable damage passed unreported and no intact file was reported. ")
    text += (f"{h['false_missing']} missing greetings or farewells were judged on a damaged "
             "file where its intact copy has none.")
    out.append(text)
    m4a = [row for row in files if row["fmt"] == "m4a" and row["how"].startswith("cut")]
    mp4 = [row for row in files if row["fmt"] == "mp4" and row["how"].startswith("cut at")]
    if m4a and all(row["verdict"] == "error line" for row in m4a) \
            and mp4 and all(row["verdict"] == "incomplete" for row in mp4):
        out.append("An M4A written with its index last (FFmpeg's default, as the sample is) is "
                   "unreadable once cut at any point (an error line, nothing analysed); the MP4 "
                   "with its index first is analysed as far as it goes.")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small run (about a minute)")
    parser.add_argument("--examples", type=int, default=None,
                        help="schemathesis examples per operation and pass (default 10; 2 quick)")
    parser.add_argument("--jobs", type=int, default=2, help="etiquette batch --jobs")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="folder for reliability_results.{md,json} (default benchmarks/)")
    parser.add_argument("--no-write", action="store_true", help="do not write the results files")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args()
    examples = args.examples or (2 if args.quick else 10)
    work = Path(tempfile.mkdtemp(prefix="etiquette-reliability-"))
    t0 = time.perf_counter()
    deadline = time.monotonic() + TIME_LIMIT_S
    batch = start_batch(work, args.quick, args.jobs)
    svc = start_service(work)
    sampler = Sampler(svc)
    sampler.start()
    hand: list[Row] = []
    try:
        steps: list[tuple[str, Callable[[], list[Row]]]] = [
            ("oversized bodies", lambda: oversized(svc, sampler, args.quick)),
            ("duplicate parts", lambda: duplicate_parts(svc)),
            ("fake evidence", lambda: fake_evidence(svc)),
            ("damaged clips", lambda: evidence_clips(svc, args.quick)),
            ("audio bombs", lambda: bombs(svc, sampler)),
            ("logins", lambda: logins(svc)),
            ("passwords", lambda: passwords(svc)),
            ("headers", lambda: headers_checks(svc)),
            ("killed mid-ingest", lambda: killed_mid_ingest(svc, sampler, args.quick))]
        for name, step in steps:
            print(f"[{time.perf_counter() - t0:6.1f} s] {name}", file=sys.stderr)
            try:
                hand += step()
            except Exception as e:  # noqa: BLE001 - a step that breaks is a finding, not the end
                hand.append(Row(name, "the step itself", "to run", f"{type(e).__name__}: {e}",
                                False, tried=0, server_error=isinstance(e, httpx.TransportError)))
        print(f"[{time.perf_counter() - t0:6.1f} s] schemathesis", file=sys.stderr)
        fz = fuzz(svc, examples, deadline)
        print(f"[{time.perf_counter() - t0:6.1f} s] waiting for batch", file=sys.stderr)
        batch_rows, batch_info = finish_batch(batch, deadline - time.monotonic())
        alive = svc.proc.poll() is None
        try:
            alive = alive and httpx.get(f"{svc.base}/health/live", timeout=10).status_code == 200
        except httpx.TransportError:
            alive = False
    finally:
        sampler.stop.set()
        if batch.proc.poll() is None:
            batch.proc.kill()
        service_process.stop(svc.proc)
    log = svc.log.read_text(encoding="utf-8", errors="replace")
    tracebacks = log.count("Traceback (most recent call last)")
    exceptions = [m.start() for m in re.finditer("Traceback \\(most recent", log)]
    log_tail = log[exceptions[0]:exceptions[0] + 3000] if exceptions else ""

    hand_bad = sum(row.tried for row in hand)
    # Generated with invalid data and refused as such (4xx), or breaking the server (5xx, a
    # broken connection); a negative-mode request answered 2xx is counted apart: its violation
    # is in a part the service does not read (an extra cookie, an unknown query name).
    generated_bad = sum(c.get(k, 0) for label, c in fz.per_pass.items() if "negative" in label
                        for k in ("4xx", "5xx", "connection error"))
    negative_accepted = sum(c.get(k, 0) for label, c in fz.per_pass.items()
                            if "negative" in label for k in ("2xx", "3xx"))
    generated_valid = sum(c.get(k, 0) for label, c in fz.per_pass.items() if "positive" in label
                          for k in ("2xx", "3xx", "4xx", "5xx", "connection error"))
    damaged = [row for row in batch_rows if row["expect"] == "reported"]
    intact_rows = [row for row in batch_rows if row["expect"] == "complete"]
    server_errors = sum(row.server_error for row in hand) + len(fz.failures)
    headline = {
        "bad_inputs": hand_bad + generated_bad + len(damaged),
        "bad_requests_generated": generated_bad, "bad_requests_by_hand": hand_bad,
        "valid_requests_generated": generated_valid, "operations": fz.operations,
        "negative_accepted": negative_accepted,
        "damaged_files": len(damaged), "server_errors": server_errors,
        "hand_made_rows": len(hand), "hand_made_failed": sum(not row.ok for row in hand),
        "service_alive": alive, "service_tracebacks": tracebacks,
        "batch_exit": batch_info["exit_status"], "batch_tracebacks": batch_info["tracebacks"],
        "batch_internal_errors": sum(row["internal_error"] for row in batch_rows),
        "damaged_reported": sum(row["verdict"] in ("error line", "incomplete")
                                for row in damaged),
        "damaged_undetectable": sum(row["verdict"] == "complete" and not row["detectable"]
                                    for row in damaged),
        "intact_files": len(intact_rows),
        "intact_complete": sum(row["verdict"] == "complete" for row in intact_rows),
        "false_missing": sum(bool(row["false_missing"]) for row in damaged)}
    ok = (server_errors == 0 and alive and tracebacks == 0 and headline["hand_made_failed"] == 0
          and batch_info["exit_status"] == 1 and batch_info["tracebacks"] == 0
          and all(row["ok"] for row in batch_rows))
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": versions(), "wall_s": round(time.perf_counter() - t0, 1),
        "batch_jobs": args.jobs, "headline": headline, "ok": ok,
        "hand_made": [asdict(row) for row in hand],
        "fuzz": {"examples": examples, "operations": fz.operations,
                 "per_pass": {k: dict(v) for k, v in fz.per_pass.items()},
                 "per_op": {k: dict(v) for k, v in fz.per_op.items()},
                 "failures": [asdict(row) for row in fz.failures],
                 "generation_errors": fz.generation_errors,
                 "accepted_negative_examples": fz.accepted_negative},
        "batch": {"info": batch_info, "files": batch_rows},
        "service_log_tail": log_tail}
    result["findings"] = findings(result)
    print(json.dumps(headline, indent=2))
    print(f"result: {'pass' if ok else 'FAIL'} ({result['wall_s']} s)")
    if not args.no_write:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "reliability_results.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (args.out / "reliability_results.md").write_text(markdown(result), encoding="utf-8")
    if args.keep:
        print(f"kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The supervision service under test: a real uvicorn server on 127.0.0.1 in a thread, over a
real SQLite file and (the same tests again) a real PostgreSQL cluster the tests start.

The API service runs as `python -m etiquette.service` would, without the speech side (practice
answers 503); the SQLite-only one of the browser tests is given the practice checker
`etiquette serve` gives it (its model loads at the first practice attempt)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy.orm import Session, sessionmaker

from etiquette.practice import practice_checker
from etiquette.service.core.config import Settings
from etiquette.service.core.db import make_engine, make_sessionmaker
from etiquette.service.main import create_app
from etiquette.service.models import ApiKey
from etiquette.service.schemas import ApiKeyCreate, Role, UserCreate
from etiquette.service.services import masterdata, users
from etiquette.service.services.access import SYSTEM_CLI
from etiquette.service.services.practice import PracticeChecker
from etiquette.sinks.http import INGEST_PATH

from factories.service import MASTERDATA, PASSWORD, ROLE_USERS, Api
from factories.system import unavailable

# ---------------------------------------------------------------- PostgreSQL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@dataclass
class PostgresCluster:
    bin: Path
    root: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """pg_ctl start, waiting until it accepts connections (again, on the same port)."""
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-l",
                 str(self.root / "log"), "-w", "-t", "60",
                 "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                       f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off", "start")

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop: `fast` ends every session (what a restart does), `immediate` crashes."""
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "-w",
                 "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway cluster for the session (`postgres_cluster`)."""
    yield from postgres_cluster()


def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway cluster: initdb into a temporary folder, pg_ctl on a free loopback port."""
    bin_dir = pg_bin()
    if bin_dir is None:
        unavailable("PostgreSQL binaries (initdb, pg_ctl) are not installed: "
                    "`make test` installs Debian's postgresql")
    root = Path(tempfile.mkdtemp(prefix="etiquette-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    cluster = PostgresCluster(bin_dir, root, free_port(), as_user)
    cluster.run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--locale=C.UTF-8")
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- a webhook receiver


@dataclass
class Receiver:
    """A real HTTP server that records each POST and answers with the next status given."""

    statuses: list[int]
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.requests) >= count,
                                         timeout), self.requests
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(statuses=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = rec.statuses.pop(0) if rec.statuses else 200
            with rec.arrived:
                rec.requests.append({"headers": dict(self.headers), "body": body,
                                     "answered": status})
                rec.arrived.notify_all()
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    rec.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=rec.server.serve_forever, daemon=True)
    thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


# ---------------------------------------------------------------- the server


class ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread
        pass


@dataclass
class LiveService:
    backend: str
    settings: Settings
    base_url: str
    sessions: sessionmaker[Session]
    server: ThreadedServer
    thread: threading.Thread
    ids: dict[str, int] = field(default_factory=dict)  # named master-data ids
    api_key: str = ""
    _clients: dict[str, Api] = field(default_factory=dict)

    def client(self, who: str | None = None) -> Api:
        """A client logged in as one of ROLE_USERS (None: anonymous); cached per role."""
        if who is None:
            return Api(self.base_url)
        if who not in self._clients:
            api = Api(self.base_url)
            api.login(who, PASSWORD)
            self._clients[who] = api
        return self._clients[who]

    def pipeline(self, key: str | None = None) -> Api:
        return Api(self.base_url, headers={"X-API-Key": key or self.api_key})


def start_service(settings: Settings, backend: str, port: int | None = None,
                  practice: PracticeChecker | None = None) -> LiveService:
    """`port`: the one of an earlier run, to restart the same service where clients expect it."""
    engine = make_engine(settings.sqlalchemy_url)
    app = create_app(settings, engine=engine, practice=practice)
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            timeout_graceful_shutdown=2, proxy_headers=False)
    server = ThreadedServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    for _ in range(600):  # bounded: 60 s
        if server.started:
            break
        if not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.1)
    else:
        raise RuntimeError("the service did not start in 60 s")
    return LiveService(backend, settings, base_url, make_sessionmaker(engine), server, thread)


def stop_service(live: LiveService) -> None:
    for c in live._clients.values():
        c.close()
    live.server.should_exit = True
    live.thread.join(timeout=30)


def seed(live: LiveService) -> None:
    """Master data, one user per role (two staff) and a pipeline key, through the services."""
    with live.sessions() as session:
        masterdata.import_file(session=session, principal=SYSTEM_CLI,
                               data=masterdata.parse_yaml(MASTERDATA))
        from etiquette.service.crud import master

        for no in ("T001", "T002"):
            staff = master.staff_by_employee_no(session=session, employee_no=no)
            assert staff is not None
            live.ids[no] = staff.id
        center = master.center_by_code(session=session, code="nc")
        assert center is not None
        live.ids["center"] = center.id
        for name, role in ROLE_USERS.items():
            staff_id = (live.ids["T001"] if name == "staff1"
                        else live.ids["T002"] if name == "staff2" else None)
            user = users.create_user(session=session, principal=SYSTEM_CLI, user_in=UserCreate(
                username=name, password=PASSWORD, role=role, staff_id=staff_id,
                display_name=name))
            live.ids[name] = user.id
        key: ApiKey
        key, live.api_key = users.create_api_key(session=session, principal=SYSTEM_CLI,
                                                 key_in=ApiKeyCreate(name="test-pipeline",
                                                                     center_id=center.id))


def settings_for(tmp: Path, database_url: str | None = None, **extra: object) -> Settings:
    """The tests' clients all connect from 127.0.0.1, trusted as a proxy so that a test can play
    other addresses with X-Forwarded-For; its own address is not throttled for the failures
    every test makes."""
    values: dict[str, object] = {"login_max_failures": 5, "login_max_failures_per_ip": 10_000,
                                 "login_max_addresses_per_user": 3, "login_delay_s": 2.0,
                                 "trusted_proxies": ["127.0.0.1"],
                                 "retention_interval_s": 3600.0, "queue_poll_s": 1.0,
                                 **extra}
    return Settings(data_dir=tmp, database_url=database_url, **values)  # type: ignore[arg-type]


def service_on_backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                       name: str, *, seeded: bool = True, **settings: object
                       ) -> Iterator[LiveService]:
    """For a fixture parametrised over the backends: a service of its own on the backend
    `request.param` names, with `settings` over the tests' defaults, its users seeded unless
    `seeded` is false; stopped when the fixture ends."""
    url = None
    if request.param == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        url = cluster.create_database(f"etiquette_{name}")
    live = start_service(settings_for(tmp_path_factory.mktemp(f"{name}-{request.param}"), url,
                                      **settings), request.param)
    if seeded:
        seed(live)
    yield live
    stop_service(live)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """The service with seeded users, on each backend in turn."""
    yield from service_on_backend(request, tmp_path_factory, "api")


@pytest.fixture(scope="session")
def sqlite_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A second, SQLite-only service for the browser, practice and schema-driven runs."""
    settings = settings_for(tmp_path_factory.mktemp("service-ui"))
    live = start_service(settings, "sqlite", practice=practice_checker(settings))
    seed(live)
    yield live
    stop_service(live)


@pytest.fixture
def api(service: LiveService) -> LiveService:
    return service


@contextmanager
def older_service(live: LiveService) -> Iterator[str]:
    """The URL of a service as it was before sessions were records: it takes incidents (handing
    each request as it came to `live`, which answers it) and has no sessions route."""
    older = FastAPI()

    @older.post(INGEST_PATH)
    async def ingest(request: Request) -> Response:
        headers = {k: request.headers[k] for k in ("content-type", "x-api-key")
                   if k in request.headers}
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.post(live.base_url + INGEST_PATH,
                                       content=await request.body(), headers=headers)
        return Response(answer.content, answer.status_code,
                        media_type=answer.headers.get("content-type"))

    port = free_port()
    server = ThreadedServer(uvicorn.Config(older, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):  # bounded: 30 s
        if server.started:
            break
        time.sleep(0.1)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


__all__ = ["Api", "LiveService", "PostgresCluster", "Role", "httpx"]

"""One central service in several processes over one PostgreSQL database: `etiquette serve
--workers 2` run as the command, its two workers on one port, and beside it the service in
this process on another port. What lived in one process must hold across them: an incident
ingested by one reaches a supervisor's alert stream on the other, failed logins spread over
both are throttled as on one, and the retention purge runs once per round across the two
workers, handed over when the worker that ran it dies. With SQLite the command refuses more
than one worker."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from etiquette.service.cli import app
from etiquette.service.core.config import Settings
from etiquette.service.models import JobRound

from factories.report_data import CRITICAL
from factories.service import PASSWORD, Api, incident, post_incident
from service.conftest import (
    LiveService,
    PostgresCluster,
    Receiver,
    free_port,
    seed,
    settings_for,
    start_service,
    stop_service,
)

ROUND = re.compile(r"retention: round (\d+) on \S+:(\d+)")


@dataclass
class Server:
    """`etiquette serve` run as its own process, its log in a file."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def worker_pids(self) -> set[int]:
        """The processes that serve: uvicorn's spawned workers, or the command itself."""
        children = [p for p in psutil.Process(self.process.pid).children() if _spawned(p)]
        return {p.pid for p in children} or {self.process.pid}


def _spawned(p: psutil.Process) -> bool:
    try:
        return "spawn_main" in " ".join(p.cmdline())
    except psutil.Error:  # a worker just killed, not yet reaped: it serves no more
        return False


@dataclass
class Fleet:
    a: Server  # `etiquette serve --workers 2`
    b: LiveService  # the service in this process, on the same database, without jobs

    def rounds(self) -> JobRound | None:
        with self.b.sessions() as session:
            return session.get(JobRound, "retention")

    def logged_rounds(self) -> list[tuple[int, int]]:
        """(round, pid) of each retention round the workers logged."""
        return [(int(m[1]), int(m[2]))
                for m in ROUND.finditer(self.a.log.read_text(encoding="utf-8"))]


def until(condition: Callable[[], object], what: str, limit_s: float = 60.0) -> None:
    """Waits, bounded, for a condition the servers bring about on their own schedule."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {limit_s:g} s: {what}")
        time.sleep(0.1)


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health/ready", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def _start(url: str, settings: Settings, log: Path, workers: int) -> Server:
    """The command, given `settings` as an operator would: in ETIQUETTE_* variables."""
    port = free_port()
    given = settings.model_dump(mode="json", exclude={"data_dir", "database_url",
                                                      "sqlalchemy_url"}, exclude_unset=True)
    env = {**os.environ, **{f"ETIQUETTE_{k.upper()}": v if isinstance(v, str) else json.dumps(v)
                            for k, v in given.items()}}
    data_dir = settings.data_dir
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "etiquette.service", "serve", "--port", str(port),
             "--database-url", url, "--data-dir", str(data_dir), "--workers", str(workers)],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(process, f"http://127.0.0.1:{port}", log)


def _wait_ready(server: Server) -> None:
    until(lambda: _ready(server.base_url) or server.process.poll() is not None,
          f"{server.base_url} ready")
    assert server.process.poll() is None, server.log.read_text(encoding="utf-8")


def _stop(server: Server) -> None:
    """SIGTERM, and whatever has not stopped a few seconds later killed (a worker uvicorn
    started again after the test killed one may still be starting)."""
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        for child in psutil.Process(server.process.pid).children(recursive=True):
            child.kill()
        server.process.kill()
        server.process.wait(timeout=30)


@pytest.fixture(scope="module")
def fleet(postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    url = postgres.create_database("etiquette_workers")
    data_dir = tmp_path_factory.mktemp("workers")
    a = _start(url, settings_for(data_dir, url, retention_interval_s=1.0, alert_poll_s=0.2),
               data_dir / "a.log", workers=2)
    try:
        # Started while the workers are: the first to come migrates, the others wait for it.
        b = start_service(settings_for(data_dir, url, run_retention_job=False,
                                       run_webhook_job=False, alert_poll_s=0.2), "postgresql")
        try:
            seed(b)
            _wait_ready(a)
            yield Fleet(a, b)
        finally:
            stop_service(b)
    finally:
        _stop(a)


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--workers 大于 1 需要 PostgreSQL" in result.output
    assert not (tmp_path / "etiquette.db").exists()  # refused before anything was started


def test_two_workers_serve_one_port(fleet: Fleet) -> None:
    assert len(fleet.a.worker_pids()) == 2


def test_an_incident_ingested_by_one_process_reaches_the_alerts_of_another(
        fleet: Fleet) -> None:
    body = incident(**CRITICAL)
    with httpx.Client(base_url=fleet.b.base_url, timeout=30) as supervisor:
        assert supervisor.post("/api/v1/auth/login", json={
            "username": "supervisor", "password": PASSWORD}).status_code == 200
        with supervisor.stream("GET", "/api/v1/alerts/stream") as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith(": subscribed"))
            with Api(fleet.a.base_url, headers={"X-API-Key": fleet.b.api_key}) as pipeline:
                assert post_incident(pipeline, body).status_code == 201
            # Bounded by the read timeout: the stream sends a keep-alive every 15 s.
            alert = next(json.loads(line[6:]) for line in lines
                         if line.startswith("data: ") and body["id"] in line)
    assert alert["id"] == body["id"] and alert["severity"] == "critical"
    assert alert["url"] == f"/incidents/{body['id']}"


def test_failed_logins_spread_over_processes_are_throttled_as_on_one(fleet: Fleet) -> None:
    """Five failures are allowed (the fleet's login_max_failures), the sixth waits: the same
    whether the attempts alternate between the processes or not."""
    servers = [fleet.a.base_url, fleet.b.base_url]
    answers = []
    for attempt in range(7):
        with httpx.Client(base_url=servers[attempt % 2], timeout=30,
                          headers={"X-Forwarded-For": "198.51.100.20"}) as client:
            answers.append(client.post("/api/v1/auth/login", json={
                "username": "auditor", "password": "not-the-password"}))
    assert [r.status_code for r in answers] == [401] * 5 + [429, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert "登录失败次数过多" in answers[-1].json()["detail"]


def test_each_webhook_delivery_is_sent_by_one_worker(fleet: Fleet, receiver: Receiver) -> None:
    """Both workers send webhooks (the service in this process does not): deliveries of
    incidents ingested by either are each sent once."""
    r = fleet.b.client("admin").post("/api/v1/webhooks", json={
        "name": "省中心值班", "url": receiver.url, "severities": ["critical"]})
    assert r.status_code == 201, r.text
    bodies = [incident(**CRITICAL) for _ in range(6)]
    with Api(fleet.a.base_url, headers={"X-API-Key": fleet.b.api_key}) as pipeline:
        for body in bodies:
            assert post_incident(pipeline, body).status_code == 201
    received = receiver.wait_for(len(bodies))
    incidents = [json.loads(request["body"])["incident"]["id"] for request in received]
    assert sorted(incidents) == sorted(b["id"] for b in bodies)  # each once, none twice
    deliveries = [request["headers"]["X-Etiquette-Delivery"] for request in received]
    assert len(set(deliveries)) == len(deliveries)


def test_the_purge_runs_once_per_round_and_is_handed_over_when_its_process_dies(
        fleet: Fleet) -> None:
    """Both workers run the retention job every second (retention_interval_s 1); each round
    is run by one of them. The worker that ran the latest round killed, the rounds go on."""
    until(lambda: (row := fleet.rounds()) is not None and row.runs >= 4, "four rounds")
    row = fleet.rounds()
    assert row is not None
    logged = fleet.logged_rounds()
    counts = Counter(number for number, _ in logged)
    assert set(range(1, row.runs + 1)) <= set(counts)  # every round claimed was run and logged
    assert max(counts.values()) == 1  # by one process only
    serving = fleet.a.worker_pids()
    assert {pid for _, pid in logged} <= serving

    # The process that ran the latest round dies (SIGKILL: no shutdown of its own).
    victim = int(row.holder.rsplit(":", 1)[1])
    assert victim in serving
    os.kill(victim, signal.SIGKILL)
    killed_at = row.runs
    until(lambda: any(number > killed_at + 1 and pid != victim
                      for number, pid in fleet.logged_rounds()), "a round after the kill")
    counts = Counter(number for number, _ in fleet.logged_rounds())
    assert max(counts.values()) == 1

"""A supervision service of a benchmark's own: `etiquette serve` (or the service alone) as a
child process on a free port of 127.0.0.1, started, awaited and stopped the same way by every
benchmark that measures the service from outside."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
ETIQUETTE = BIN / "etiquette"
# The service without the speech side (no practice recogniser; starts faster).
SERVICE_ALONE = (sys.executable, "-m", "etiquette.service")
READY_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(port: int, data_dir: Path, log: Path, *, env: Mapping[str, str] | None = None,
           command: Sequence[str] = (str(ETIQUETTE),),
           options: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """`<command> serve` on `port` over `data_dir`, its output appended to `log` (a file, not a
    pipe nobody reads, which a chatty service would fill and block on)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
             str(data_dir), "--log-level", "warning", *options],
            env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until `base`/health/ready answers 200; SystemExit with the log's end if the service
    exits first or is not ready within READY_S."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"the service did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the service did not start in {READY_S:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL after 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


@contextmanager
def running(data_dir: Path, *, env: Mapping[str, str] | None = None,
            command: Sequence[str] = (str(ETIQUETTE),), options: Sequence[str] = ()
            ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A ready service over `data_dir` (log: data_dir/service.log): its base URL and process;
    stopped when the block ends."""
    port = free_port()
    log = data_dir / "service.log"
    proc = launch(port, data_dir, log, env=env, command=command, options=options)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, log)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        stop(proc)

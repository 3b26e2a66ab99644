"""Faults made real for the tests: a disk that fills up (a tmpfs of a few MiB), waiting on a
condition without timing anything, and the supervision service as a process of its own that
can be killed with SIGKILL."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from etiquette.service.core.config import Settings


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0,
             what: str = "condition") -> None:
    """Poll `condition` until it holds; generous by default, for a loaded machine."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.02)


# ---------------------------------------------------------------- a disk that fills up


@dataclass
class TinyDisk:
    """A tmpfs of its own at `path`: `fill` takes its free space, `free` gives it back."""

    path: Path
    size: int

    @property
    def filler(self) -> Path:
        return self.path / ".filler"

    def available(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Take the free space, all of it or all but `leave` bytes (the filler grows)."""
        with self.filler.open("ab") as f:
            while self.available() > leave:
                try:
                    f.write(b"\0" * max(4096, min(1 << 16, self.available() - leave)))
                    f.flush()
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break

    def free(self) -> None:
        """Space returns: the filler is deleted."""
        self.filler.unlink(missing_ok=True)


@contextmanager
def tiny_disk(path: Path, size: int = 4 << 20) -> Iterator[TinyDisk]:
    """A real filesystem of `size` bytes mounted at `path` (made if missing), unmounted after.

    Mounting needs root (or CAP_SYS_ADMIN): where the machine refuses it, the test is skipped
    with the reason, since a disk full for real cannot be had otherwise."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                               str(path)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"a full disk needs a tmpfs of its own, and `mount` cannot run here: {e}")
    if done.returncode != 0:
        pytest.skip("a full disk needs a tmpfs of its own; this machine refuses the mount "
                    f"(not root, or no CAP_SYS_ADMIN in this container): {done.stderr.strip()}")
    try:
        yield TinyDisk(path, size)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


# ---------------------------------------------------------------- the service as a process


@dataclass
class ServiceProcess:
    """`python -m etiquette.service serve` (the service alone, no model), as deployed."""

    data_dir: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "service.log"

    def start(self, timeout_s: float = 120.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "etiquette.service", "serve", "--port", str(self.port),
                 "--data-dir", str(self.data_dir), "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/health/live", timeout=5).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service did not answer in {timeout_s:.0f} s")
            time.sleep(0.2)

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or cleaned up."""
        assert self.process is not None
        with suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def seed_database(settings: Settings) -> str:
    """The schema, the tests' master data, a supervisor (`PASSWORD`) and a pipeline key, written
    straight into the database a service process will open; returns the key."""
    from etiquette.service.core import db
    from etiquette.service.crud import master
    from etiquette.service.schemas import ApiKeyCreate, Role, UserCreate
    from etiquette.service.services import masterdata, users
    from etiquette.service.services.access import SYSTEM_CLI

    from factories.service import MASTERDATA, PASSWORD

    engine = db.make_engine(settings.sqlalchemy_url)
    try:
        db.upgrade(engine)
        with db.make_sessionmaker(engine)() as session:
            masterdata.import_file(session=session, principal=SYSTEM_CLI,
                                   data=masterdata.parse_yaml(MASTERDATA))
            center = master.center_by_code(session=session, code="nc")
            assert center is not None
            users.create_user(session=session, principal=SYSTEM_CLI, user_in=UserCreate(
                username="supervisor", password=PASSWORD, role=Role.SUPERVISOR,
                display_name="supervisor"))
            _, key = users.create_api_key(session=session, principal=SYSTEM_CLI,
                                          key_in=ApiKeyCreate(name="test-pipeline",
                                                              center_id=center.id))
    finally:
        engine.dispose()
    return key

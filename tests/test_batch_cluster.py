"""`etiquette batch --cluster` on a real Ray cluster of two nodes, started here as separate
processes: the same output as a plain run, through the loss of a node mid-run, whether it was
analysing a file or transcribing a part of a long one; an address nobody answers on refused at
once in Chinese. And a plain run imports nothing of Ray."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_batch import etiquette, incidents, read_jsonl

from etiquette.core.session_records import SESSION_RECORD

from factories import ROOT
from factories.faults import wait_for
from service.conftest import free_port

ray = pytest.importorskip("ray", reason="etiquette[cluster] (Ray) is not installed")

RAY = Path(sys.executable).parent / "ray"
# Small real recordings, each with incidents; the first one or two go to the second node.
FILES = [ROOT / "tests/data" / name for name in
         ("pauses_stereo.ogg", "citizen.flac", "staff.flac", "apology_stereo.ogg")]
# A recording whose speech is transcribed in 2 parts at one input a part (`--part-inputs 1`):
# with two analysers, each takes one.
LONG = [ROOT / "tests/data/phrase_forms_stereo.ogg"]
# A process that dies is noticed in about a second, not after Ray's default 30 s or more.
FAST_FAILURE = {"RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "2",
                "RAY_health_check_initial_delay_ms": "0", "RAY_DISABLE_USAGE_STATS": "1",
                "RAY_AUTH_MODE": "disabled"}
PLAIN = ("import atexit, sys\n"
         "atexit.register(lambda: print('ray imported:', 'ray' in sys.modules, file=sys.stderr))\n"
         "from etiquette.cli import app\n"
         "app()\n")


@dataclass
class Cluster:
    address: str
    head: subprocess.Popen[bytes]
    second: subprocess.Popen[bytes]
    temp: Path
    env: dict[str, str]

    def second_node_up(self) -> None:
        """A second node again where an earlier test killed it."""
        if self.second.poll() is None:
            return
        self.second = start_node("--address", self.address, temp=self.temp, env=self.env)
        wait_for(lambda: alive_nodes(self.address) == 2, 120, "the second node")

    def second_node(self) -> set[int]:
        """The second node's processes: its own (raylet and others) and the workers its raylet
        started, which Ray puts in sessions of their own."""
        parents = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            parents[int(stat.parent.name)] = (int(fields[1]), int(fields[2]))  # ppid, pgid
        own = {pid for pid, (_, pgid) in parents.items() if pgid == self.second.pid}
        return own | {pid for pid, (ppid, _) in parents.items() if ppid in own}

    def second_node_calling(self, call: str) -> bool:
        """Whether a worker of the second node is running an analyser's `call` (Ray names a
        worker process after the call it runs)."""
        for pid in self.second_node():
            try:
                if f"Analyser.{call}".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                continue
        return False

    def kill_second_node(self) -> None:
        for pid in self.second_node():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def start_node(*args: str, temp: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A Ray node of one CPU as a process group of its own (so it can be killed whole)."""
    return subprocess.Popen([str(RAY), "start", "--block", "--num-cpus", "1",
                             "--disable-usage-stats", *args], cwd=temp, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def alive_nodes(address: str) -> int:
    probe = (f"import ray; ray.init(address={address!r}, logging_level='ERROR');"
             "print(sum(n['Alive'] for n in ray.nodes()))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120)
    return int(run.stdout.strip() or 0)


def stop_node(node: subprocess.Popen[bytes]) -> None:
    if node.poll() is None:
        os.killpg(node.pid, signal.SIGTERM)
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths
    env = {**os.environ, **FAST_FAILURE}
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    address = f"127.0.0.1:{port}"
    head = start_node("--head", "--port", str(port), "--include-dashboard", "false",
                 "--temp-dir", str(temp), temp=temp, env=env)
    second, cluster = None, None
    try:
        wait_for(lambda: alive_nodes(address) == 1, 120, "the head node")
        second = start_node("--address", address, temp=temp, env=env)
        wait_for(lambda: alive_nodes(address) == 2, 120, "the second node")
        cluster = Cluster(address, head, second, temp, env)
        yield cluster
    finally:
        for node in (cluster.second if cluster else second, head):
            if node is not None:
                stop_node(node)
        shutil.rmtree(temp, ignore_errors=True)


def plain_run(files: list[Path], out: Path, *options: str
              ) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """`files` analysed by a plain run (one thread, as each analyser has)."""
    run = subprocess.run([sys.executable, "-c", PLAIN, "batch", *map(str, files), "--out",
                          str(out), "--threads", "1", *options], cwd=ROOT, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    return run, read_jsonl(out)


def cluster_run(cluster: Cluster, files: list[Path], out: Path, call: str, *options: str
                ) -> str:
    """`files` analysed on `cluster`, its second node killed once it runs an analyser's
    `call`; the run's standard error."""
    cluster.second_node_up()
    batch = subprocess.Popen([sys.executable, "-m", "etiquette.cli", "batch",
                              *map(str, files), "--out", str(out), "--cluster", "auto",
                              *options],
                             cwd=ROOT, env={**os.environ, **FAST_FAILURE,
                                            "RAY_ADDRESS": cluster.address},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: cluster.second_node_calling(call), 300,
                 f"the second node to run Analyser.{call}")
        cluster.kill_second_node()
        _, stderr = batch.communicate(timeout=600)
    finally:
        if batch.poll() is None:
            batch.kill()
    assert batch.returncode == 0, stderr
    return stderr


def same_lines(a: list[dict], b: list[dict]) -> bool:
    return sorted(json.dumps(x, sort_keys=True) for x in a) == \
        sorted(json.dumps(x, sort_keys=True) for x in b)


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    return plain_run(FILES, tmp_path_factory.mktemp("plain") / "incidents.jsonl")


def test_a_plain_batch_imports_nothing_of_ray(plain):
    run, lines = plain
    assert "ray imported: False" in run.stderr
    assert incidents(lines)


@pytest.mark.slow
def test_a_node_lost_mid_run_loses_and_repeats_nothing(cluster, plain, tmp_path):
    out = tmp_path / "incidents.jsonl"
    stderr = cluster_run(cluster, FILES, out, "analyse")
    lines = read_jsonl(out)
    # Every file analysed, in input order (its session line ends its lines).
    assert [x["source"] for x in lines if x["kind"] == SESSION_RECORD] == list(map(str, FILES))
    found = incidents(lines)
    assert len({x["id"] for x in found}) == len(found)  # each incident written once
    assert same_lines(lines, plain[1])
    assert "共 4 个文件成功，0 个失败" in stderr


@pytest.mark.slow
def test_a_long_recording_is_transcribed_in_parts_through_a_node_loss_as_one_machine_does(
        cluster, tmp_path):
    _, plain_lines = plain_run(LONG, tmp_path / "plain.jsonl", "--part-inputs", "1")
    out = tmp_path / "incidents.jsonl"
    stderr = cluster_run(cluster, LONG, out, "transcribe", "--part-inputs", "1")
    lines = read_jsonl(out)
    assert [x["source"] for x in lines if x["kind"] == SESSION_RECORD] == list(map(str, LONG))
    assert incidents(lines)
    assert same_lines(lines, plain_lines)  # every incident once, ids included
    assert "analyser lost" in stderr  # the kill did take a part away mid-run
    assert "共 1 个文件成功，0 个失败" in stderr


def test_a_cluster_nobody_answers_for_is_refused_at_once_in_chinese():
    result = etiquette("batch", "tests/data/staff.flac", "--cluster",
                       f"ray://127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert "无法连接 Ray 集群" in result.stderr
    assert "Traceback" not in result.stderr

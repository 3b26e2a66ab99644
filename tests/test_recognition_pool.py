"""The shared recognition pool (`etiquette recognition-pool`, a Ray Serve deployment) on a real
Ray node started here as a separate process, and a site's `RemoteRecogniser` in front of it:
the pool's words are the site's own model's; a pool removed mid-run loses no utterance (the
site transcribes them itself, says so, and goes back to the pool once it is there again); a
site whose pool nobody answers for starts all the same, reporting it in Chinese."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from test_batch_cluster import FAST_FAILURE, alive_nodes, start_node, stop_node

from etiquette.core.records import Transcript, Utterance
from etiquette.health import HealthEvent, HealthState
from etiquette.live.engine import build_site
from etiquette.live.recognition import SharedRecogniser
from etiquette.live.site import SiteError, load_site
from etiquette.speech.audio import read_audio
from etiquette.speech.recogniser import Recogniser, RecogniserOptions
from etiquette.speech.remote_recogniser import COMPONENT, RemoteRecogniser
from etiquette.speech.segmenter import segment

from factories import ROOT, SAMPLES
from factories.faults import wait_for
from service.conftest import free_port

pytest.importorskip("ray.serve", reason="etiquette[cluster] (Ray Serve) is not installed")

RECORDING = ROOT / "tests/data/pauses_stereo.ogg"  # ten utterances, staff's and citizen's
OPTIONS = RecogniserOptions(cpu_threads=1)  # as the pool's replica runs (--threads 1)


@dataclass
class Pool:
    ray_address: str
    url: str
    port: int

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **FAST_FAILURE}
        env.pop("RAY_ADDRESS", None)
        return subprocess.run([sys.executable, "-m", "etiquette.cli", "recognition-pool", *args,
                               "--address", self.ray_address], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)

    def deploy(self) -> None:
        run = self.command("serve", "--replicas", "1", "--threads", "1", "--host", "127.0.0.1",
                           "--port", str(self.port))
        assert run.returncode == 0, run.stderr
        assert f"识别池已部署：{self.url}" in run.stderr

    def remove(self) -> None:
        run = self.command("stop")
        assert run.returncode == 0, run.stderr


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    """One Ray node (its own process group) with the pool deployed by the CLI."""
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths
    env = {**os.environ, **FAST_FAILURE}
    env.pop("RAY_ADDRESS", None)
    address = f"127.0.0.1:{free_port()}"
    head = start_node("--head", "--port", address.split(":")[1], "--include-dashboard", "false",
                      "--temp-dir", str(temp), temp=temp, env=env)
    try:
        wait_for(lambda: alive_nodes(address) == 1, 120, "the Ray node")
        port = free_port()
        served = Pool(address, f"http://127.0.0.1:{port}/recognise", port)
        served.deploy()
        yield served
    finally:
        stop_node(head)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def utterances() -> list[Utterance]:
    return segment(read_audio(RECORDING), str(RECORDING), "w-1")


def texts(transcripts: list[Transcript]) -> list[str]:
    return [t.text for t in transcripts]


@pytest.mark.slow
def test_the_pool_hears_the_words_the_site_would(pool, utterances):
    remote = RemoteRecogniser(pool.url, OPTIONS)
    heard = remote.transcribe(utterances)
    assert remote.stats.pool == len(utterances) and remote.stats.local == 0
    own = Recogniser.transcribe(remote, utterances)  # the site's own model, as a fallback runs
    assert texts(heard) == texts(own)
    assert [(t.start_s, t.speaker) for t in heard] == [(u.start_s, u.speaker) for u in utterances]
    assert sum(bool(t.words) for t in heard) >= len(utterances) // 2  # speech, not silence


@pytest.mark.slow
def test_a_pool_removed_mid_run_loses_nothing_and_is_used_again_when_back(
        pool, utterances, tmp_path):
    events: list[HealthEvent] = []
    remote = RemoteRecogniser(pool.url, OPTIONS, retry_s=1.0)
    remote.report_to(events.append)
    shared = SharedRecogniser(remote, spool_dir=tmp_path / "spool", on_health=events.append)
    delivered: list[tuple[Utterance, Transcript]] = []
    lock = threading.Lock()

    def deliver(u: Utterance, t: Transcript, _check: object) -> None:
        with lock:
            delivered.append((u, t))

    half = len(utterances) // 2
    shared.start()
    try:
        for u in utterances[:half]:
            shared.submit(u, deliver)
        wait_for(lambda: len(delivered) == half, 300, "the first half through the pool")
        assert remote.stats.pool == half
        pool.remove()
        for u in utterances[half:]:
            shared.submit(u, deliver)
        wait_for(lambda: len(delivered) == len(utterances), 300, "the rest")
    finally:
        shared.stop()

    # Every utterance transcribed and handed on once, the second half here.
    assert Counter(u.start_s for u, _ in delivered) == Counter(u.start_s for u in utterances)
    assert remote.stats.local == len(utterances) - half
    own = dict(zip([u.start_s for u in utterances], texts(Recogniser.transcribe(remote,
                                                                                utterances)),
                   strict=True))
    assert sum(bool(t.words) for _, t in delivered) == sum(bool(text) for text in own.values())
    down = [e for e in events if e.component == COMPONENT and e.state is HealthState.DEGRADED]
    assert len(down) == 1 and "识别池" in down[0].message and "改用本站点" in down[0].message

    pool.deploy()  # back: the next call after retry_s goes to the pool again
    heard = remote.transcribe(utterances[:2])
    assert remote.stats.pool == half + 2
    assert texts(heard) == texts(Recogniser.transcribe(remote, utterances[:2]))
    assert events[-1].component == COMPONENT and events[-1].state is HealthState.OK


def test_a_site_whose_pool_nobody_answers_for_starts_and_says_so(tmp_path):
    path = tmp_path / "site.yaml"
    address = f"http://127.0.0.1:{free_port()}/recognise"
    path.write_text(yaml.safe_dump({
        "center": {"code": "nc"}, "data_dir": str(tmp_path / "live"), "control": {"port": 0},
        "recognition": {"backend": "ray", "address": address, "num_workers": 1},
        "windows": [{"id": "w-a", "audio": {"file": str(SAMPLES / "window05_session.ogg")}}]}),
        encoding="utf-8")
    events: list[HealthEvent] = []
    site = build_site(load_site(path), on_health=events.append)
    assert isinstance(site.speech.recogniser, RemoteRecogniser)
    (down,) = [e for e in events if e.component == COMPONENT]
    assert down.state is HealthState.DEGRADED
    assert f"识别池 {address} 不可用" in down.message and "改用本站点的识别模型" in down.message


def test_a_pool_without_its_address_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("center: {code: nc}\nwindows: [{id: w-a, audio: {device: pulse}}]\n"
                    "recognition: {backend: ray}\n", encoding="utf-8")
    with pytest.raises(SiteError) as e:
        load_site(path)
    assert "recognition (line 3)" in str(e.value) and "address" in str(e.value)


def test_the_pool_commands_fit_80_columns():
    for command in ("serve", "stop"):
        result = subprocess.run([sys.executable, "-m", "etiquette.cli", "recognition-pool",
                                 command, "--help"], cwd=ROOT, capture_output=True, text=True,
                                env={**os.environ, "COLUMNS": "80"}, timeout=120)
        assert result.returncode == 0
        assert max(map(len, result.stdout.splitlines())) <= 80
        assert "…" not in result.stdout and "--address" in result.stdout


def test_a_site_on_the_pool_imports_nothing_of_ray():
    probe = ("import sys\n"
             "import etiquette.live.engine, etiquette.speech.remote_recogniser\n"
             "print('ray' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"

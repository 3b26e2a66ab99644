"""The shared recognition pool (`etiquette recognition-pool`, a Ray Serve deployment) on a real
Ray node started here as a separate process, and a site's `RemoteRecogniser` in front of it:
the pool's words are the site's own model's, with the site's prompt and beam; a pool removed
mid-run loses no utterance (the site transcribes them itself, says so in its health and
metrics, and goes back to the pool once it is there again); a site whose own model is not the
pool's says so; a site whose pool nobody answers for starts all the same, reporting it in
Chinese."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from test_batch_cluster import FAST_FAILURE, alive_nodes, start_node, stop_node

from etiquette.core.records import Transcript, Utterance
from etiquette.health import HealthEvent, HealthState
from etiquette.live.control import ServerThread, create_control_app
from etiquette.live.engine import LiveSite, build_site
from etiquette.live.site import Site, SiteError, load_site
from etiquette.speech.audio import read_audio
from etiquette.speech.recogniser import Recogniser, RecogniserOptions
from etiquette.speech.remote_recogniser import COMPONENT, RemoteRecogniser
from etiquette.speech.segmenter import segment

from factories import ROOT, SAMPLES
from factories.faults import wait_for
from service.conftest import free_port

pytest.importorskip("ray.serve", reason="etiquette[cluster] (Ray Serve) is not installed")

RECORDING = ROOT / "tests/data/pauses_stereo.ogg"  # ten utterances, staff's and citizen's
# Nine utterances in espeak's voice, two of them forbidden phrases Whisper hears otherwise
# without the rules' phrases as its prompt (tests/speech/test_rule_prompt.py).
HURRY = ROOT / "tests/data/espeak_hurry.ogg"
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


@pytest.fixture(scope="module")
def hurry() -> list[Utterance]:
    return segment(read_audio(HURRY), str(HURRY), "w-1")


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
def test_a_site_with_the_rule_prompt_is_decoded_with_it_on_the_pool(pool, hurry, tmp_path):
    """The site's prompt (the rules' phrases) travels with its requests: the pool's words are
    the site's own model's with the same prompt, on speech whose words the prompt changes, also
    when a request without it reaches the pool at once (one recogniser call each: requests
    joined into one call would also share Whisper's inputs, and so change words)."""
    site = build_site(pool_site(tmp_path, pool.url, cpu_threads=1, num_workers=1,
                                rule_prompt=True))
    remote = site.pool
    assert remote is not None and remote.decoding.prompt
    unprompted = replace(remote.decoding, prompt=None)
    with ThreadPoolExecutor(2) as requesters:
        heard = list(requesters.map(lambda d: remote.transcribe(hurry, d),
                                    [remote.decoding, unprompted]))
    assert remote.stats.pool == 2 * len(hurry) and remote.stats.local == 0
    own = texts(Recogniser.transcribe(remote, hurry))  # the site's model, its prompt
    own_unprompted = texts(Recogniser.transcribe(remote, hurry, unprompted))
    assert own != own_unprompted  # the prompt matters here
    assert [texts(h) for h in heard] == [own, own_unprompted]


@pytest.mark.slow
def test_the_pool_decodes_with_the_sites_beam(pool, hurry):
    """A site's beam_size travels with its requests too: a site at beam 1 hears from the pool
    what its own model hears at beam 1, on speech whose words the beam changes."""
    remote = RemoteRecogniser(pool.url, replace(OPTIONS, beam_size=1))
    heard = remote.transcribe(hurry)
    assert remote.stats.pool == len(hurry) and remote.stats.local == 0
    own = texts(Recogniser.transcribe(remote, hurry))
    assert own != texts(Recogniser.transcribe(remote, hurry, replace(remote.decoding,
                                                                     beam_size=5)))
    assert texts(heard) == own


def test_a_site_whose_own_model_is_not_the_pools_says_so(pool, tmp_path, caplog):
    """The pool says which model it runs; a site whose own model (its fallback) is set up
    otherwise warns at start and shows how in its health, while it transcribes on the pool."""
    events: list[HealthEvent] = []
    with caplog.at_level(logging.WARNING, logger="etiquette.speech.remote_recogniser"):
        site = build_site(pool_site(tmp_path, pool.url, cpu_threads=1, num_workers=1,
                                    compute_type="float32"), on_health=events.append)
    state = recognition_once(site)
    assert state["on"] == "pool"
    assert (state["pool"]["model"], state["pool"]["compute_type"]) == ("whisper-base", "int8")
    assert state["differs"] == ["计算类型：识别池 int8，本站点 float32"]
    assert any("another model" in r.message and "float32" in r.message for r in caplog.records)
    (up,) = [e for e in events if e.component == COMPONENT]
    assert up.state is HealthState.OK and "本站点的备用模型与之不同" in up.message


@pytest.mark.slow
def test_a_pool_removed_mid_run_loses_nothing_and_is_used_again_when_back(
        pool, utterances, tmp_path):
    """A site on the pool: /health and /metrics say where it transcribes (the pool, its own
    model while the pool is gone, the pool again) and how much each transcribed."""
    events: list[HealthEvent] = []
    site = build_site(pool_site(tmp_path, pool.url, cpu_threads=1, num_workers=1,
                                pool_retry_s=1.0), on_health=events.append)
    remote, shared = site.pool, site.recogniser
    assert remote is not None
    control = ServerThread(create_control_app(site), "127.0.0.1", 0, "control")
    control.start()
    delivered: list[tuple[Utterance, Transcript]] = []
    lock = threading.Lock()

    def deliver(u: Utterance, t: Transcript, _check: object) -> None:
        with lock:
            delivered.append((u, t))

    half = len(utterances) // 2
    shared.start()
    try:
        up = recognition(control.url)
        assert (up["backend"], up["address"], up["on"]) == ("ray", pool.url, "pool")
        assert up["pool"]["compute_type"] == "int8" and up["differs"] == []
        for u in utterances[:half]:
            shared.submit(u, deliver)
        wait_for(lambda: len(delivered) == half, 300, "the first half through the pool")
        assert remote.stats.pool == half
        pool.remove()
        for u in utterances[half:]:
            shared.submit(u, deliver)
        wait_for(lambda: len(delivered) == len(utterances), 300, "the rest")
        down = recognition(control.url)
        down_metrics = pool_metrics(control.url)
    finally:
        shared.stop()

    # Every utterance transcribed and handed on once, the second half here, and so reported.
    assert Counter(u.start_s for u, _ in delivered) == Counter(u.start_s for u in utterances)
    assert remote.stats.local == len(utterances) - half
    assert down["on"] == "local" and since(down) > since(up)
    assert down["utterances"] == {"pool": half, "local": len(utterances) - half}
    assert down_metrics == {"pool": half, "local": len(utterances) - half, "on_pool": 0.0,
                            "failures": 1.0}
    own = dict(zip([u.start_s for u in utterances], texts(Recogniser.transcribe(remote,
                                                                                utterances)),
                   strict=True))
    assert sum(bool(t.words) for _, t in delivered) == sum(bool(text) for text in own.values())
    down_events = [e for e in events
                   if e.component == COMPONENT and e.state is HealthState.DEGRADED]
    assert len(down_events) == 1 and "识别池" in down_events[0].message
    assert "改用本站点" in down_events[0].message

    pool.deploy()  # back: the next call after retry_s goes to the pool again
    try:
        heard = remote.transcribe(utterances[:2])
        back = recognition(control.url)
        back_metrics = pool_metrics(control.url)
    finally:
        control.stop()
    assert remote.stats.pool == half + 2
    assert texts(heard) == texts(Recogniser.transcribe(remote, utterances[:2]))
    assert events[-1].component == COMPONENT and events[-1].state is HealthState.OK
    assert back["on"] == "pool" and since(back) > since(down)
    assert back_metrics["pool"] == half + 2 and back_metrics["on_pool"] == 1.0


def pool_site(tmp_path: Path, address: str, **recognition: object) -> Site:
    """A site of one window (a replay, not started here) on the pool at `address`."""
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({
        "center": {"code": "nc"}, "data_dir": str(tmp_path / "live"), "control": {"port": 0},
        "recognition": {"backend": "ray", "address": address, **recognition},
        "windows": [{"id": "w-a", "audio": {"file": str(SAMPLES / "window05_session.ogg")}}]}),
        encoding="utf-8")
    return load_site(path)


def recognition(url: str) -> dict[str, Any]:
    """What the site's /health says of its recogniser's backend."""
    state: dict[str, Any] = httpx.get(f"{url}/health", timeout=30).json()["recogniser"]
    return state


def recognition_once(site: LiveSite) -> dict[str, Any]:
    """What the site's /health says of its recogniser's backend, from a control server started
    for the one request."""
    control = ServerThread(create_control_app(site), "127.0.0.1", 0, "control")
    control.start()
    try:
        return recognition(control.url)
    finally:
        control.stop()


def since(state: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(state["since"])


def pool_metrics(url: str) -> dict[str, float]:
    """The site's /metrics of its pool: utterances by the pool and here, whether on the pool,
    failed calls."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=30).text):
        for sample in family.samples:
            if sample.name == "etiquette_recogniser_utterances_total":
                found[sample.labels["by"]] = sample.value
            elif sample.name == "etiquette_recogniser_on_pool":
                found["on_pool"] = sample.value
            elif sample.name == "etiquette_recogniser_pool_failures_total":
                found["failures"] = sample.value
    return found


def test_a_site_whose_pool_nobody_answers_for_starts_and_says_so(tmp_path):
    address = f"http://127.0.0.1:{free_port()}/recognise"
    events: list[HealthEvent] = []
    site = build_site(pool_site(tmp_path, address, num_workers=1), on_health=events.append)
    assert isinstance(site.speech.recogniser, RemoteRecogniser)
    (down,) = [e for e in events if e.component == COMPONENT]
    assert down.state is HealthState.DEGRADED
    assert f"识别池 {address} 不可用" in down.message and "改用本站点的识别模型" in down.message
    state = recognition_once(site)
    assert (state["backend"], state["address"], state["on"]) == ("ray", address, "local")


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

"""`etiquette batch --cluster`: a province's archives analysed on a Ray cluster.

Each analyser is a Ray actor holding one loaded pipeline (the recogniser is loaded once per
actor, not per file); files are its calls. Results come back whole, one per file, and are
handed on in input order, so a file whose actor was lost with its node is analysed again
elsewhere and still written once. Imported only when `--cluster` is given: nothing of Ray is
loaded otherwise.

A long recording stays one task. It is one service session (`sessions.session_of`), judged
whole: its greeting is due at its first speech and its farewell at its last, and the checks
read its turns across any silence, so parts analysed apart would be judged as sessions of
their own. Only transcription could be shared out, and not identically: the recogniser packs
each call's utterances into 30 s inputs and decodes again, among each other, those an input
skipped, so other cuts give other neighbours and at times other words.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ray
from ray.exceptions import RayActorError

from etiquette.batch import Result, analyse_file
from etiquette.pipeline import PipelineOptions, RecordingPipeline, SpeechPipeline
from etiquette.vision.watcher import PresenceOptions

logger = logging.getLogger("etiquette.cluster")

CONNECT_TIMEOUT_S = 3.0  # an address nobody answers on fails at once, not after Ray's retries


class ClusterError(Exception):
    """The cluster cannot be reached or has no analyser left; the message is for users."""


def connect(cluster: str) -> None:
    """Start an in-process local Ray (`local`), join the running cluster (`auto`: RAY_ADDRESS,
    else the one started on this machine) or connect as a client (`ray://host:port`).

    Raises:
      ClusterError: nothing answers at the address, or Ray refuses it.
    """
    address = os.environ.get("RAY_ADDRESS", "auto") if cluster == "auto" else cluster
    if cluster != "local" and address != "auto":
        parts = urlsplit(address if "://" in address else f"//{address}")
        if parts.hostname is None or parts.port is None:
            raise ClusterError(f"集群地址 {address} 无效：应为 local、auto 或 ray://主机:端口")
        try:
            socket.create_connection((parts.hostname, parts.port), CONNECT_TIMEOUT_S).close()
        except OSError as e:
            raise ClusterError(f"无法连接 Ray 集群 {address}（{e}）：请确认集群已启动、"
                               f"地址和端口正确") from e
    try:
        ray.init(address=None if cluster == "local" else address, include_dashboard=False,
                 logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(f"无法连接 Ray 集群 {address}（{e}）") from e


class Analyser:
    """One loaded pipeline on a node of the cluster, in the folder the batch was started from
    (files and evidence are at the same paths on every node; relative paths are kept as given,
    since incident ids are made from them)."""

    def __init__(self, options: PipelineOptions, presence: PresenceOptions, cwd: Path) -> None:
        os.chdir(cwd)  # this process is the actor's alone
        self.pipeline = RecordingPipeline(SpeechPipeline(options), presence)

    def analyse(self, path: Path, window_id: str | None,
                recorded_at: datetime | None) -> Result:
        return analyse_file(self.pipeline, path, window_id, recorded_at)


# Not restarted where it died: its node may be gone, and its files go to the others instead.
RemoteAnalyser = ray.remote(max_restarts=0)(Analyser)


def analysers_fitting(threads: int) -> int:
    """How many analysers of `threads` CPU threads the cluster's live nodes hold."""
    nodes: Callable[[], list[dict[str, Any]]] = ray.nodes
    return sum(int(node["Resources"].get("CPU", 0)) // threads
               for node in nodes() if node["Alive"])


def analysed_on_cluster(options: PipelineOptions, presence: PresenceOptions, files: list[Path],
                        threads: int, window_id: str | None = None,
                        recorded_at: datetime | None = None) -> Iterator[tuple[Path, Result]]:
    """Each of `files` with its result, analysed by actors on the connected cluster, in input
    order. A file whose actor is lost (its node died) is analysed again by another.

    Raises:
      ClusterError: no node has `threads` CPUs, or every analyser was lost.
    """
    if not files:
        return
    count = min(len(files), analysers_fitting(threads))
    if count == 0:
        raise ClusterError(f"集群中没有哪个节点有 {threads} 个 CPU：请减小 --threads")
    here = Path.cwd()
    idle: list[Any] = [RemoteAnalyser.options(num_cpus=threads).remote(options, presence, here)
                       for _ in range(count)]
    logger.info("%d analysers of %d threads on the cluster", count, threads)
    waiting = deque(range(len(files)))
    running: dict[Any, tuple[int, Any]] = {}
    done: dict[int, Result] = {}
    lost: RayActorError | None = None
    written = 0
    while written < len(files):
        while idle and waiting:
            actor, k = idle.pop(), waiting.popleft()
            running[actor.analyse.remote(files[k], window_id, recorded_at)] = (k, actor)
        if not running:
            raise ClusterError(f"集群中已没有可用的分析进程（节点失去或无法加载模型）：{lost}")
        (ref,), _ = ray.wait(list(running), num_returns=1)
        k, actor = running.pop(ref)
        try:
            done[k] = ray.get(ref)
            idle.append(actor)
        except RayActorError as e:  # its node or process died: the file goes to another
            logger.warning("analyser lost on %s (%s); it is analysed again", files[k], e)
            lost = e
            waiting.appendleft(k)
        while written in done:
            yield files[written], done.pop(written)
            written += 1

"""`etiquette batch --cluster`: a province's archives analysed on a Ray cluster.

Each analyser is a Ray actor holding one loaded pipeline (the recogniser is loaded once per
actor, not per file); files are its calls. Results come back whole, one per file, and are
handed on in input order, so a file whose actor was lost with its node is analysed again
elsewhere and still written once.

A long recording is one service session (`sessions.session_of`), judged whole: its greeting is
due at its first speech and its farewell at its last, and the checks read its turns across any
silence. So only its transcription is shared out: the recogniser transcribes a call's speech in
parts cut at silence (`recogniser.parts_of`, `part_inputs` inputs each), on one machine one
after another, here on any analysers; the analyser that read the file waits for their
transcripts and judges it whole. Each part is decoded on its own either way, so the output is
the one machine's. Imported only when `--cluster` is given: nothing of Ray is loaded otherwise.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

import ray
from ray.exceptions import ObjectLostError, RayActorError

from etiquette.batch import FileError, Result, analyse_file
from etiquette.core.records import Transcript, Utterance
from etiquette.pipeline import Analysis, PipelineOptions, RecordingPipeline, SpeechPipeline
from etiquette.speech.audio import AudioError, probe
from etiquette.speech.recogniser import INPUT_S, Decoding, Recogniser
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


FirstPass = Callable[[Sequence[Sequence[Utterance]], Decoding], list[list[Transcript]]]


class _HandOff(threading.local):
    """Where the first pass of the file this thread analyses goes when it has more than one
    part (None: transcribed here)."""

    to: FirstPass | None = None


_hand_off = _HandOff()


class SharedRecogniser(Recogniser):
    """A recogniser whose first pass of several parts is handed to the cluster (once per file:
    the call that transcribes the recording's speech)."""

    def first_pass(self, parts: Sequence[Sequence[Utterance]], decoding: Decoding
                   ) -> list[list[Transcript]]:
        to, _hand_off.to = _hand_off.to, None
        if to is None or len(parts) < 2:
            return super().first_pass(parts, decoding)
        return to(parts, decoding)


Heard = list[Transcript] | Exception  # a part's transcripts, or why it has none


@dataclass(frozen=True)
class Parts:
    """A file whose speech is long: its first pass in parts (object references to lists of
    utterances), transcribed anywhere and given back (`Analyser.finish`) to the analyser that
    holds the file under `key`."""

    key: int
    parts: list[Any]
    decoding: Decoding


@dataclass
class _Waiting:
    """A file held by its analyser while its parts are transcribed elsewhere."""

    asked: Future[tuple[Sequence[Sequence[Utterance]], Decoding]] = field(default_factory=Future)
    heard: Future[list[list[Transcript]]] = field(default_factory=Future)
    result: Future[Result] = field(default_factory=Future)

    def hand_off(self, parts: Sequence[Sequence[Utterance]], decoding: Decoding
                 ) -> list[list[Transcript]]:
        self.asked.set_result((parts, decoding))
        return self.heard.result()


class Analyser:
    """One loaded pipeline on a node of the cluster, in the folder the batch was started from
    (files and evidence are at the same paths on every node; relative paths are kept as given,
    since incident ids are made from them)."""

    def __init__(self, options: PipelineOptions, presence: PresenceOptions, cwd: Path) -> None:
        os.chdir(cwd)  # this process is the actor's alone
        self.pipeline = RecordingPipeline(SpeechPipeline(options,
                                                         make_recogniser=SharedRecogniser),
                                          presence)
        self.waiting: dict[int, _Waiting] = {}
        self.keys = itertools.count()

    def analyse(self, path: Path, window_id: str | None,
                recorded_at: datetime | None) -> Result | Parts:
        """The file's result; or, when its speech is in more than one part, the parts, while
        the file waits here, on a thread of its own, for their transcripts (`finish`)."""
        waiting = _Waiting()

        def run() -> None:
            _hand_off.to = waiting.hand_off
            try:
                waiting.result.set_result(analyse_file(self.pipeline, path, window_id,
                                                       recorded_at))
            except BaseException as e:  # analyse_file keeps Exceptions; the call must not hang
                waiting.result.set_exception(e)

        threading.Thread(target=run, name=f"analyse {path}", daemon=True).start()
        either: list[Future[Any]] = [waiting.asked, waiting.result]
        wait(either, return_when=FIRST_COMPLETED)
        if waiting.result.done():
            return waiting.result.result()
        key = next(self.keys)
        self.waiting[key] = waiting
        parts, decoding = waiting.asked.result()
        return Parts(key, [ray.put(list(p)) for p in parts], decoding)

    def transcribe(self, part: list[Utterance], decoding: Decoding) -> Heard:
        """One part of any file's first pass; or what failed, for the file's holder to fail
        with, as the file would on one machine (one bad file must not end the batch)."""
        try:
            return self.pipeline.speech.recogniser.transcribe_part(part, decoding)
        except Exception as e:  # noqa: BLE001 - the holder's analyse_file reports it
            return e

    def finish(self, key: int, heard: list[Heard]) -> Result:
        """The result of the file held under `key`, its parts' transcripts given."""
        waiting = self.waiting.pop(key)
        failed = next((h for h in heard if isinstance(h, Exception)), None)
        if failed is not None:
            waiting.heard.set_exception(failed)
        else:
            waiting.heard.set_result([h for h in heard if not isinstance(h, Exception)])
        return waiting.result.result()


# Not restarted where it died: its node may be gone, and its files go to the others instead.
RemoteAnalyser = ray.remote(max_restarts=0)(Analyser)


def analysers_fitting(threads: int) -> int:
    """How many analysers of `threads` CPU threads the cluster's live nodes hold."""
    nodes: Callable[[], list[dict[str, Any]]] = ray.nodes
    return sum(int(node["Resources"].get("CPU", 0)) // threads
               for node in nodes() if node["Alive"])


def most_parts(path: Path, part_inputs: int) -> int:
    """The most parts `path`'s speech can be transcribed in (speech on every channel
    throughout); 1 where the header says nothing."""
    try:
        found = probe(path)
    except AudioError:
        return 1
    speech_s = (found.duration_s or 0.0) * max(1, found.channels)
    return max(1, math.ceil(speech_s / (INPUT_S * part_inputs)))


@dataclass
class _File:
    """One file's way through the cluster: its first call, the transcription of its parts
    (`parts`, held by `owner`) and its last call. `attempt` counts its starts; a call of an
    earlier attempt is answered and ignored."""

    path: Path
    attempt: int = 0
    owner: Any = None
    parts: Parts | None = None
    heard: dict[int, Heard] = field(default_factory=dict)


class Call(NamedTuple):
    what: Literal["analyse", "transcribe", "finish"]
    file: int
    part: int
    attempt: int


class Schedule:
    """Which analyser does what next, for `files` (no Ray here: analysers are any objects,
    compared by identity). Each file's last call goes to the analyser holding it, parts to any,
    new files last; results come out in input order (`ready`)."""

    def __init__(self, files: list[Path]) -> None:
        self.files = [_File(f) for f in files]
        self.starts = deque(range(len(files)))
        self.parts: deque[tuple[int, int, int]] = deque()  # (file, part, attempt) to transcribe
        self.finishes: dict[int, int] = {}  # file: attempt, every part transcribed
        self.done: dict[int, Result] = {}
        self.written = 0

    @property
    def finished(self) -> bool:
        return self.written == len(self.files)

    def next_call(self, actor: Any) -> Call | None:
        for k, attempt in self.finishes.items():
            if self.files[k].owner is actor:
                del self.finishes[k]
                return Call("finish", k, 0, attempt)
        while self.parts:
            k, j, attempt = self.parts.popleft()
            if attempt == self.files[k].attempt:
                return Call("transcribe", k, j, attempt)
        if not self.starts:
            return None
        k = self.starts.popleft()
        return Call("analyse", k, 0, self.files[k].attempt)

    def answered(self, call: Call, actor: Any, value: Result | Parts | Heard) -> None:
        f = self.files[call.file]
        if call.attempt != f.attempt:
            return
        if call.what == "transcribe":
            assert not isinstance(value, (Analysis, FileError, Parts))
            f.heard[call.part] = value
            if f.parts is not None and len(f.heard) == len(f.parts.parts):
                self.finishes[call.file] = call.attempt
        elif isinstance(value, Parts):
            f.owner, f.parts = actor, value
            self.parts.extend((call.file, n, call.attempt) for n in range(len(value.parts)))
        else:
            assert isinstance(value, (Analysis, FileError))
            self.done[call.file] = value
            # Its audio leaves the object store, and the loss of its holder no longer concerns it.
            self.files[call.file] = _File(f.path, f.attempt)

    def actor_lost(self, call: Call, actor: Any) -> None:
        """`actor` died running `call`: what it held starts again, what it ran is done again."""
        self.holder_lost(actor)
        if call.attempt == self.files[call.file].attempt:
            if call.what == "analyse":
                self.starts.appendleft(call.file)
            elif call.what == "transcribe":
                self.parts.appendleft((call.file, call.part, call.attempt))

    def holder_lost(self, owner: Any) -> None:
        """The files `owner` held are lost with it: each starts again."""
        for k, f in enumerate(self.files):
            if f.owner is owner:
                self.files[k] = _File(f.path, f.attempt + 1)
                self.finishes.pop(k, None)
                self.starts.appendleft(k)

    def ready(self) -> Iterator[tuple[Path, Result]]:
        """The results due next in input order."""
        while self.written in self.done:
            yield self.files[self.written].path, self.done.pop(self.written)
            self.written += 1


def analysed_on_cluster(options: PipelineOptions, presence: PresenceOptions, files: list[Path],
                        threads: int, window_id: str | None = None,
                        recorded_at: datetime | None = None) -> Iterator[tuple[Path, Result]]:
    """Each of `files` with its result, analysed by actors on the connected cluster, in input
    order; the parts of a long one are transcribed by any of them. A file whose analyser is
    lost (its node died) is analysed again by another, a part whose analyser is lost is
    transcribed again.

    Raises:
      ClusterError: no node has `threads` CPUs, or every analyser was lost.
    """
    if not files:
        return
    fitting = analysers_fitting(threads)
    work = 0  # as many analysers as there is work for; headers read until the cluster is full
    for path in files:
        work += most_parts(path, options.recogniser.part_inputs)
        if work >= fitting:
            break
    count = min(fitting, work)
    if count == 0:
        raise ClusterError(f"集群中没有哪个节点有 {threads} 个 CPU：请减小 --threads")
    here = Path.cwd()
    idle: list[Any] = [RemoteAnalyser.options(num_cpus=threads).remote(options, presence, here)
                       for _ in range(count)]
    logger.info("%d analysers of %d threads on the cluster", count, threads)
    schedule = Schedule(files)
    running: dict[Any, tuple[Call, Any]] = {}
    lost: Exception | None = None

    def submit(actor: Any, call: Call) -> Any:
        f = schedule.files[call.file]
        if call.what == "analyse":
            return actor.analyse.remote(f.path, window_id, recorded_at)
        assert f.parts is not None
        if call.what == "transcribe":
            return actor.transcribe.remote(f.parts.parts[call.part], f.parts.decoding)
        return actor.finish.remote(f.parts.key, [f.heard[n] for n in range(len(f.parts.parts))])

    while not schedule.finished:
        for actor in list(idle):
            if (call := schedule.next_call(actor)) is not None:
                idle.remove(actor)
                running[submit(actor, call)] = (call, actor)
        if not running:
            raise ClusterError(f"集群中已没有可用的分析进程（节点失去或无法加载模型）：{lost}")
        (ref,), _ = ray.wait(list(running), num_returns=1)
        call, actor = running.pop(ref)
        path = files[call.file]
        try:
            value = ray.get(ref)
        except RayActorError as e:  # its node or process died: its work goes to another
            logger.warning("analyser lost on %s (%s); its work is done again", path, e)
            lost = e
            schedule.actor_lost(call, actor)
            continue
        except ObjectLostError as e:  # a part's audio, lost with the analyser holding the file
            logger.warning("%s lost its holder (%s); it starts again", path, e)
            lost = e
            idle.append(actor)
            owner = schedule.files[call.file].owner
            if call.attempt == schedule.files[call.file].attempt and owner is not None:
                if owner in idle:
                    idle.remove(owner)
                ray.kill(owner)
                schedule.holder_lost(owner)
            continue
        idle.append(actor)
        if isinstance(value, Parts):
            logger.info("%s: its speech in %d parts", path, len(value.parts))
        schedule.answered(call, actor, value)
        yield from schedule.ready()

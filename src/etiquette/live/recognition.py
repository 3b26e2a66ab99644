"""One recogniser for every window: utterances queue here and are transcribed in batches.

Whisper pays for a full 30 s input however little speech it holds, so the worker takes every
utterance waiting (of any window) up to a batch's worth of inputs and transcribes them in one
call: the more windows talk, the fuller each input. When speech arrives faster than it can be
transcribed, nothing is dropped: the backlog grows (beyond `memory_s` of audio it is kept on
disk, not in memory), the lag is reported as a health event and a metric, and it is worked off
oldest first, except that the utterances a verdict waits for (a session's greeting, a closed
session's farewell: `urgent`, `hurry`) go before the rest, so that in a burst of windows all
talking at once the verdicts do not wait for everyone's small talk.

A spool disk that refuses the audio (full, over quota, read-only) does not stop the window that
spoke it: the utterance stays in memory beyond `memory_s`, nothing of it is left on disk, and
the recogniser reports DEGRADED, as the outbox does for its own disk. Each later utterance past
`memory_s` tries the disk again; once it takes one, or the backlog fits in memory again, the
state goes back to what the lag alone says.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from etiquette.core.matching import AcousticCheck
from etiquette.core.records import HeardAs, Transcript, Utterance, heard_as
from etiquette.health import HealthCallback, HealthReporter, HealthState, log_health
from etiquette.speech.recogniser import INPUT_S, Recogniser

logger = logging.getLogger("etiquette.live.recognition")

# Each utterance's transcript, with the acoustic check of its batch (SpeechPipeline.recognise).
Deliver = Callable[[Utterance, Transcript, AcousticCheck | None], None]
Recognise = Callable[[list[Utterance]], tuple[list[Transcript], AcousticCheck]]


@dataclass
class _Queued:
    utterance: Utterance
    deliver: Deliver
    queued_at: float  # monotonic
    spooled: Path | None = None  # audio on disk instead of in memory


@dataclass
class RecognitionStats:
    utterances: int = 0
    audio_s: float = 0.0  # speech transcribed
    busy_s: float = 0.0  # wall time spent transcribing
    batches: int = 0
    spooled: int = 0  # utterances whose audio waited on disk
    refused_by_disk: int = 0  # utterances the spool disk refused, kept in memory instead


class SharedRecogniser:
    """Worker threads around one `Recogniser`, fed by every window.

    As many workers as the recogniser has (`num_workers`): while one decodes a batch, another
    takes what arrived meanwhile, so a fresh utterance seldom waits for a whole batch, and the
    cores stay busy through the single-threaded steps of each call.

    Args:
      batch_s: audio taken per call (default: the recogniser's batch of 30 s inputs).
      memory_s: queued audio held in memory; more waits in `spool_dir` (in memory still while
        that disk refuses it: the module's notes).
      lag_warn_s: a backlog older than this is reported (health DEGRADED) until worked off.
      recognise: transcribes a batch with the acoustic check of its near misses
        (SpeechPipeline.recognise); without it, transcripts come without a check.
    """

    def __init__(self, recogniser: Recogniser, *, spool_dir: Path, batch_s: float | None = None,
                 memory_s: float = 600.0, lag_warn_s: float = 10.0,
                 on_health: HealthCallback = log_health, recognise: Recognise | None = None
                 ) -> None:
        self.recogniser = recogniser
        self.recognise = recognise
        self.batch_s = batch_s or recogniser.options.batch_size * INPUT_S
        self.memory_s, self.lag_warn_s = memory_s, lag_warn_s
        self.spool_dir = spool_dir
        self._health = HealthReporter("recogniser", on_health, state=HealthState.OK)
        self._lag_health = (HealthState.OK, "transcription caught up")
        self._disk_error: str | None = None  # the spool disk's last refusal, while it holds
        self.stats = RecognitionStats()
        self._queue: deque[_Queued] = deque()  # oldest first
        self._urgent: deque[_Queued] = deque()  # taken before _queue, oldest first
        self._memory_s = 0.0
        self._queued_s = 0.0
        self._in_flight: list[float] = []  # queued_at of the oldest of each batch being decoded
        self._cond = threading.Condition()
        self._stopping = False
        self._seq = 0
        self._threads = [threading.Thread(target=self._run, name=f"recogniser-{k + 1}", daemon=True)
                         for k in range(max(1, recogniser.options.num_workers))]

    # ---------------------------------------------------------------- producer side

    def submit(self, utterance: Utterance, deliver: Deliver, urgent: bool = False) -> None:
        """Queue `utterance`; `deliver(utterance, transcript, check)` is called from the worker.
        `urgent`: a verdict waits for it; it goes before the others (oldest first among them)."""
        with self._cond:
            item = _Queued(utterance, deliver, time.monotonic())
            refused = self._disk_error
            spooled = (self._spool(item) if self._memory_s + utterance.duration_s > self.memory_s
                       else None)
            if spooled is None:
                self._memory_s += utterance.duration_s
            self._queued_s += utterance.duration_s
            (self._urgent if urgent else self._queue).append(item if spooled is None else spooled)
            self._cond.notify()
            changed = self._disk_error != refused
        if changed:
            self._report()

    def hurry(self, heard: Collection[HeardAs]) -> None:
        """A verdict now waits for the utterances heard so (submitted, not taken yet): they go
        before the rest. (By where and when they were heard: a spooled one is a copy.)"""
        with self._cond:
            moved = [item for item in self._queue if heard_as(item.utterance) in heard]
            if moved:
                self._queue = deque(i for i in self._queue if heard_as(i.utterance) not in heard)
                self._urgent = deque(sorted([*self._urgent, *moved], key=lambda i: i.queued_at))

    def _spool(self, item: _Queued) -> _Queued | None:
        """`item` with its audio written to the spool; None where the disk refuses it (nothing
        of it is left there). Lock held."""
        self._seq += 1
        path = self.spool_dir / f"{self._seq:09d}.npy"
        try:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            npy = io.BytesIO()  # written in one call, so that a full disk says ENOSPC
            np.save(npy, item.utterance.audio)
            with path.open("wb") as f:
                f.write(npy.getbuffer())
        except OSError as e:
            path.unlink(missing_ok=True)  # gives back what it took of the disk
            self.stats.refused_by_disk += 1
            if self._disk_error is None:
                logger.warning("recogniser spool %s refuses audio (%s): utterances kept in "
                               "memory beyond %.0f s until it takes them", self.spool_dir, e,
                               self.memory_s)
            self._disk_error = f"{type(e).__name__}: {e}"
            return None
        if self._disk_error is not None:
            logger.warning("recogniser spool %s takes audio again (%s before)", self.spool_dir,
                           self._disk_error)
            self._disk_error = None
        self.stats.spooled += 1
        return replace(item, utterance=replace(item.utterance, audio=np.zeros(0, np.float32)),
                       spooled=path)

    @property
    def backlog_s(self) -> float:
        """Seconds of speech not transcribed yet (queued, or in a batch being decoded)."""
        with self._cond:
            return self._queued_s

    @property
    def lag_s(self) -> float:
        """How long the oldest utterance not transcribed yet has waited. It counts the batches
        being decoded: an overloaded worker takes all that is queued at once, and that speech
        is no less behind while the queue is empty."""
        with self._cond:
            return self._lag_locked() or 0.0

    def _lag_locked(self) -> float | None:
        oldest = self._in_flight + [q[0].queued_at for q in (self._queue, self._urgent) if q]
        return time.monotonic() - min(oldest) if oldest else None

    @property
    def real_time_factor(self) -> float:
        """Speech seconds transcribed per second of work (how far ahead of real time it runs)."""
        return self.stats.audio_s / self.stats.busy_s if self.stats.busy_s else 0.0

    # ---------------------------------------------------------------- worker

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Transcribe what is queued (for up to `timeout_s`), then stop the worker."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            logger.error("recogniser still busy after %.0f s; %.1f s of speech not transcribed",
                         timeout_s, self.backlog_s)

    def _take(self) -> list[_Queued] | None:
        with self._cond:
            while not self._queue and not self._urgent and not self._stopping:
                self._cond.wait()
            if not self._queue and not self._urgent:
                return None
            batch: list[_Queued] = []
            taken = 0.0
            for queue in (self._urgent, self._queue):
                while queue and (not batch or taken + queue[0].utterance.duration_s
                                 <= self.batch_s):
                    item = queue.popleft()
                    taken += item.utterance.duration_s
                    batch.append(item)
            self._in_flight.append(min(item.queued_at for item in batch))
            return batch

    def _finish(self, batch: list[_Queued], busy_s: float) -> None:
        with self._cond:
            self.stats.busy_s += busy_s
            self.stats.batches += 1
            self._in_flight.remove(min(item.queued_at for item in batch))
            for item in batch:
                self.stats.utterances += 1
                self.stats.audio_s += item.utterance.duration_s
                self._queued_s -= item.utterance.duration_s
                if item.spooled is None:
                    self._memory_s -= item.utterance.duration_s
            if not self._queue and not self._urgent:  # exact zeros, not float residue
                self._queued_s = self._memory_s = 0.0
            if self._disk_error is not None and self._memory_s <= self.memory_s:
                logger.info("recogniser: the backlog fits in memory again; the spool disk that "
                            "refused it (%s) is not needed now", self._disk_error)
                self._disk_error = None
            lag = self._lag_locked()
            if lag is not None and lag > self.lag_warn_s:
                self._lag_health = (HealthState.DEGRADED,
                                    f"transcription is {lag:.0f} s behind "
                                    f"({self._queued_s:.0f} s of speech to do)")
            elif lag is None:
                self._lag_health = (HealthState.OK, "transcription caught up")
        self._report()

    def _report(self) -> None:
        """The worse of the lag's state and the spool disk's, reported once per change."""
        with self._cond:
            state, message = self._lag_health
            if self._disk_error is not None:
                held = max(0.0, self._memory_s - self.memory_s)
                refused = (f"spool disk refuses audio ({self._disk_error}): {held:.0f} s of "
                           f"speech held in memory beyond its {self.memory_s:.0f} s")
                message = refused if state is HealthState.OK else f"{message}; {refused}"
                state = HealthState.DEGRADED
        self._health.report(state, message)

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            utterances = [self._load(item) for item in batch]
            started = time.monotonic()
            check: AcousticCheck | None = None
            try:
                if self.recognise is not None:
                    transcripts, check = self.recognise(utterances)
                else:
                    transcripts = self.recogniser.transcribe(utterances)
            except Exception as e:  # noqa: BLE001 - one bad batch must not stop every window
                logger.exception("transcription of %d utterances failed", len(batch))
                self._health.report(HealthState.DEGRADED,
                                    f"{len(batch)} utterances not transcribed: {e}")
                transcripts = [Transcript(u.source, u.window_id, u.speaker, u.channel, u.start_s,
                                          u.end_s, ()) for u in utterances]
            busy_s = time.monotonic() - started
            for item, u, t in zip(batch, utterances, transcripts, strict=True):
                try:
                    item.deliver(u, t, check)
                except Exception:  # noqa: BLE001 - a window's judging fault stays its own
                    logger.exception("window %s: handling a transcript failed", u.window_id)
            self._finish(batch, busy_s)

    def _load(self, item: _Queued) -> Utterance:
        if item.spooled is None:
            return item.utterance
        audio = np.load(item.spooled)
        item.spooled.unlink(missing_ok=True)
        return replace(item.utterance, audio=audio)


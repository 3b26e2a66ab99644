"""A recording delivered as a window's microphone would deliver it: an `AudioSource` for the demo
and for testing live behaviour without hardware."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from etiquette.core.damage import Damage
from etiquette.core.records import SAMPLE_RATE
from etiquette.core.sessions import Unheard
from etiquette.health import HealthCallback, HealthEvent, HealthState, log_health
from etiquette.speech.audio import read_audio
from etiquette.speech.sources import MIN_DBFS, CaptureStats, channel_dbfs


class FileReplay:
    """A recording delivered as a microphone would deliver it: block by block, each when its
    last sample is due in real time (or at once with `realtime=False`). With `loop`, it plays
    again after `gap_s` of silence, forever; this is how the demo replays recordings_sample/
    and how live behaviour is tested. `start_s` begins it that far into the file (into its
    loop gap, past the file's end), as a microphone switched on mid-conversation would.

    A recording cut short or damaged (`speech.audio`: its end missing, parts undecodable) is
    replayed as far as it goes, and said to be so: a DEGRADED "audio" health event at
    construction (`on_health`, logged by default), `complete` False, and `unheard` placing
    what it lost on the stream, pass by pass, so that the live judge leaves alone the greeting
    or farewell that audio would have decided (`live.window`), as batch does for the file.

    Raises (at construction):
      AudioError: the file cannot be decoded.
    """

    def __init__(self, window_id: str, path: str | Path, realtime: bool = True,
                 loop: bool = False, gap_s: float = 2.0, block_s: float = 0.1,
                 speed: float = 1.0, start_s: float = 0.0,
                 on_health: HealthCallback | None = log_health) -> None:
        self.window_id = window_id
        self.path = Path(path)
        self.realtime = realtime
        # > 1: hours of a day in minutes (soak tests); stream time stays audio time
        self.speed = speed
        self.loop = loop
        decoded = read_audio(self.path)
        self.damage: Damage | None = decoded.damage
        if decoded.damage is not None and on_health is not None:
            on_health(HealthEvent("audio", HealthState.DEGRADED,
                                  f"replayed recording {self.path} is incomplete "
                                  f"({decoded.damage.summary()})", window_id))
        self._audio = np.stack(decoded.channels, axis=1).astype(np.float32, copy=False)
        self.channels = self._audio.shape[1]
        self._period = len(self._audio) + (round(gap_s * SAMPLE_RATE) if loop else 0)
        self._block = max(1, round(block_s * SAMPLE_RATE))
        self._first = round(start_s * SAMPLE_RATE)  # timeline position of the first sample read
        self._pos = self._first
        self._origin: float | None = None
        self._started_at: datetime | None = None
        self._stopping = threading.Event()
        self._dbfs = tuple(MIN_DBFS for _ in range(self.channels))

    def start(self) -> None:
        self._origin = time.monotonic()
        self._started_at = datetime.now(UTC)

    def read(self, timeout_s: float) -> np.ndarray | None:
        if self._origin is None:
            raise RuntimeError("replay not started")
        if self.finished:
            return None
        end = self._pos + self._block
        if not self.loop:
            end = min(end, len(self._audio))
        if self.realtime:
            wait = self._origin + (end - self._first) / SAMPLE_RATE / self.speed - time.monotonic()
            if wait > timeout_s:
                self._stopping.wait(max(0.0, timeout_s))
                return None
            if wait > 0 and self._stopping.wait(wait):
                return None
        block = self._slice(self._pos, end)
        self._pos = end
        self._dbfs = channel_dbfs(block)
        return block

    def _slice(self, start: int, end: int) -> np.ndarray:
        """Frames [start, end) of the endless timeline: the file, `gap_s` of silence, again."""
        out = np.zeros((end - start, self.channels), np.float32)
        pos = start
        while pos < end:
            offset = pos % self._period
            n = min(end - pos, self._period - offset)
            if offset < len(self._audio):
                n = min(n, len(self._audio) - offset)
                out[pos - start:pos - start + n] = self._audio[offset:offset + n]
            pos += n
        return out

    def stop(self) -> None:
        self._stopping.set()

    @property
    def duration_s(self) -> float:
        """The recording's length as decoded (one pass, without the loop gap)."""
        return len(self._audio) / SAMPLE_RATE

    def unheard(self, start_s: float, end_s: float) -> tuple[Unheard, ...]:
        """The recording's losses (`damage.unheard`) where they fall on this stream between
        `start_s` and `end_s` (stream seconds, as `stats` counts them: 0 is the first sample
        delivered), once for every pass of a loop. Empty for a recording that decoded whole."""
        if self.damage is None or end_s < start_s:
            return ()
        period_s, first_s = self._period / SAMPLE_RATE, self._first / SAMPLE_RATE
        passes = (range(max(0, math.floor((first_s + start_s) / period_s) - 1),
                        math.floor((first_s + end_s) / period_s) + 1) if self.loop else range(1))
        lost = []
        for p in passes:
            for u in self.damage.unheard:
                at = p * period_s + u.at_s - first_s  # a loss before the stream began: not in it
                if max(0.0, start_s) <= at <= end_s:
                    lost.append(replace(u, at_s=at))
        return tuple(lost)

    @property
    def complete(self) -> bool:
        """Whether the recording decoded whole: its end is the end of what was said."""
        return self.damage is None

    @property
    def finished(self) -> bool:
        return self._stopping.is_set() or (not self.loop and self._pos >= len(self._audio))

    @property
    def stats(self) -> CaptureStats:
        state = HealthState.OK if self.damage is None else HealthState.DEGRADED
        return CaptureStats(self._pos - self._first, self._started_at, self._dbfs, state=state)

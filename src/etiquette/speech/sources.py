"""What the live engine reads a window's audio from: the `AudioSource` contract and its stats.

A source delivers float32 blocks of shape (frames, channels) at 16 kHz (`records.SAMPLE_RATE`),
in arrival order, with no silent gaps. Sample n of a source was heard at
`stats.started_at + n / 16000` s, so the engine maps sample counts to absolute UTC times: a
microphone that was down (or a reader that fell behind) is delivered as silence of the same
length, counted in the stats, rather than skipped. Two kinds exist: a microphone
(`speech.microphone`) and a recording replayed (`speech.replay`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from etiquette.core.records import SAMPLE_RATE
from etiquette.health import HealthState

MIN_DBFS = -120.0  # the level of digital silence (log of zero), so metrics stay finite


@dataclass(frozen=True)
class CaptureStats:
    """What the metrics show about one source. Frame counts are at SAMPLE_RATE."""

    samples: int  # frames delivered so far, silence for gaps included: the stream time
    started_at: datetime | None  # UTC wall time of sample 0; None until the first block
    channel_dbfs: tuple[float, ...]  # RMS level of each channel in the last block delivered
    overflow_frames: int = 0  # lost because the reader fell behind a full ring (now silence)
    input_overflows: int = 0  # blocks PortAudio flagged as overflowed in the driver
    gap_frames: int = 0  # silence standing in for the wall time a device was down
    reopens: int = 0  # streams reopened after a device dropped
    state: HealthState = HealthState.OK

    @property
    def level_dbfs(self) -> float:
        """The loudest channel of the last block."""
        return max(self.channel_dbfs, default=MIN_DBFS)

    @property
    def stream_time_s(self) -> float:
        return self.samples / SAMPLE_RATE


class AudioSource(Protocol):
    """What the live engine reads audio from, one per window."""

    window_id: str
    channels: int  # columns of every block

    def start(self) -> None: ...

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next block, float32 (frames, channels) at SAMPLE_RATE; None after `timeout_s`
        without audio, or once `finished`."""
        ...

    def stop(self) -> None: ...

    @property
    def finished(self) -> bool:
        """True once every block has been read and no more will come."""
        ...

    @property
    def stats(self) -> CaptureStats: ...


def channel_dbfs(block: np.ndarray) -> tuple[float, ...]:
    """The RMS level of each channel of `block` in dBFS, floored at MIN_DBFS."""
    if len(block) == 0:
        return tuple(MIN_DBFS for _ in range(block.shape[1]))
    rms = np.sqrt(np.mean(np.square(block, dtype=np.float64), axis=0))
    return tuple(max(MIN_DBFS, 20.0 * math.log10(r)) if r > 0 else MIN_DBFS for r in rms)

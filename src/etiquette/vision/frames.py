"""Frames in: the record every frame source yields, its error, and the sampling schedule.

Presence needs a frame or two per second, not 25: sources decide per frame whether it is due
and convert (colour-convert, copy out) only the frames that are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


class VideoError(ValueError):
    """A video source that cannot be analysed: missing, unreadable, corrupt, cut short, dropped."""


@dataclass(frozen=True)
class FrameSample:
    """One sampled frame: its offset within the source and its pixels (H×W×3 uint8, BGR)."""

    t_s: float
    image: np.ndarray = field(repr=False, compare=False)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


class Sampler:
    """Which frames are due at `fps`: the first frame at or after each tick of a fixed grid.

    A grid, not "interval since the last sample", so that jitter in frame times does not
    drift the schedule and two runs over one file sample the same frames.
    """

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"sample rate must be positive, got {fps}")
        self.interval = 1.0 / fps
        self._next = 0.0

    def due(self, t_s: float) -> bool:
        # A frame a hair before the tick (timestamps in a coarse time base, jitter of a live
        # clock) still takes it, and the next tick is the one after that tick.
        t = t_s + 1e-3
        if t < self._next:
            return False
        self._next = (math.floor(t / self.interval) + 1) * self.interval
        return True

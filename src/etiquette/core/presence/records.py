"""The records of the presence path: what a frame showed, when the seat was empty, the pauses.

Times are offsets in seconds within the source (a file or a live stream since it opened),
like the speech path's `offset_s`; absolute time comes from the source's start time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels of the frame it was found in."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def center(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2


@dataclass(frozen=True)
class Detection:
    """One thing a detector found: a face for CenterFace, a person for a person detector."""

    box: Box
    score: float  # 0..1
    label: str = "face"


@dataclass(frozen=True)
class Sighting:
    """What one sampled frame showed at the staff seat: the tracker's only input."""

    t_s: float
    present: bool  # someone the ROI accepts is at the seat
    score: float  # best accepted detection's score, 0 when none
    accepted: int = 0  # detections inside the staff-seat ROI
    rejected: int = 0  # detections elsewhere (citizens across the counter, passers-by)


class PresenceChange(StrEnum):
    LEFT = "left"
    RETURNED = "returned"


@dataclass(frozen=True)
class Absence:
    """One stretch during which the staff seat was empty, as the tracker decided it."""

    source: str
    window_id: str
    start_s: float  # first sample with the seat empty
    end_s: float  # first sample of the confirmed return, or the end of the stream
    last_seen_s: float | None  # last sample with the staff member before it; None: never seen
    confirmed_s: float  # the sample at which the tracker decided the seat was empty (its snapshot)
    returned: bool  # False: still empty when the stream ended
    samples: int  # sampled frames inside the absence
    empty_samples: int  # of them, frames in which nobody was at the seat
    after_loss: bool = False  # it begins where pictures came back after a stretch the recording
    # lost: whether the seat was empty before that is unknown
    before_loss: bool = False  # it ends where the recording lost its pictures (not returned as
    # far as seen): how it went on is unknown

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def confidence(self) -> float:
        """Share of the absence's frames that showed the seat empty (glimpses lower it)."""
        return self.empty_samples / self.samples if self.samples else 0.0


@dataclass(frozen=True)
class PresenceEvent:
    """A change of the seat's state, as soon as the tracker is sure of it (what live alerts use)."""

    source: str
    window_id: str
    change: PresenceChange
    t_s: float  # when it happened: the absence's start, or the first frame of the return
    decided_s: float  # the frame at which the tracker became sure
    last_seen_s: float | None = None  # for LEFT: last frame with the staff member, if any
    absence: Absence | None = None  # the finished absence, for RETURNED


@dataclass(frozen=True)
class DeclaredPause:
    """A 去向牌 status set by the staff member or a supervisor: absence during it is allowed."""

    window_id: str
    status: str  # one of the statuses the presence rules define (会议, 休息, 顶岗, …)
    start: datetime  # timezone-aware
    end: datetime

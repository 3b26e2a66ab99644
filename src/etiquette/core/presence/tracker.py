"""Presence over time: from per-frame sightings to absences, with hysteresis.

A detector misses a face now and then (the staff member looks down at a form, turns to the
printer) and now and then finds one that is not there, or a face passes the seat for a
moment. So the seat is empty only after it has looked empty for `absent_after_s`, and the
absence is then dated back to the first empty frame; and it is occupied again only after
`present_min_hits` frames in a row show the staff member, dated to the first of them.

Pictures a recording lost (cut off, undecodable) are no sighting either way: `lose` ends the
open absence where they stop and starts the hysteresis afresh after them, so an absence never
spans time nobody saw (the staff member may have come back and left again in it).

Pure domain logic: sightings in, events and absences out; no frames, no clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from etiquette.core.presence.records import Absence, PresenceChange, PresenceEvent, Sighting

logger = logging.getLogger("etiquette.core.presence.tracker")


@dataclass(frozen=True)
class TrackerOptions:
    """Attributes:
    absent_after_s: the seat must look empty this long before an absence begins.
    present_min_hits: sampled frames in a row with the staff member that end an absence.
    """

    absent_after_s: float = 4.0
    present_min_hits: int = 2

    def __post_init__(self) -> None:
        if self.absent_after_s < 0 or self.present_min_hits < 1:
            raise ValueError("absent_after_s must be >= 0 and present_min_hits >= 1")


class _State(Enum):
    UNKNOWN = "unknown"  # no decision yet (start of the stream)
    PRESENT = "present"
    ABSENT = "absent"


class PresenceTracker:
    """The seat of one window, fed one sighting per sampled frame in time order."""

    def __init__(self, source: str, window_id: str, options: TrackerOptions | None = None) -> None:
        self.source = source
        self.window_id = window_id
        self.options = options or TrackerOptions()
        self._state = _State.UNKNOWN
        self._last_t: float | None = None
        self._last_seen: float | None = None  # last frame with the staff member while present
        self._empty_since: float | None = None  # first frame of the current empty run
        self._empty_run = 0  # frames in that run
        self._hits = 0  # frames in a row with the staff member while not (yet) present
        self._first_hit: float | None = None
        # the open absence
        self._start: float | None = None
        self._absence_last_seen: float | None = None
        self._confirmed: float | None = None
        self._samples = 0
        self._empty = 0
        self._after_loss = False  # no decision since pictures were lost
        self._absence_after_loss = False  # the open absence began after lost pictures

    @property
    def present(self) -> bool | None:
        """True or False once decided; None before the first decision."""
        return None if self._state is _State.UNKNOWN else self._state is _State.PRESENT

    @property
    def absent_since(self) -> float | None:
        """Start of the open absence, for live alerts before it has ended."""
        return self._start if self._state is _State.ABSENT else None

    def update(self, s: Sighting) -> PresenceEvent | None:
        """Take the next sighting; return the change it decides, if any."""
        if self._last_t is not None and s.t_s < self._last_t:
            raise ValueError(f"sightings must come in time order: {s.t_s} after {self._last_t}")
        self._last_t = s.t_s
        if s.present:
            return self._seen(s.t_s)
        return self._missed(s.t_s)

    def _seen(self, t: float) -> PresenceEvent | None:
        self._empty_since, self._empty_run = None, 0
        if self._state is _State.PRESENT:
            self._last_seen = t
            return None
        self._hits += 1
        if self._hits == 1:
            self._first_hit = t
        if self._state is _State.ABSENT:
            self._samples += 1
        if self._hits < self.options.present_min_hits:
            return None
        assert self._first_hit is not None
        returned_at, was = self._first_hit, self._state
        self._state, self._last_seen = _State.PRESENT, t
        self._after_loss = False
        self._hits, self._first_hit = 0, None
        if was is _State.UNKNOWN:
            return None
        # The confirming frames belong to the return, not to the absence.
        self._samples -= self.options.present_min_hits
        absence = self._close(returned_at, returned=True)
        return PresenceEvent(self.source, self.window_id, PresenceChange.RETURNED, returned_at, t,
                             absence=absence)

    def _missed(self, t: float) -> PresenceEvent | None:
        if self._state is _State.ABSENT:
            # A glimpse too short to be a return stays part of the absence.
            self._hits, self._first_hit = 0, None
            self._samples += 1
            self._empty += 1
            return None
        self._hits, self._first_hit = 0, None
        if self._empty_since is None:
            self._empty_since = t
        self._empty_run += 1
        if t - self._empty_since < self.options.absent_after_s:
            return None
        self._start = self._empty_since
        self._absence_last_seen = self._last_seen if self._state is _State.PRESENT else None
        self._confirmed = t
        self._samples = self._empty = self._empty_run
        self._state = _State.ABSENT
        self._absence_after_loss, self._after_loss = self._after_loss, False
        self._empty_since, self._empty_run = None, 0
        return PresenceEvent(self.source, self.window_id, PresenceChange.LEFT, self._start, t,
                             last_seen_s=self._absence_last_seen)

    def _close(self, end_s: float, returned: bool, before_loss: bool = False) -> Absence:
        assert self._start is not None and self._confirmed is not None
        absence = Absence(self.source, self.window_id, self._start, end_s, self._absence_last_seen,
                          self._confirmed, returned, self._samples, self._empty,
                          self._absence_after_loss, before_loss)
        self._start = self._absence_last_seen = self._confirmed = None
        self._absence_after_loss = False
        self._samples = self._empty = 0
        logger.debug("%s: seat empty %.1f-%.1f s (%s)", self.source, absence.start_s, end_s,
                     "returned" if returned else "pictures lost" if before_loss else "stream ended")
        return absence

    def finish(self, end_s: float) -> Absence | None:
        """The stream has ended at `end_s`: the open absence, if any, ends there unreturned.

        An empty run too short to be an absence is not one, even at the end of the stream, and
        a return not yet confirmed by then is not one either (it stays a glimpse).
        """
        if self._state is not _State.ABSENT:
            return None
        absence = self._close(max(end_s, self._last_t or end_s), returned=False)
        self._state = _State.UNKNOWN
        return absence

    def lose(self, at_s: float) -> Absence | None:
        """The stream's pictures are lost from `at_s` until the next sighting (a recording cut
        off or damaged there): the open absence, if any, ends at `at_s`, not returned as far as
        seen; and what the seat did is forgotten, so that the next decision is made afresh on
        the sightings after the loss (an empty run is not dated back across it, and the next
        absence has no last sighting before it)."""
        if self._last_t is not None and at_s < self._last_t:
            raise ValueError(f"a loss must come in time order: {at_s} after {self._last_t}")
        absence = (self._close(at_s, returned=False, before_loss=True)
                   if self._state is _State.ABSENT else None)
        self._state = _State.UNKNOWN
        self._last_seen = self._empty_since = self._first_hit = None
        self._empty_run = self._hits = 0
        self._after_loss = True
        return absence

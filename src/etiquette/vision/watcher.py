"""The presence path, wired: frames → detector → staff-seat ROI → tracker → 离岗 incidents.

`PresencePipeline` loads the rules and the detector once; `watcher()` gives each stream (a
file in batch, a camera live) its own `PresenceWatcher`, fed one sampled frame at a time, so
frames are never held: only the two snapshots an incident may need are kept, as JPEG bytes,
while an absence is open. Batch and live share these steps; only the frame source differs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from etiquette.core.damage import Damage
from etiquette.core.presence.offpost import OffPostJudgement, judge, off_post_id, off_post_incident
from etiquette.core.presence.records import (
    Absence,
    DeclaredPause,
    Detection,
    PresenceChange,
    PresenceEvent,
)
from etiquette.core.presence.roi import WHOLE_FRAME, Roi, sighting
from etiquette.core.presence.rules import PresenceRules, load_presence_rules
from etiquette.core.presence.tracker import PresenceTracker, TrackerOptions
from etiquette.core.records import Incident
from etiquette.files import OWNER_ONLY, atomic_write
from etiquette.vision.container import read_media
from etiquette.vision.detector import Detector, create_detector
from etiquette.vision.frames import FrameSample, VideoError

logger = logging.getLogger("etiquette.vision.watcher")

_GREEN, _RED, _YELLOW = (0, 200, 0), (0, 0, 230), (0, 220, 255)
_JPEG_QUALITY = 85


@dataclass(frozen=True)
class PresenceOptions:
    """Attributes:
    rules_path: presence rules file (default rules/presence.yaml).
    absence_threshold_s: overrides the rules' allowed absence for this run.
    roi: staff-seat polygon, fractions of the frame; None: the whole frame.
    pauses: declared 去向牌 pauses (any window; each stream takes its own).
    evidence_dir: where incident snapshots are written; None: not written.
    threads: onnxruntime threads for the detector.
    """

    rules_path: Path | None = None
    absence_threshold_s: float | None = None
    roi: tuple[tuple[float, float], ...] | None = None
    pauses: tuple[DeclaredPause, ...] = ()
    evidence_dir: Path | None = None
    threads: int = 1


@dataclass(frozen=True)
class PresenceAnalysis:
    """Everything the presence path found in one stream, and why."""

    source: str
    window_id: str
    duration_s: float
    frames: int  # sampled frames looked at
    present_frames: int  # of them, frames with the staff member at the seat
    absences: tuple[Absence, ...]
    judgements: tuple[OffPostJudgement, ...]
    incidents: tuple[Incident, ...] = field(default=())
    damage: Damage | None = None  # pictures the file lost (None: complete, as far as known): no
    # absence spans them, and none is judged in them


def _jpeg(frame: FrameSample, roi: Roi, accepted: Sequence[Detection],
          rejected: Sequence[Detection]) -> bytes:
    """The frame as a reviewer sees it: the seat polygon, the staff face green, others red."""
    image = frame.image.copy()
    pts = np.array(roi.pixels(frame.width, frame.height), np.int32)
    cv2.polylines(image, [pts], isClosed=True, color=_YELLOW, thickness=2)
    for colour, dets in ((_GREEN, accepted), (_RED, rejected)):
        for d in dets:
            b = d.box
            cv2.rectangle(image, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), colour, 2)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:  # pragma: no cover - encoding a uint8 BGR image does not fail
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf.tobytes())


class PresenceWatcher:
    """The seat of one window in one stream, fed sampled frames in time order."""

    def __init__(self, detector: Detector, rules: PresenceRules, roi: Roi, source: str,
                 window_id: str) -> None:
        self.detector, self.rules, self.roi = detector, rules, roi
        self.source, self.window_id = source, window_id
        t = rules.tracking
        self.tracker = PresenceTracker(source, window_id,
                                       TrackerOptions(t.absent_after_s, t.present_min_hits))
        self.frames = 0
        self.present_frames = 0
        self.last_t = 0.0
        self.absences: list[Absence] = []
        self._last_present: tuple[FrameSample, list[Detection], list[Detection]] | None = None
        self._open: dict[str, bytes] = {}  # snapshots of the open absence, by role
        self._kept: dict[float, dict[str, bytes]] = {}  # snapshots of finished absences, by start

    def feed(self, frame: FrameSample) -> PresenceEvent | None:
        detections = self.detector.detect(frame.image)
        seen, accepted = sighting(frame.t_s, detections, self.roi, frame.width, frame.height)
        rejected = [d for d in detections if d not in accepted]
        self.frames += 1
        self.last_t = frame.t_s
        if seen.present:
            self.present_frames += 1
            self._last_present = (frame, accepted, rejected)
        event = self.tracker.update(seen)
        if event is None:
            return None
        if event.change is PresenceChange.LEFT:
            self._open = {"empty_seat": _jpeg(frame, self.roi, [], rejected)}
            last = self._last_present
            seen_before = event.last_seen_s is not None
            if last is not None and seen_before and last[0].t_s == event.last_seen_s:
                self._open["last_seen"] = _jpeg(last[0], self.roi, last[1], last[2])
        elif event.absence is not None:
            self._finished(event.absence)
        return event

    def _finished(self, absence: Absence) -> None:
        self.absences.append(absence)
        # Only an absence longer than the threshold can be an incident: keep its snapshots.
        if absence.duration_s > self.rules.off_post.threshold_s:
            self._kept[absence.start_s] = self._open
        self._open = {}

    def lost(self, at_s: float) -> None:
        """The stream's pictures are lost from `at_s` until the next frame fed (a recording cut
        short or damaged): the seat's state there is unknown (`PresenceTracker.lose`)."""
        absence = self.tracker.lose(at_s)
        if absence is not None:
            self._finished(absence)
        self._last_present = None

    def finish(self, end_s: float) -> list[Absence]:
        """Close the stream at `end_s`; every absence it had, in time order."""
        absence = self.tracker.finish(max(end_s, self.last_t))
        if absence is not None:
            self._finished(absence)
        return list(self.absences)

    def snapshots(self, absence: Absence) -> dict[str, bytes]:
        return dict(self._kept.get(absence.start_s, {}))

    def open_snapshots(self) -> dict[str, bytes]:
        """The snapshots of the absence still going on (live: its incident is sent before it
        ends)."""
        return dict(self._open)


class PresencePipeline:
    """Presence rules, ROI and one detector, loaded once and used for every stream."""

    def __init__(self, options: PresenceOptions | None = None, detector: Detector | None = None,
                 rules: PresenceRules | None = None) -> None:
        self.options = options or PresenceOptions()
        base = rules or load_presence_rules(self.options.rules_path)
        self.rules = base.with_threshold(self.options.absence_threshold_s)
        self.roi = Roi(self.options.roi or WHOLE_FRAME, self.rules.tracking.min_face_height)
        self.detector = detector or create_detector(self.rules.detector, self.options.threads)

    def watcher(self, source: str, window_id: str, roi: Roi | None = None) -> PresenceWatcher:
        """A stream's watcher; `roi`: its camera's staff seat, if not the pipeline's."""
        return PresenceWatcher(self.detector, self.rules, roi or self.roi, source, window_id)

    def conclude(self, watcher: PresenceWatcher, end_s: float, started: datetime | None,
                 damage: Damage | None = None) -> PresenceAnalysis:
        """Judge a finished stream's absences and write the snapshots of its incidents;
        `damage`: the pictures a recording lost (its losses already told to `watcher.lost`).

        Raises:
          ValueError: a declared pause names a status the rules do not define.
        """
        absences = watcher.finish(end_s)
        judgements = judge(absences, self.rules, started, end_s, self.options.pauses)
        incidents = []
        for j in judgements:
            if not j.off_post:
                continue
            evidence: dict[str, str] = {}
            if self.options.evidence_dir is not None:
                iid = off_post_id(j, self.rules.off_post)
                for role, data in sorted(watcher.snapshots(j.absence).items()):
                    path = self.options.evidence_dir / f"{iid}_{role}.jpg"
                    # A reviewer never sees half a snapshot; a rerun overwrites, not adds.
                    atomic_write(path, data, mode=OWNER_ONLY)
                    evidence[role] = str(path)
            incidents.append(off_post_incident(j, self.rules, started, evidence))
        return PresenceAnalysis(watcher.source, watcher.window_id, end_s, watcher.frames,
                                watcher.present_frames, tuple(absences), tuple(judgements),
                                tuple(incidents), damage)

    def analyse(self, path: str | Path, window_id: str | None = None,
                recorded_at: datetime | None = None) -> PresenceAnalysis:
        """The presence path alone over a video file (its audio track is not decoded). A file
        cut short or damaged is analysed as far as its pictures go (`damage` says what it lost).

        Raises:
          VideoError: the file cannot be read as video (missing, unreadable, no pictures).
        """
        path = Path(path)
        watcher = self.watcher(str(path), window_id or path.stem)
        media = read_media(path, self.rules.tracking.sample_fps, watcher.feed, want_audio=False,
                           on_loss=watcher.lost)
        if not media.info.has_video:
            raise VideoError("文件中没有视频轨 (no video track)")
        started = recorded_at or media.info.created_at or datetime.fromtimestamp(
            path.stat().st_mtime - media.video_end_s, tz=UTC)
        return self.conclude(watcher, media.video_end_s, started, media.video_damage)

"""The presence path, wired: frames → detectors → staff-seat ROI → trackers → incidents.

离岗 from the face detector's verdicts (a person the body detector finds at the seat counts
as present too, so a head down on the desk is not an absence); 睡岗 and 聚集 from the same
frames (`core.presence.conduct`), their snapshots with every face blurred but the staff
member's at that window (citizens and colleagues are never shown).

`PresencePipeline` loads the rules and the detector once; `watcher()` gives each stream (a
file in batch, a camera live) its own `PresenceWatcher`, fed one sampled frame at a time, so
frames are never held: only the two snapshots an incident may need are kept, as JPEG bytes,
while an absence is open. Batch and live share these steps; only the frame source differs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from etiquette.core.damage import Damage
from etiquette.core.presence.conduct import (
    ConductJudgement,
    ConductTracker,
    Stretch,
    UprightHead,
    conduct_id,
    conduct_incident,
    conduct_rule,
    frame_conduct,
    judge_conduct,
)
from etiquette.core.presence.offpost import OffPostJudgement, judge, off_post_id, off_post_incident
from etiquette.core.presence.records import (
    Absence,
    Box,
    DeclaredPause,
    Detection,
    PresenceChange,
    PresenceEvent,
)
from etiquette.core.presence.roi import WHOLE_FRAME, Roi, sighting
from etiquette.core.presence.rules import PresenceRules, load_presence_rules
from etiquette.core.presence.tracker import PresenceTracker, TrackerOptions
from etiquette.core.records import Incident, IncidentKind
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
    conduct: tuple[ConductJudgement, ...] = ()  # 睡岗 and 聚集 stretches, judged


_MOSAIC = 8  # a blurred face keeps this many blocks across: no one can be recognised


def _mosaic(image: np.ndarray, box: Box) -> None:
    """Pixelate `box` (grown by a fifth, to take the hair and chin) in place."""
    h, w = image.shape[:2]
    mx, my = box.width * 0.2, box.height * 0.2
    x1, y1 = max(0, int(box.x1 - mx)), max(0, int(box.y1 - my))
    x2, y2 = min(w, int(box.x2 + mx) + 1), min(h, int(box.y2 + my) + 1)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return
    small = cv2.resize(image[y1:y2, x1:x2], (_MOSAIC, _MOSAIC), interpolation=cv2.INTER_AREA)
    image[y1:y2, x1:x2] = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)


def _jpeg(frame: FrameSample, roi: Roi, accepted: Sequence[Detection],
          rejected: Sequence[Detection], private: Sequence[Detection] = ()) -> bytes:
    """The frame as a reviewer sees it: the seat polygon, the staff face green, others red;
    the faces in `private` pixelated (and not outlined)."""
    image = frame.image.copy()
    for d in private:
        _mosaic(image, d.box)
    pts = np.array(roi.pixels(frame.width, frame.height), np.int32)
    cv2.polylines(image, [pts], isClosed=True, color=_YELLOW, thickness=2)
    for colour, dets in ((_GREEN, accepted), (_RED, rejected)):
        for d in dets:
            if d in private:
                continue
            b = d.box
            cv2.rectangle(image, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), colour, 2)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:  # pragma: no cover - encoding a uint8 BGR image does not fail
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf.tobytes())


def _conduct_snapshot(frame: FrameSample, roi: Roi, faces: Sequence[Detection],
                      staff: Sequence[Detection]) -> bytes:
    """A 睡岗/聚集 snapshot: only the staff member at the seat (the largest face in the staff
    region, if any shows) stays recognisable."""
    own = max(staff, key=lambda d: d.box.width * d.box.height, default=None)
    return _jpeg(frame, roi, [own] if own else [], [], [d for d in faces if d is not own])


_Seen = tuple[FrameSample, list[Detection], list[Detection]]  # frame, faces, staff faces


class PresenceWatcher:
    """The seat of one window in one stream, fed sampled frames in time order."""

    def __init__(self, detector: Detector, rules: PresenceRules, roi: Roi, source: str,
                 window_id: str, body_detector: Detector | None = None) -> None:
        self.detector, self.rules, self.roi = detector, rules, roi
        self.body_detector = body_detector
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
        asleep = rules.asleep_at_post
        self.upright = UprightHead(asleep.head_drop) if asleep else None  # None: 睡岗 is off
        self.conduct: dict[IncidentKind, ConductTracker] = {
            kind: ConductTracker(source, window_id, kind, rule.tolerance_s)
            for kind in (IncidentKind.ASLEEP_AT_POST, IncidentKind.GATHERING)
            if (rule := conduct_rule(rules, kind)) is not None}
        self.stretches: list[Stretch] = []
        self._first: dict[IncidentKind, bytes] = {}  # first-frame snapshot of each open stretch
        self._latest: dict[IncidentKind, _Seen] = {}  # its latest frame showing the condition
        self._conduct_kept: dict[tuple[IncidentKind, float], dict[str, bytes]] = {}

    def feed(self, frame: FrameSample) -> PresenceEvent | None:
        detections = self.detector.detect(frame.image)
        seen, accepted = sighting(frame.t_s, detections, self.roi, frame.width, frame.height)
        rejected = [d for d in detections if d not in accepted]
        people = self._people_at_seat(frame)
        if people and not seen.present:
            seen = dataclasses.replace(seen, present=True)
        self._watch_conduct(frame, detections, accepted, rejected, people)
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

    def _people_at_seat(self, frame: FrameSample) -> list[Detection]:
        """The person model's regions in the staff region, the largest first."""
        if self.body_detector is None:
            return []
        people = self.body_detector.detect(frame.image)
        return [p for p in people if self.roi.accepts(p, frame.width, frame.height)]

    def _head_down(self, accepted: list[Detection], people: list[Detection]) -> bool:
        """Learn her upright head from a frame with her face alone at the seat (the person
        region round that face); else say whether the largest person's top is far below it."""
        if self.upright is None:
            return False
        if len(accepted) == 1:
            face = accepted[0].box
            cx, cy = (face.x1 + face.x2) / 2, (face.y1 + face.y2) / 2
            mine = next((p.box for p in people
                         if p.box.x1 <= cx <= p.box.x2 and p.box.y1 <= cy <= p.box.y2), None)
            if mine is not None:
                self.upright.observe(mine.y1, face.height)
            return False
        return bool(people) and self.upright.is_down(people[0].box.y1)

    def _watch_conduct(self, frame: FrameSample, faces: list[Detection],
                       accepted: list[Detection], rejected: list[Detection],
                       people: list[Detection]) -> None:
        if not self.conduct:
            return
        # A face outside the staff region, near enough to be at the counter, is a citizen.
        citizen = any(d.box.height >= self.roi.min_face_height * frame.height for d in rejected)
        verdict = frame_conduct(len(accepted), self._head_down(accepted, people), citizen)
        held = {IncidentKind.ASLEEP_AT_POST: verdict.asleep,
                IncidentKind.GATHERING: verdict.staff > 1}
        for kind, tracker in self.conduct.items():
            opening = held[kind] and tracker.open_since is None
            stretch = tracker.update(frame.t_s, held[kind], verdict.staff)
            if stretch is not None:
                self._conduct_finished(stretch)
            if opening:
                self._first[kind] = _conduct_snapshot(frame, self.roi, faces, accepted)
            if held[kind]:
                self._latest[kind] = (frame, faces, accepted)

    def _conduct_finished(self, stretch: Stretch) -> None:
        self.stretches.append(stretch)
        rule = conduct_rule(self.rules, stretch.kind)
        first, latest = self._first.pop(stretch.kind, None), self._latest.pop(stretch.kind, None)
        # Only a stretch longer than its threshold can be an incident: keep its snapshots.
        if rule is not None and stretch.duration_s > rule.threshold_s and first and latest:
            frame, faces, staff = latest
            self._conduct_kept[(stretch.kind, stretch.start_s)] = {
                "first_frame": first,
                "last_frame": _conduct_snapshot(frame, self.roi, faces, staff)}

    def _end_conduct(self) -> None:
        for tracker in self.conduct.values():
            stretch = tracker.finish()
            if stretch is not None:
                self._conduct_finished(stretch)

    def conduct_snapshots(self, stretch: Stretch) -> dict[str, bytes]:
        """The snapshots of a stretch: kept ones once it has ended, else as it stands."""
        kept = self._conduct_kept.get((stretch.kind, stretch.start_s))
        if kept is not None:
            return dict(kept)
        tracker, latest = self.conduct.get(stretch.kind), self._latest.get(stretch.kind)
        if tracker is None or tracker.open_since != stretch.start_s or latest is None:
            return {}
        return {"first_frame": self._first[stretch.kind],
                "last_frame": _conduct_snapshot(latest[0], self.roi, latest[1], latest[2])}

    def conduct_so_far(self) -> list[Stretch]:
        """Every stretch of the stream so far, the open ones as they stand."""
        return self.stretches + [s for t in self.conduct.values() if (s := t.peek()) is not None]

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
        self._end_conduct()

    def finish(self, end_s: float) -> list[Absence]:
        """Close the stream at `end_s`; every absence it had, in time order."""
        absence = self.tracker.finish(max(end_s, self.last_t))
        if absence is not None:
            self._finished(absence)
        self._end_conduct()
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
        body = self.rules.body_detector
        self.body_detector = (create_detector(body, self.options.threads) if body is not None
                              else None)

    def watcher(self, source: str, window_id: str, roi: Roi | None = None) -> PresenceWatcher:
        """A stream's watcher; `roi`: its camera's staff seat, if not the pipeline's."""
        return PresenceWatcher(self.detector, self.rules, roi or self.roi, source, window_id,
                               self.body_detector)

    def _write(self, iid: str, snapshots: dict[str, bytes]) -> dict[str, str]:
        """An incident's snapshots written as its evidence files, by role."""
        evidence: dict[str, str] = {}
        if self.options.evidence_dir is not None:
            for role, data in sorted(snapshots.items()):
                path = self.options.evidence_dir / f"{iid}_{role}.jpg"
                # A reviewer never sees half a snapshot; a rerun overwrites, not adds.
                atomic_write(path, data, mode=OWNER_ONLY)
                evidence[role] = str(path)
        return evidence

    def conclude(self, watcher: PresenceWatcher, end_s: float, started: datetime | None,
                 damage: Damage | None = None) -> PresenceAnalysis:
        """Judge a finished stream's absences and write the snapshots of its incidents;
        `damage`: the pictures a recording lost (its losses already told to `watcher.lost`).

        Raises:
          ValueError: a declared pause names a status the rules do not define.
        """
        absences = watcher.finish(end_s)
        judgements = judge(absences, self.rules, started, end_s, self.options.pauses)
        incidents = [
            off_post_incident(j, self.rules, started, self._write(
                off_post_id(j, self.rules.off_post), watcher.snapshots(j.absence)))
            for j in judgements if j.off_post]
        conduct = judge_conduct(watcher.stretches, self.rules, started, end_s,
                                self.options.pauses)
        incidents += [
            conduct_incident(j, self.rules, started, self._write(
                conduct_id(j), watcher.conduct_snapshots(j.stretch)))
            for j in conduct if j.breaks_rule]
        incidents.sort(key=lambda i: i.offset_s)
        return PresenceAnalysis(watcher.source, watcher.window_id, end_s, watcher.frames,
                                watcher.present_frames, tuple(absences), tuple(judgements),
                                tuple(incidents), damage, tuple(conduct))

    def due_conduct(self, watcher: PresenceWatcher, now_s: float, started: datetime | None,
                    sent: Collection[str]) -> list[Incident]:
        """Live: the 睡岗/聚集 incidents of the stream so far not in `sent` (ids), the open
        stretches judged as ending now; their snapshots written as batch names them."""
        out = []
        # A stretch no longer than its threshold cannot break it: not judged at every frame.
        long = [s for s in watcher.conduct_so_far()
                if (rule := conduct_rule(self.rules, s.kind)) and s.duration_s > rule.threshold_s]
        for j in judge_conduct(long, self.rules, started, now_s, self.options.pauses):
            if j.breaks_rule and (iid := conduct_id(j)) not in sent:
                out.append(conduct_incident(j, self.rules, started, self._write(
                    iid, watcher.conduct_snapshots(j.stretch))))
        return out

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

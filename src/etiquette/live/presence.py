"""Live staff presence of one window: camera frames in a thread, 离岗 as soon as it is one.

The same steps as batch (`PresencePipeline`: detector, ROI, tracker, `offpost.judge`), with a
camera instead of a file and one difference in timing: batch judges an absence once it is
over; here the open absence is judged again at every frame, as an absence ending now, and an
`off_post` incident goes out as soon as its counted time (in service hours, outside declared
pauses) exceeds the threshold, while the staff member is still away. That incident stands:
when the staff member comes back no second one is sent. Its `end_s` is the frame at which the
threshold was crossed, so its length is about the threshold, not the whole absence (only an
absence that crosses in its last sample is sent at the return, with its real end); the whole
absence is in `stop()`'s analysis, under the same incident id. A camera outage inside an
absence counts as absence, as a gap in a file would: the tracker sees no frame that ends it;
the camera's DOWN health event is there for the reviewer to weigh. A replayed file cut short
or damaged is different: its lost pictures are known to be missing (`CameraSource.frames`'s
`on_loss`), so, as in batch, the open absence ends where they stop and the seat is decided
afresh after them (`PresenceWatcher.lost`); no 离岗 spans them.

Threads: one per window, all sharing one `PresencePipeline` and so one detector, called
concurrently without a lock: CenterFace runs on an onnxruntime `InferenceSession`, whose
`run()` is safe to call from several threads at once, and its `detect()` keeps no state of
its own between calls (a back-end that is not thread-safe must lock inside its `detect`).
Everything else a window touches (watcher, tracker, snapshots) is its own.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from etiquette.core.presence.offpost import OffPostJudgement, judge, off_post_id, off_post_incident
from etiquette.core.presence.records import Absence, PresenceEvent
from etiquette.core.presence.roi import Roi
from etiquette.core.records import Incident
from etiquette.files import OWNER_ONLY, atomic_write
from etiquette.health import HealthCallback, HealthReporter, HealthState, log_health
from etiquette.vision.camera import CameraOptions, CameraSource
from etiquette.vision.frames import FrameSample
from etiquette.vision.watcher import PresenceAnalysis, PresencePipeline, PresenceWatcher

logger = logging.getLogger("etiquette.live.presence")

IncidentCallback = Callable[[Incident], None]
EventCallback = Callable[[PresenceEvent], None]


class SeatState(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"  # not decided yet, camera down, or stopped


@dataclass(frozen=True)
class LivePresenceOptions:
    """Attributes:
    camera: how the camera is opened and reopened; None: reopen forever with back-off up to
      30 s. Its `sample_fps` is replaced by the presence rules' `tracking.sample_fps`, the rate
      the tracker's hysteresis is tuned for.
    source_label: the incidents' `source` (part of their id); None: the camera address without
      credentials, and for a live camera its start time too, so that two runs of the engine
      (whose offsets both start at 0) never give two absences the same id.
    stop_timeout_s: how long `stop()` waits for the camera thread, which may be blocked in
      OpenCV opening or reading the stream (up to the camera's timeouts), before concluding
      without it; the thread then ends by itself without feeding anything more.
    """

    camera: CameraOptions | None = None
    source_label: str | None = None
    stop_timeout_s: float = 1.0


def live_camera_options() -> CameraOptions:
    return CameraOptions(open_timeout_s=5.0, read_timeout_s=5.0, reconnect_attempts=None,
                         reconnect_delay_s=1.0, reconnect_max_delay_s=30.0)


class LivePresence:
    """The staff seat of one window, watched live from its camera.

    `start()` opens the camera in a thread of its own; `stop()` ends it and returns the
    analysis of the whole stream. Callbacks run on that thread: `on_incident` for each
    off-post incident (as soon as it is one), `on_event` for each LEFT/RETURNED change,
    `on_health` for the camera going down or coming back (and for this window's presence
    path failing). A callback that raises is logged; an incident whose callback raised is
    offered again at the next frame, so that nothing is lost.
    """

    def __init__(self, pipeline: PresencePipeline, window_id: str, source: str | int,
                 options: LivePresenceOptions | None = None, *,
                 on_incident: IncidentCallback | None = None,
                 on_event: EventCallback | None = None,
                 on_health: HealthCallback | None = None,
                 started: datetime | None = None, roi: Roi | None = None) -> None:
        """`started`: UTC time of offset 0, for a file (which is read as fast as it decodes):
        its recording time, as batch takes it; None: when `start()` was called. A live camera
        dates its frames itself (from when it began opening) and takes no `started`.

        Raises:
          ValueError: `started` without a time zone, or given for a live camera.
          VideoError: a file source that does not exist.
        """
        if started is not None and started.tzinfo is None:
            raise ValueError("started must be timezone-aware (UTC)")
        self.pipeline = pipeline
        self.window_id = window_id
        self.options = options or LivePresenceOptions()
        self.on_incident = on_incident
        self.on_event = on_event
        self.on_health = on_health or log_health
        camera = dataclasses.replace(self.options.camera or live_camera_options(),
                                     sample_fps=pipeline.rules.tracking.sample_fps)
        self.camera = CameraSource(source, camera, self.on_health, window_id)
        if started is not None and self.camera.live:
            raise ValueError("a live camera's offsets count from when it began opening: "
                             "it takes no `started`")
        self.error: Exception | None = None  # what ended the thread, if not stop() or the end
        self._started = started
        self._roi = roi
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the watcher: fed by the thread, concluded by stop()
        self._thread: threading.Thread | None = None
        self._watcher: PresenceWatcher | None = None
        self._last_t: float | None = None
        self._seat = SeatState.UNKNOWN
        self._emitted: dict[float, Incident] = {}  # by the start of their absence
        self._analysis: PresenceAnalysis | None = None

    # -- for metrics and the session tracker (read from other threads) ------------------------

    @property
    def started(self) -> datetime | None:
        """UTC time of offset 0, once known."""
        return self._started or self.camera.started

    @property
    def state(self) -> SeatState:
        if self._analysis is not None or self.camera.state is HealthState.DOWN:
            return SeatState.UNKNOWN
        return self._seat

    @property
    def present(self) -> bool | None:
        """Whether the staff member is at the seat; None while unknown (see `state`)."""
        state = self.state
        return None if state is SeatState.UNKNOWN else state is SeatState.PRESENT

    @property
    def fps(self) -> float:
        """Frames looked at per second, recently (0 while the camera is down)."""
        return self.camera.fps

    @property
    def last_frame_s(self) -> float | None:
        """Offset of the last frame looked at."""
        return self._last_t

    @property
    def incidents(self) -> tuple[Incident, ...]:
        """The off-post incidents sent so far, in order."""
        return tuple(self._emitted.values())

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._analysis is None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("a LivePresence starts once")
        if self._started is None and not self.camera.live:
            self._started = datetime.now(UTC)
        # Not a daemon: OpenCV aborts the whole process (std::terminate) when the interpreter
        # exits while a thread is still inside it, so exit waits for the thread instead; after
        # `stop()` it ends within the camera's open/read timeout.
        self._thread = threading.Thread(target=self._run, name=f"presence-{self.window_id}")
        self._thread.start()

    def stop(self) -> PresenceAnalysis:
        """End the camera thread and conclude the stream at its last frame.

        Returns within about `stop_timeout_s` plus one detection, even with the camera stuck
        in OpenCV; the thread itself may take up to the camera's open/read timeout to end
        (`join()` waits for it: do so before the process exits).
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.options.stop_timeout_s)
        return self._conclude()

    def join(self, timeout_s: float | None = None) -> PresenceAnalysis | None:
        """Wait for the thread: a source that ends by itself (a file), or the end after `stop()`.

        Returns the analysis, or None while the stream is still being read.
        """
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self._analysis

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        frames = self.camera.frames(self._stop, on_loss=self._lose)
        try:
            for frame in frames:
                with self._lock:
                    if self._analysis is not None:  # stop() gave up waiting and concluded
                        break
                    self._take(frame)
        except Exception as e:  # a file that is cut short, a bug: this window stops, not others
            self.error = e
            logger.exception("presence of window %s stopped", self.window_id)
            self._health(HealthState.DOWN, f"在岗监测停止 (presence stopped): {e}")
        finally:
            frames.close()
            self._conclude()

    def _health(self, state: HealthState, message: str) -> None:
        HealthReporter("presence", self.on_health, self.window_id).report(state, message)

    def _ensure_watcher(self) -> PresenceWatcher:
        if self._watcher is None:
            if self._started is None:
                self._started = self.camera.started or datetime.now(UTC)
            label = self.options.source_label
            if label is None:
                label = self.camera.name
                if self.camera.live:
                    label += "@" + self._started.isoformat(timespec="seconds")
            self._watcher = self.pipeline.watcher(label, self.window_id, self._roi)
        return self._watcher

    def _take(self, frame: FrameSample) -> None:
        watcher = self._ensure_watcher()
        event = watcher.feed(frame)
        self._last_t = frame.t_s
        present = watcher.tracker.present
        self._seat = (SeatState.UNKNOWN if present is None
                      else SeatState.PRESENT if present else SeatState.ABSENT)
        if event is not None and self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                logger.exception("presence event callback failed")
        start = watcher.tracker.absent_since
        if start is not None and start not in self._emitted:
            # The open absence, closed on a shallow copy of the tracker the way the end of the
            # stream would close it (with the tracker's own sample counts): `finish` rebinds
            # the copy's plain-valued state and leaves the real tracker as it was.
            absence = copy.copy(watcher.tracker).finish(frame.t_s)
            assert absence is not None  # the tracker is absent
            # The snapshots of the open absence (the empty seat when it was decided, the last
            # frame with the staff member) are the watcher's; batch takes them at the end.
            self._judge(absence, frame.t_s, watcher.open_snapshots())
        elif (event is not None and event.absence is not None
              and event.absence.start_s not in self._emitted):
            # Back before it was one at the last empty frame: its last stretch (to the first
            # frame of the return) may still carry it over the threshold.
            self._judge(event.absence, frame.t_s, watcher.snapshots(event.absence))
        # 睡岗/聚集 (issue 21): sent as soon as their counted time exceeds their threshold.
        sent = {i.id for i in self._emitted.values()}
        for incident in self.pipeline.due_conduct(watcher, frame.t_s, self._started, sent):
            self._deliver(incident.offset_s, incident)

    def _lose(self, at_s: float) -> None:
        """A replayed file's pictures are lost from `at_s`: the absence open there ends there and
        is judged now (as a return would have it judged)."""
        with self._lock:
            if self._analysis is not None:
                return
            watcher = self._ensure_watcher()
            before = len(watcher.absences)
            watcher.lost(at_s)
            self._seat = SeatState.UNKNOWN
            for absence in watcher.absences[before:]:
                if absence.start_s not in self._emitted:
                    self._judge(absence, at_s, watcher.snapshots(absence))

    def _judge(self, absence: Absence, now_s: float, snapshots: dict[str, bytes]) -> None:
        """Judge an absence of the stream so far; send its incident if it is one."""
        (judgement,) = judge([absence], self.pipeline.rules, self._started, now_s,
                             self.pipeline.options.pauses)
        if judgement.off_post:
            self._send(absence.start_s, judgement, snapshots)

    def _send(self, absence_start_s: float, judgement: OffPostJudgement,
              snapshots: dict[str, bytes]) -> None:
        rules, evidence_dir = self.pipeline.rules, self.pipeline.options.evidence_dir
        evidence: dict[str, str] = {}
        if evidence_dir is not None:
            # Named as batch names them, so a batch run over the recording overwrites, not adds.
            iid = off_post_id(judgement, rules.off_post)
            for role, data in sorted(snapshots.items()):
                path = evidence_dir / f"{iid}_{role}.jpg"
                try:
                    atomic_write(path, data, mode=OWNER_ONLY)
                except OSError as e:  # a full disk: the incident without this picture
                    logger.error("window %s: snapshot %s of %s not written (%s); the incident "
                                 "is sent without it", self.window_id, role, iid, e)
                    continue
                evidence[role] = str(path)
        self._deliver(absence_start_s, off_post_incident(judgement, rules, self._started, evidence))

    def _deliver(self, absence_start_s: float, incident: Incident) -> None:
        if self.on_incident is not None:
            try:
                self.on_incident(incident)
            except Exception:
                logger.exception("incident %s not accepted; offered again at the next frame",
                                 incident.id)
                return
        logger.info("window %s: off post since %.1f s (%s)", self.window_id, incident.offset_s,
                    incident.id)
        self._emitted[absence_start_s] = incident

    def _conclude(self) -> PresenceAnalysis:
        """The stream is over: judge it whole, as batch does, once; send what is still due."""
        with self._lock:
            if self._analysis is not None:
                return self._analysis
            watcher = self._ensure_watcher()
            end_s = self._last_t or 0.0
            damage = self.camera.damage
            if damage is not None:  # a file cut short: its stream ends with its last picture
                end_s = max(end_s, damage.read_s)
            analysis = self.pipeline.conclude(watcher, end_s, self._started, damage)
            sent = {i.id for i in self._emitted.values()}
            for incident, absence in self._off_post(analysis):
                if incident.id not in sent:
                    self._deliver(absence, incident)
            self._analysis = analysis
            self._seat = SeatState.UNKNOWN
            return analysis

    def _off_post(self, analysis: PresenceAnalysis) -> list[tuple[Incident, float]]:
        """Each incident of the analysis with the start of its absence (the key of `_emitted`)."""
        rule = self.pipeline.rules.off_post
        starts = {off_post_id(j, rule): j.absence.start_s for j in analysis.judgements
                  if j.off_post}
        return [(i, starts.get(i.id, i.offset_s)) for i in analysis.incidents]

"""`etiquette run`: every window of a site watched at once, incidents out in seconds.

Per window: a thread reading its audio source into its `WindowMonitor`, and, with a camera, a
`LivePresence` thread. Shared by all: one `SharedRecogniser` (one model, batched across
windows), one presence pipeline (one detector), the outbox to the supervision API, a JSONL log
of every incident, and the control server (metrics, health, 叫号). A window whose input fails
is reported and retried; the others go on. `stop()` is the graceful shutdown SIGTERM calls:
inputs stop, the speech already heard is transcribed and judged, open sessions are closed,
and the outbox is flushed (what it cannot deliver stays on disk for the next start).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from etiquette.core.records import Incident, absolute_time
from etiquette.core.session_records import SessionRecord
from etiquette.health import HealthCallback, HealthEvent, HealthReporter, HealthState, log_health
from etiquette.live.heartbeat import Heartbeat
from etiquette.live.metrics import make_registry
from etiquette.live.recognition import SharedRecogniser
from etiquette.live.rules_source import fetch_rules
from etiquette.live.site import Site, SiteError, Window
from etiquette.live.window import Undecided, WindowMonitor
from etiquette.pipeline import MakeRecogniser, PipelineOptions, SpeechPipeline
from etiquette.sinks import incomplete_record
from etiquette.sinks.jsonl import JsonlSink
from etiquette.sinks.outbox import Outbox
from etiquette.speech.audio import AudioError
from etiquette.speech.microphone import MicrophoneCapture
from etiquette.speech.recogniser import Recogniser
from etiquette.speech.remote_recogniser import RemoteRecogniser
from etiquette.speech.replay import FileReplay
from etiquette.speech.silero import SharedSilero
from etiquette.speech.sources import AudioSource, CaptureStats

if TYPE_CHECKING:
    from etiquette.core.presence.records import PresenceEvent
    from etiquette.live.presence import LivePresence
    from etiquette.vision.watcher import PresencePipeline

logger = logging.getLogger("etiquette.live.engine")


class WindowRunner:
    """One window's inputs and their threads."""

    def __init__(self, site: LiveSite, config: Window) -> None:
        self.site, self.config, self.id = site, config, config.id
        self.monitor: WindowMonitor | None = None  # made at the first audio block (its t=0)
        self.presence: LivePresence | None = None
        self.presence_incidents: dict[str, int] = {}
        self.health: dict[str, HealthState] = {}
        self._thread: threading.Thread | None = None
        # Opened here, not in start(): a recording is decoded now (seconds for a long one, and
        # it may fail), so that every window of a site starts streaming in the same instant.
        self.source: AudioSource | None = None
        audio = config.audio
        if audio is not None and audio.file is not None:
            self.source = FileReplay(self.id, audio.file, realtime=True, loop=audio.loop,
                                     gap_s=audio.loop_gap_s, speed=audio.speed,
                                     start_s=audio.start_s, on_health=site.health)
        elif audio is not None:
            assert audio.device is not None
            self.source = MicrophoneCapture(self.id, audio.device, audio.open_channels,
                                            on_health=site.health)

    @property
    def audio_stats(self) -> CaptureStats | None:
        return self.source.stats if self.source is not None else None

    def start(self) -> None:
        if self.source is not None:
            self._thread = threading.Thread(target=self._run_audio, name=f"audio-{self.id}",
                                            daemon=True)
            self._thread.start()
        if self.config.camera is not None:
            self.presence = self.site.live_presence(self)
            self.presence.start()

    def _run_audio(self) -> None:
        assert self.source is not None and self.config.audio is not None
        order = self.config.audio.channels.order
        source = self.source
        source.start()
        stopping = self.site.stopping
        try:
            while not stopping.is_set():
                block = source.read(0.25)
                if block is None:
                    if source.finished:
                        break
                    continue
                if self.monitor is None:
                    self.monitor = self._new_monitor(len(order), source.stats.started_at)
                self.monitor.feed(np.ascontiguousarray(block[:, order]))
        except Exception as e:  # noqa: BLE001 - one window's fault must not stop the site
            logger.exception("window %s: audio path failed", self.id)
            self.site.health(HealthEvent("audio", HealthState.DOWN, f"audio path failed: {e}",
                                         self.id))
        finally:
            # A replay's end ends its session; one cut short is judged only on what it holds.
            ended = source.finished and not stopping.is_set()
            source.stop()
            if self.monitor is not None:
                self.monitor.finish(ended)

    def _new_monitor(self, channels: int, started: datetime | None) -> WindowMonitor:
        replay = self.source if isinstance(self.source, FileReplay) else None
        return WindowMonitor(self.id, channels, started or datetime.now(UTC),
                             self.site.speech, self.site.recogniser, self.site.emit,
                             self.site.evidence_dir,
                             unheard=replay.unheard if replay is not None else None,
                             on_undecided=self._undecided, on_session=self.site.session,
                             vad=self.site.vad)

    def _undecided(self, what: Undecided) -> None:
        """A session left partly unjudged for want of the audio its replayed recording lost:
        logged and written to the journal as batch reports the file (`incomplete_record`)."""
        replay, monitor = self.source, self.monitor
        assert isinstance(replay, FileReplay) and replay.damage is not None and monitor is not None
        s = what.session
        logger.info("%s: session %.1f-%.1f s, replaying %s: incomplete (%s); not judged: %s",
                    self.id, s.start_s, s.end_s, replay.path, replay.damage.summary(),
                    ", ".join(what.not_judged))
        record = incomplete_record(what.source, replay.damage, replay.duration_s,
                                   what.not_judged)
        record.update(window_id=self.id, file=str(replay.path), offset_s=round(s.start_s, 3),
                      end_s=round(s.end_s, 3), at=absolute_time(monitor.started, s.start_s),
                      unheard_at_s=[round(u.at_s, 3) for u in what.unheard])
        self.site.journal_line(record, f"incomplete session of {self.id}")

    def call_next(self, ticket: str | None = None) -> None:
        if self.monitor is not None:  # before any audio there is no session to end
            self.monitor.call_next(ticket)

    def staff_left(self) -> None:
        if self.monitor is not None:
            self.monitor.staff_left()

    def stop_inputs(self) -> None:
        if self.source is not None:
            self.source.stop()

    @property
    def listening(self) -> bool:
        """An input is still being read (a replay without loop ends by itself)."""
        audio = self._thread is not None and self._thread.is_alive()
        return audio or (self.presence is not None and self.presence.running)

    def join(self, timeout_s: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def stop_presence(self) -> None:
        if self.presence is not None:
            self.presence.stop()
            self.presence.join(10.0)  # OpenCV must be out of the thread before the process ends


class LiveSite:
    """A running site. `start()`, then `stop()` (from a signal handler or a test)."""

    def __init__(self, site: Site, speech: SpeechPipeline, on_health: HealthCallback = log_health,
                 api: tuple[str, str] | None = None) -> None:
        """`api`: (url, key) of the supervision API (`build_site` takes it from the site file or
        the embedded service); None: incidents go to the JSONL journal only."""
        self.config = site
        self.on_health = on_health
        data = site.data_dir
        self.evidence_dir = data / "evidence"
        self.journal = data / "incidents.jsonl"
        self._journal_sink = JsonlSink(self.journal)
        self._journal_health = HealthReporter("journal", self.health, state=HealthState.OK)
        self.speech = speech
        # backend ray: the shared pool's client, whose state /health and /metrics show
        self.pool = speech.recogniser if isinstance(speech.recogniser, RemoteRecogniser) else None
        self.recogniser = SharedRecogniser(
            speech.recogniser, spool_dir=data / "spool",
            memory_s=site.recognition.backlog_memory_s, lag_warn_s=site.recognition.lag_warn_s,
            on_health=self.health, recognise=speech.recognise)
        # Every window's speech probabilities in one model call per tick, not one per window.
        self.vad = SharedSilero()
        self.outbox = (Outbox(data / "outbox", api[0], api[1], on_health=self.health,
                              on_stored=self._stored) if api is not None else None)
        self.heartbeat = (Heartbeat(self, api[0], api[1], site.supervision.heartbeat_s)
                          if api is not None else None)
        self.stopping = threading.Event()
        self.registry, self.latency = make_registry(self)
        self.health_events: list[HealthEvent] = []
        self._journal_lock = threading.Lock()
        self._presence_pipeline: PresencePipeline | None = None
        # The latest of this run's incidents (a day's would grow without end) and their count.
        self.incidents: deque[Incident] = deque(maxlen=1000)
        self.sessions: deque[SessionRecord] = deque(maxlen=1000)  # the last judged
        self.emitted = 0
        # End of utterance → stored by the service, seconds, for the incidents of spoken
        # phrases (the benchmark reads these; /metrics has them as a histogram).
        self.stored_latencies: deque[float] = deque(maxlen=10_000)
        self._spoken: dict[str, datetime] = {}  # incident id → when its utterance ended
        self.listeners: list[Callable[[Incident], None]] = []
        self.windows: dict[str, WindowRunner] = {}
        for i, w in enumerate(site.windows):
            try:
                self.windows[w.id] = runner = WindowRunner(self, w)
            except AudioError as e:  # a recording to replay that cannot be decoded
                file = w.audio.file if w.audio is not None else None
                raise SiteError(f"第 {i + 1} 个窗口 {w.id} 的录音 {file} {e}") from e
            # what opening its inputs reported (a replayed recording incomplete) is its state
            runner.health.update({e.component: e.state for e in self.health_events
                                  if e.window_id == w.id})

    # ---------------------------------------------------------------- wiring

    def health(self, event: HealthEvent) -> None:
        self.health_events = [*self.health_events[-99:], event]
        if event.window_id in self.windows:
            self.windows[event.window_id].health[event.component] = event.state
        self.on_health(event)

    def live_presence(self, runner: WindowRunner) -> LivePresence:
        from etiquette.core.presence.roi import Roi
        from etiquette.live.presence import LivePresence, LivePresenceOptions, live_camera_options
        from etiquette.vision.watcher import PresenceOptions, PresencePipeline

        cfg = self.config.presence
        if self._presence_pipeline is None:
            self._presence_pipeline = PresencePipeline(PresenceOptions(
                rules_path=cfg.rules, absence_threshold_s=cfg.absence_threshold_s,
                evidence_dir=self.evidence_dir, threads=cfg.threads))
        camera = runner.config.camera
        assert camera is not None

        def off_post(incident: Incident) -> None:
            runner.presence_incidents[incident.kind.value] = \
                runner.presence_incidents.get(incident.kind.value, 0) + 1
            self.emit(incident)

        from etiquette.core.presence.records import PresenceChange

        def changed(event: PresenceEvent) -> None:
            if event.change is PresenceChange.LEFT:
                runner.staff_left()

        pipeline = self._presence_pipeline
        roi = Roi(camera.roi, pipeline.rules.tracking.min_face_height) if camera.roi else None
        # A file stands in for a camera (the demo): it is sent at the pace it was recorded.
        options = LivePresenceOptions(camera=replace(live_camera_options(), realtime=True,
                                                     loop=camera.loop))
        return LivePresence(pipeline, runner.id, camera.source, options, roi=roi,
                            on_incident=off_post, on_event=changed, on_health=self.health)

    def emit(self, incident: Incident, spoken: datetime | None = None) -> None:
        """Every incident: written to the journal, then durably to the outbox. `spoken`: when
        the utterance of a spoken phrase ended.

        A disk that refuses them (full) stops neither the window nor the site: the journal's
        line is logged instead and the journal reported DEGRADED; the outbox holds what it
        cannot store and reports DEGRADED itself (etiquette.sinks.outbox). An incident counts
        as queued only once the outbox has it on disk."""
        record = incident.to_json()
        with self._journal_lock:  # the journal's order is the order of `incidents`
            self._journal_write(record, f"incident {incident.id}")
            self.incidents.append(incident)
            self.emitted += 1
        if spoken is not None and self.outbox is not None:
            with self._journal_lock:
                if len(self._spoken) < 10_000:  # bounded, even if the service never answers
                    self._spoken[incident.id] = spoken
        queued = self.outbox is None
        if self.outbox is not None:
            try:
                queued = self.outbox.put(record)
            except OSError as e:  # the disk refuses and the outbox holds all it may already
                logger.error("incident %s not taken by the outbox (%s); it is in the journal "
                             "or the log line above", incident.id, e)
        if spoken is not None and queued:
            self.latency.labels(incident.kind.value, "queued").observe(_since(spoken))
        for listener in self.listeners:
            listener(incident)

    def session(self, session: SessionRecord) -> None:
        """A service session judged whole: its record to the journal, then to the outbox (as an
        incident is, after its incidents; a disk that refuses it stops nothing)."""
        record = session.to_json()
        with self._journal_lock:
            self._journal_write(record, f"session {session.id}")
            self.sessions.append(session)
        if self.outbox is not None:
            try:
                self.outbox.put(record)
            except OSError as e:
                logger.error("session %s not taken by the outbox (%s); it is in the journal or "
                             "the log line above", session.id, e)

    def journal_line(self, record: dict[str, Any], what: str) -> None:
        """A line of the journal that is no incident (an incomplete recording's), never sent."""
        with self._journal_lock:
            self._journal_write(record, what)

    def _journal_write(self, record: dict[str, Any], what: str) -> None:
        """One line to the journal (its lock held); a disk that refuses it gets it logged."""
        try:
            self._journal_sink.write([record])
            self._journal_health.report(HealthState.OK, f"journal {self.journal} written")
        except OSError as e:
            logger.error("%s not written to the journal %s (%s): %s", what, self.journal, e,
                         json.dumps(record, ensure_ascii=False))
            self._journal_health.report(HealthState.DEGRADED,
                                        f"journal {self.journal} not written: {e}")

    def _stored(self, incident_id: str) -> None:
        with self._journal_lock:
            spoken = self._spoken.pop(incident_id, None)
        if spoken is not None:
            seconds = _since(spoken)
            self.stored_latencies.append(seconds)
            self.latency.labels("forbidden_phrase", "stored").observe(seconds)

    # ---------------------------------------------------------------- life cycle

    def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self.recogniser.start()
        if self.outbox is not None:
            self.outbox.start()
        for w in self.windows.values():
            w.start()
        if self.heartbeat is not None:
            self.heartbeat.start()
        logger.info("site %s: %d windows running", self.config.center.code, len(self.windows))

    def call_next(self, window_id: str, ticket: str | None = None) -> None:
        """叫号 of `ticket` at `window_id`. Raises KeyError for a window the site does not have."""
        self.windows[window_id].call_next(ticket)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Graceful shutdown: nothing heard is left unjudged, nothing judged is left unsent
        (beyond `timeout_s` the outbox keeps it on disk for the next start)."""
        if self.stopping.is_set():
            return
        logger.info("stopping: finishing what was heard")
        self.stopping.set()
        if self.heartbeat is not None:  # the service then shows the site's windows 心跳中断
            self.heartbeat.stop()
        for w in self.windows.values():
            w.stop_inputs()
        for w in self.windows.values():
            w.join(timeout_s)  # each window cuts its last speech and closes its session
            w.stop_presence()
        self.recogniser.stop(timeout_s)  # transcribes and judges what was queued
        if self.outbox is not None:
            self.outbox.stop(timeout_s)
            if self.outbox.pending() > self.outbox.held():
                logger.warning("%d incidents not yet delivered; kept in %s for the next start",
                               self.outbox.pending() - self.outbox.held(),
                               self.config.data_dir / "outbox")
        logger.info("stopped")

    def run_until(self, done: threading.Event) -> None:
        """Run until `done` is set or every input has ended (replays without loop)."""
        while not done.wait(0.5):
            if not any(w.listening for w in self.windows.values()):
                break


def _since(moment: datetime) -> float:
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())


def build_site(site: Site, on_health: HealthCallback = log_health,
               api: tuple[str, str] | None = None,
               recogniser: Recogniser | None = None) -> LiveSite:
    """A site ready to start (loads the model and decodes the recordings it replays: seconds).

    Raises:
      RulesUnavailable: the site runs with the service's rules and they cannot be had.
      ModelError: the model cannot be loaded as configured.
      SiteError: a recording to replay cannot be decoded.
    """
    if api is None and site.supervision.url is not None:
        api = (site.supervision.url, site.supervision.key())
    rules = site.rules
    if site.rules_from_service and api is not None:
        rules = fetch_rules(api[0], api[1], site.data_dir)
    r = site.recognition
    make: MakeRecogniser = Recogniser
    if r.backend == "ray":  # a shared recognition pool, with the prompt of this site's rules
        make = functools.partial(RemoteRecogniser, str(r.address), timeout_s=r.pool_timeout_s,
                                 retry_s=r.pool_retry_s)
    speech = SpeechPipeline(PipelineOptions(recogniser=r.options(), rules_path=rules,
                                            checks_path=site.checks),
                            recogniser=recogniser, make_recogniser=make)
    live = LiveSite(site, speech, on_health=on_health, api=api)
    if live.pool is not None:  # the pool's state among the site's health, from its start on
        live.pool.report_to(live.health)
    return live


"""Frames from a camera by device index or a network stream (RTSP/HTTP/UDP), with OpenCV, or
from a file standing in for a camera (the live demo), with the batch reader
(`vision.container.MediaReader`): a file cut short or damaged is replayed as far as its
pictures go, its losses told as batch tells them, and its damage reported DEGRADED.

From a live source, every frame is grabbed (it must be drained or its buffer lags behind the
present), but only the frames due at the sampling rate are decoded into pixels (`retrieve`).

A live source that cannot be opened, stops sending or sends a frame that cannot be decoded is
reopened with exponential back-off; each change between working and not working is reported
as a `HealthEvent` (DOWN, then OK once frames come again). The live engine reopens forever
(`reconnect_attempts=None`): a camera that is unplugged for an hour must come back by itself,
and the other windows never notice. A bounded number of attempts is for one-off checks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2

from etiquette.core.damage import Damage
from etiquette.health import HealthCallback, HealthReporter, HealthState
from etiquette.vision.container import MediaReader, PicturesLost
from etiquette.vision.frames import FrameSample, Sampler, VideoError

logger = logging.getLogger("etiquette.vision.camera")


@dataclass(frozen=True)
class CameraOptions:
    """Attributes:
    sample_fps: frames per second handed on.
    open_timeout_s / read_timeout_s: how long a network stream may take to open / to send a frame.
    reconnect_attempts: reopenings of a live source that stopped sending, before giving up with
      a `VideoError`; with a number, the first opening must succeed. None: reopen forever,
      the first opening included (the live engine).
    reconnect_delay_s: wait before the first reopening; it doubles with each failure in a row…
    reconnect_max_delay_s: …up to this.
    fps_window_s: `CameraSource.fps` counts the frames handed on over this many seconds.
    realtime: a file is handed on at the pace it was recorded, as a camera would send it (the
      live demo replays a counter video this way); False: as fast as it decodes (batch).
    loop: a file is replayed again and again, its offsets going on from one pass to the next
      (as a looped audio replay's do), so that a replayed camera never falls silent.
    """

    sample_fps: float = 2.0
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    reconnect_attempts: int | None = 3
    reconnect_delay_s: float = 2.0
    reconnect_max_delay_s: float = 30.0
    fps_window_s: float = 10.0
    realtime: bool = False
    loop: bool = False


def _target(source: str | int) -> tuple[str | int, bool]:
    """(what VideoCapture opens, whether it is live)."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return int(source), True
    if "://" in source:
        return source, True
    return source, False


def display_name(source: str | int) -> str:
    """The source as logs, health events and incidents show it: without a password.

    An RTSP address often carries the camera's credentials (rtsp://user:pass@host/…).
    """
    text = str(source)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if "@" not in parts.netloc:
        return text
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


class CameraSource:
    """One OpenCV source; `frames()` yields sampled frames until it ends or `stop` is set.

    Live offsets are seconds since `frames()` first tried to open the source, on the monotonic
    clock, and go on across reopenings (a gap in the frames is the time the camera was down);
    `started` is the UTC time of offset 0, from which the live engine dates every frame.
    `on_health` is called from the thread that iterates `frames()`.
    """

    def __init__(self, source: str | int, options: CameraOptions | None = None,
                 on_health: HealthCallback | None = None, window_id: str | None = None) -> None:
        self.source = source
        self.name = display_name(source)
        self.options = options or CameraOptions()
        self.target, self.live = _target(source)
        self.window_id = window_id
        self.started: datetime | None = None  # UTC of offset 0 (live sources)
        self.damage: Damage | None = None  # pictures a file lost, once it has been read
        self._health = HealthReporter("camera", on_health, window_id)
        self._origin: float | None = None  # time.monotonic() when frames() first began
        self._sampled: deque[float] = deque()  # monotonic times of recent frames handed on
        self._sampled_lock = threading.Lock()  # `fps` is read by the metrics thread
        if not self.live and not Path(str(self.target)).is_file():
            raise VideoError(f"文件不存在 (no such file): {self.target}")

    @property
    def fps(self) -> float:
        """Frames handed on per second over the last `fps_window_s` (0 while the source is down)."""
        now = time.monotonic()
        window = self.options.fps_window_s
        with self._sampled_lock:
            while self._sampled and self._sampled[0] < now - window:
                self._sampled.popleft()
            count = len(self._sampled)
        if self._origin is None:
            return 0.0
        # Just after opening, the window is what has passed so far (at least a second, so that
        # the first frame alone does not read as a burst).
        span = max(1.0, min(window, now - self._origin))
        return count / span

    def _open(self) -> cv2.VideoCapture:
        ms = int(self.options.open_timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.options.read_timeout_s * 1000)]
        if isinstance(self.target, int):
            cap = cv2.VideoCapture(self.target)  # the platform's camera back-end (V4L2, …)
        else:
            cap = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise VideoError(f"无法打开视频源 (cannot open video source): {self.name}")
        return cap

    @property
    def state(self) -> HealthState | None:
        """The camera's last reported health; None: not tried yet."""
        return self._health.state

    def frames(self, stop: threading.Event | None = None,
               on_loss: Callable[[float], object] | None = None) -> Generator[FrameSample]:
        """Sampled frames with their offset: position in a file, seconds since opening when live.

        A file cut short or damaged is read as far as its pictures go: `on_loss` is told the
        time from which pictures are lost, before the first frame after the loss (as
        `vision.container.read_media` tells it), and once the file is read its `damage` is
        reported as a DEGRADED camera health event (with the Chinese message batch gives).

        Raises:
          VideoError: a file cannot be opened, has no video track or no picture that decodes;
            with a bounded `reconnect_attempts`, a live source cannot be opened at first
            or stays down after every reopening. With `reconnect_attempts=None` a live source
            never raises: it is reopened until `stop` is set.
        """
        stop = stop or threading.Event()
        if self.live:
            yield from self._live(stop, Sampler(self.options.sample_fps))
        else:
            yield from self._file(stop, on_loss)

    def _file(self, stop: threading.Event, on_loss: Callable[[float], object] | None
              ) -> Iterator[FrameSample]:
        if self._origin is None:
            self._origin = time.monotonic()
        opened = time.monotonic()
        base = 0.0  # the offset of this pass of a looped file
        while True:
            end = yield from self._pass(stop, on_loss, opened, base)
            if end is None or not self.options.loop or stop.is_set():
                return
            base = end

    def _pass(self, stop: threading.Event, on_loss: Callable[[float], object] | None,
              opened: float, base: float) -> Generator[FrameSample, None, float | None]:
        """One reading of the file, its offsets after `base`. Returns where a next pass
        begins (a sampling interval after its last frame); None: stopped before the end."""
        reader = MediaReader(str(self.target), self.options.sample_fps, want_audio=False)
        items = iter(reader)
        last = base - 1.0 / self.options.sample_fps
        try:
            for item in items:
                if stop.is_set():
                    break
                if isinstance(item, PicturesLost):
                    self._lost(base + item.at_s, on_loss)
                    continue
                if base:
                    item = replace(item, t_s=base + item.t_s)
                if self.options.realtime and stop.wait(max(0.0, opened + item.t_s
                                                           - time.monotonic())):
                    break
                self._count()
                last = item.t_s
                yield item
        finally:
            items.close()
        media = reader.result
        if media is None:  # stopped before the end
            return None
        if not media.info.has_video:
            raise VideoError(f"文件中没有视频轨 (no video track): {self.name}")
        self.damage = media.video_damage
        if self.damage is not None:
            logger.warning("%s: %s", self.name, self.damage.summary())
            self._health.report(HealthState.DEGRADED, f"{self.damage.message()}: {self.name}")
        return last + 1.0 / self.options.sample_fps

    def _lost(self, at_s: float, on_loss: Callable[[float], object] | None) -> None:
        """The file's pictures are lost from `at_s` until the next frame: said before it."""
        logger.warning("%s: pictures lost from %.1f s", self.name, at_s)
        if on_loss is not None:
            on_loss(at_s)

    def _count(self) -> None:
        now = time.monotonic()
        with self._sampled_lock:
            self._sampled.append(now)
            # Pruned here too, not only when `fps` is read: no metrics, no growth.
            while self._sampled[0] < now - self.options.fps_window_s:
                self._sampled.popleft()

    def _live(self, stop: threading.Event, sampler: Sampler) -> Iterator[FrameSample]:
        attempts = self.options.reconnect_attempts
        if self._origin is None:  # a second `frames()` goes on from the first one's clock
            self._origin = time.monotonic()
            self.started = datetime.now(UTC)
        origin = self._origin
        cap: cv2.VideoCapture | None = None
        failures = 0  # in a row; a frame resets it
        ever_opened = False
        confirmed = False  # a frame has decoded since the last opening
        try:
            while not stop.is_set():
                problem = None
                if cap is None:
                    try:
                        cap = self._open()
                        ever_opened, confirmed = True, False
                    except VideoError as e:
                        if attempts is not None and not ever_opened:
                            raise
                        problem = str(e)
                if cap is not None and problem is None:
                    if cap.grab():
                        t = time.monotonic() - origin
                        due = sampler.due(t)
                        # A stream that opened is up only once a frame decodes: one joined
                        # between key frames can open without a picture size and fail at once.
                        if not due and confirmed:
                            continue
                        ok, image = cap.retrieve()
                        if ok and image is not None:
                            if not confirmed:
                                confirmed = True
                                if failures:
                                    logger.info("%s: frames again after %d failure(s)",
                                                self.name, failures)
                                failures = 0
                                self._health.report(HealthState.OK,
                                             f"视频源正常 (receiving frames): {self.name}")
                            if due:
                                self._count()
                                yield FrameSample(t, image)
                            continue
                        problem = (f"画面无法解码 (cannot decode frame) at {t:.1f} s: "
                                   f"{self.name}")
                    else:
                        problem = f"视频源中断 (video source dropped): {self.name}"
                assert problem is not None  # every way here names what went wrong
                if cap is not None:
                    cap.release()
                    cap = None
                failures += 1
                if attempts is not None and failures > attempts:
                    self._health.report(HealthState.DOWN, problem)
                    raise VideoError(f"视频源中断 (video source dropped): {self.name}，"
                                     f"重连 {attempts} 次均失败")
                delay = min(self.options.reconnect_max_delay_s,
                            self.options.reconnect_delay_s * 2 ** (failures - 1))
                self._health.report(HealthState.DOWN, f"{problem}；{delay:.0f} 秒后重连 "
                                               f"(reopening in {delay:.1f} s)")
                logger.warning("%s: %s; reopening in %.1f s (failure %d%s)", self.name, problem,
                               delay, failures, "" if attempts is None else f"/{attempts}")
                if stop.wait(delay):
                    break
        finally:
            if cap is not None:
                cap.release()

"""Frames from OpenCV: a camera by device index, a network stream (RTSP/HTTP/UDP), or a file.

Every frame is grabbed (a live source must be drained or its buffer lags behind the present),
but only the frames due at the sampling rate are decoded into pixels (`retrieve`). A live
source that drops is reopened a few times before the source gives up with a `VideoError`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2

from etiquette.presence.frames import FrameSample, Sampler, VideoError

logger = logging.getLogger("etiquette.presence.camera")


@dataclass(frozen=True)
class CameraOptions:
    """Attributes:
    sample_fps: frames per second handed on.
    open_timeout_s / read_timeout_s: how long a network stream may take to open / to send a frame.
    reconnect_attempts: reopenings of a live source that stopped sending, before giving up.
    reconnect_delay_s: wait before each reopening.
    """

    sample_fps: float = 2.0
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    reconnect_attempts: int = 3
    reconnect_delay_s: float = 2.0


def _target(source: str | int) -> tuple[str | int, bool]:
    """(what VideoCapture opens, whether it is live)."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return int(source), True
    if "://" in source:
        return source, True
    return source, False


class CameraSource:
    """One OpenCV source; `frames()` yields sampled frames until it ends or `stop` is set."""

    def __init__(self, source: str | int, options: CameraOptions | None = None) -> None:
        self.source = source
        self.options = options or CameraOptions()
        self.target, self.live = _target(source)
        if not self.live and not Path(str(self.target)).is_file():
            raise VideoError(f"文件不存在 (no such file): {self.target}")

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
            raise VideoError(f"无法打开视频源 (cannot open video source): {self.source}")
        return cap

    def frames(self, stop: threading.Event | None = None) -> Iterator[FrameSample]:
        """Sampled frames with their offset: position in a file, seconds since opening when live.

        Raises:
          VideoError: the source cannot be opened, a live source stays down after every
            reconnect attempt, or a file stops before the frame count its header states.
        """
        stop = stop or threading.Event()
        sampler = Sampler(self.options.sample_fps)
        cap = self._open()
        opened = time.monotonic()
        failures = 0
        grabbed = 0
        try:
            while not stop.is_set():
                if not cap.grab():
                    if not self.live:
                        break
                    failures += 1
                    if failures > self.options.reconnect_attempts:
                        raise VideoError(f"视频源中断 (video source dropped): {self.source}，"
                                         f"重连 {self.options.reconnect_attempts} 次均失败")
                    logger.warning("%s stopped sending frames; reconnecting (%d/%d)", self.source,
                                   failures, self.options.reconnect_attempts)
                    cap.release()
                    if stop.wait(self.options.reconnect_delay_s):
                        break
                    try:
                        cap = self._open()
                    except VideoError:
                        cap = cv2.VideoCapture()  # closed: the next grab fails and counts
                    continue
                failures = 0
                grabbed += 1
                t = (time.monotonic() - opened if self.live
                     else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
                if not sampler.due(t):
                    continue
                ok, image = cap.retrieve()
                if not ok or image is None:
                    raise VideoError(f"画面无法解码 (cannot decode frame) at {t:.1f} s: "
                                     f"{self.source}")
                yield FrameSample(t, image)
            if not self.live and not stop.is_set():
                expected = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
                fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
                if expected and fps and expected - grabbed > max(2, fps * 1.5):
                    raise VideoError(f"视频不完整 (video cut short): 读到 {grabbed} 帧，文件头记载 "
                                     f"{expected} 帧")
        finally:
            cap.release()

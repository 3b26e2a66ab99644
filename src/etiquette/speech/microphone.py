"""One window's microphone as an `AudioSource`: a PortAudio input stream, kept open whatever
the device does. How a site.yaml names the device: `speech.devices`."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import av
import numpy as np

from etiquette.core.records import SAMPLE_RATE
from etiquette.health import HealthCallback, HealthReporter, HealthState
from etiquette.speech import devices
from etiquette.speech.sources import MIN_DBFS, CaptureStats, channel_dbfs

logger = logging.getLogger("etiquette.speech.microphone")


# ---------------------------------------------------------------- the ring buffer


class _Ring:
    """Frames between the PortAudio callback and the reader, in a preallocated array.

    The writer never waits: frames that do not fit are dropped and remembered as a gap, which
    the reader gets as silence in their place. Wall-time gaps (a device that was down) are
    remembered the same way. Not locked itself: the owner holds its condition around calls.
    """

    def __init__(self, frames: int, channels: int) -> None:
        self._buf = np.zeros((frames, channels), np.float32)
        self._written = 0  # frames ever stored
        self._read = 0  # frames ever taken
        self._gaps: deque[list[int]] = deque()  # [stored-frame position, silent frames]
        self._gap_total = 0
        self.dropped = 0

    @property
    def position(self) -> int:
        """Frames ever written, silence included: where the next frame lies in stream time."""
        return self._written + self._gap_total

    def available(self) -> int:
        return self._written - self._read + sum(g[1] for g in self._gaps)

    def add_gap(self, frames: int) -> None:
        self._gap_total += frames
        if self._gaps and self._gaps[-1][0] == self._written:
            self._gaps[-1][1] += frames
        else:
            self._gaps.append([self._written, frames])

    def write(self, data: np.ndarray) -> None:
        size = len(self._buf)
        n = len(data)
        take = min(n, size - (self._written - self._read))
        if take > 0:
            start = self._written % size
            first = min(take, size - start)
            self._buf[start:start + first] = data[:first]
            self._buf[:take - first] = data[first:take]
            self._written += take
        if n > take:
            self.dropped += n - take
            self.add_gap(n - take)

    def take(self, most: int) -> np.ndarray:
        """Up to `most` frames in stream order: stored frames up to the next gap, or the gap."""
        if self._gaps and self._gaps[0][0] == self._read:
            gap = self._gaps[0]
            n = min(most, gap[1])
            gap[1] -= n
            if gap[1] == 0:
                self._gaps.popleft()
            return np.zeros((n, self._buf.shape[1]), np.float32)
        end = self._gaps[0][0] if self._gaps else self._written
        n = min(most, end - self._read)
        size = len(self._buf)
        idx = (self._read + np.arange(n)) % size
        self._read += n
        return self._buf[idx]


class _Resampler:
    """Device rate to SAMPLE_RATE with FFmpeg's libswresample (PyAV, already a dependency), one
    mono resampler per channel so that channels are never mixed or reordered by a layout."""

    def __init__(self, rate: int, channels: int) -> None:
        self._rate = rate
        self._channels = [av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
                          for _ in range(channels)]

    def __call__(self, block: np.ndarray) -> np.ndarray:
        outs = []
        for c, resampler in enumerate(self._channels):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block[:, c], dtype=np.float32)[None, :], format="flt",
                layout="mono")
            frame.sample_rate = self._rate
            parts = [f.to_ndarray()[0] for f in resampler.resample(frame)]
            outs.append(np.concatenate(parts) if parts else np.zeros(0, np.float32))
        n = min(len(o) for o in outs)  # equal: every channel's resampler saw the same frames
        return np.stack([o[:n] for o in outs], axis=1).astype(np.float32, copy=False)


# ---------------------------------------------------------------- a microphone


class MicrophoneCapture:
    """One window's microphone: a PortAudio input stream, kept open by a supervisor thread.

    The PortAudio callback only copies into a bounded ring (`ring_s` seconds): a reader that
    falls behind loses the newest audio (counted, reported DEGRADED, delivered as silence) and
    never stalls the driver. The supervisor reopens a stream that ends, errors, or delivers
    nothing for `stall_s` (an unplugged device often just goes quiet), with exponential
    back-off from `reopen_backoff_s` to `max_backoff_s`, reporting DOWN and then OK once audio
    comes again; it never gives up, so a device unplugged for an hour comes back by itself
    while the other windows go on.

    `samplerate` is the rate asked of the device; a device that cannot record it is opened at
    its own default rate and resampled, since every stage downstream works at 16 kHz.
    One thread reads; blocks are at most a second long.
    """

    def __init__(self, window_id: str, device: str | int, channels: int = 1,
                 samplerate: int = SAMPLE_RATE, block_s: float = 0.1, ring_s: float = 30.0,
                 on_health: HealthCallback | None = None, reopen_backoff_s: float = 1.0,
                 max_backoff_s: float = 30.0, stall_s: float = 3.0) -> None:
        self.window_id = window_id
        self.device = device
        self.channels = channels
        self.samplerate = samplerate
        self.block_s = block_s
        self.ring_s = ring_s
        self.reopen_backoff_s = reopen_backoff_s
        self.max_backoff_s = max_backoff_s
        self.stall_s = stall_s
        self._spec = devices.parse_device(device)
        self._cond = threading.Condition()
        self._ring: _Ring | None = None  # allocated at the first opening, at the device rate
        self._rate: int | None = None  # the device rate, fixed by the first opening
        self._resampler: _Resampler | None = None
        self._stopping = threading.Event()
        self._stopped = False
        self._supervisor: threading.Thread | None = None
        # Written by the callback, read by the supervisor:
        self._last_callback = 0.0
        self._resync = False  # the next callback is the first of a (re)opened stream
        self._ended = threading.Event()  # PortAudio finished the stream by itself
        self._origin: float | None = None  # monotonic time of stream sample 0
        self._started_at: datetime | None = None
        self._latency = 0.0
        self._input_overflows = 0
        self._gap_frames = 0
        # The reader's:
        self._samples = 0
        self._dbfs = tuple(MIN_DBFS for _ in range(channels))
        self._reopens = 0
        self._health = HealthReporter("audio", on_health, window_id)

    # -- the reader's side

    def start(self) -> None:
        if self._supervisor is not None:
            raise RuntimeError("capture already started")
        self._supervisor = threading.Thread(target=self._supervise,
                                            name=f"audio-{self.window_id}", daemon=True)
        self._supervisor.start()

    def read(self, timeout_s: float) -> np.ndarray | None:
        deadline = time.monotonic() + timeout_s
        while True:
            with self._cond:
                while self._ring is None or self._ring.available() == 0:
                    remaining = deadline - time.monotonic()
                    if self._stopped or remaining <= 0:
                        return None
                    self._cond.wait(remaining)
                block = self._ring.take(max(1, int(self._rate_or_default())))  # ≤ 1 s at once
            if self._resampler is not None:
                block = self._resampler(block)
            if len(block):
                self._samples += len(block)
                self._dbfs = channel_dbfs(block)
                return block
            # the resampler holds back a few frames of a tiny block; wait for more

    def stop(self) -> None:
        """Close the stream; blocks already captured can still be read."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        with self._cond:
            return self._stopped and (self._ring is None or self._ring.available() == 0)

    @property
    def stats(self) -> CaptureStats:
        rate = self._rate_or_default()
        with self._cond:
            dropped = self._ring.dropped if self._ring is not None else 0
            gaps = self._gap_frames
        return CaptureStats(self._samples, self._started_at, self._dbfs,
                            overflow_frames=round(dropped * SAMPLE_RATE / rate),
                            input_overflows=self._input_overflows,
                            gap_frames=round(gaps * SAMPLE_RATE / rate), reopens=self._reopens,
                            state=self._health.state or HealthState.DOWN)

    def _rate_or_default(self) -> int:
        return self._rate or SAMPLE_RATE

    # -- the PortAudio callback: copy, count, never wait for the reader

    def _callback(self, indata: np.ndarray, frames: int, _time: Any, status: Any) -> None:
        now = time.monotonic()
        self._last_callback = now
        if status.input_overflow:
            self._input_overflows += 1
        with self._cond:
            ring = self._ring
            rate = self._rate
            if ring is None or rate is None:
                return
            if self._resync:
                self._resync = False
                heard = now - frames / rate - self._latency  # when this block's first frame was
                if self._origin is None:
                    self._origin = heard
                    self._started_at = (datetime.now(UTC)
                                        - timedelta(seconds=now - heard))
                else:  # silence for the wall time the device was away
                    gap = round((heard - self._origin) * rate) - ring.position
                    if gap > 0:
                        ring.add_gap(gap)
                        self._gap_frames += gap
            ring.write(indata)
            self._cond.notify_all()

    # -- the supervisor

    def _open(self) -> Any:
        sd = devices.portaudio()
        device = self._spec.portaudio
        with devices.opening(self._spec):
            rate = self._rate
            if rate is None:
                rate = self._device_rate(sd, device)
            # latency="high": a few hundred ms more delay costs nothing (the recogniser works
            # seconds behind) and makes overflows in the driver rarer.
            stream = sd.InputStream(device=device, channels=self.channels, samplerate=rate,
                                    dtype="float32", blocksize=int(rate * self.block_s),
                                    latency="high", callback=self._callback,
                                    finished_callback=self._ended.set)
        if self._rate is None:
            self._rate = rate
            self._ring = _Ring(max(int(rate * self.ring_s), int(rate * self.block_s) * 2),
                               self.channels)
            if rate != SAMPLE_RATE:
                self._resampler = _Resampler(rate, self.channels)
                logger.info("%s: device %r records at %d Hz; resampling to %d Hz",
                            self.window_id, self.device, rate, SAMPLE_RATE)
        self._latency = float(stream.latency)  # dates the first frame of each stream
        return stream

    def _device_rate(self, sd: Any, device: str | int) -> int:
        try:
            sd.check_input_settings(device=device, channels=self.channels, dtype="float32",
                                    samplerate=self.samplerate)
            return self.samplerate
        except sd.PortAudioError:
            info = sd.query_devices(device, "input")
            rate = int(info["default_samplerate"])
            logger.info("%s: device %r cannot record at %d Hz; opening at its default %d Hz",
                        self.window_id, self.device, self.samplerate, rate)
            return rate

    def _close(self, stream: Any) -> None:
        """Abort, not stop: stop() drains and never returns on a stream whose PulseAudio source
        was unloaded. Bounded as well, so a driver that hangs cannot hang the supervisor."""

        def close() -> None:
            for action in (stream.abort, stream.close):
                try:
                    action()
                except Exception as e:  # a dead device may refuse either
                    logger.debug("%s: %s", action.__name__, e)

        closer = threading.Thread(target=close, daemon=True)
        closer.start()
        closer.join(timeout=5)
        if closer.is_alive():
            logger.warning("%s: PortAudio did not close the stream in 5 s; abandoning it",
                           self.window_id)
        devices.closed()

    def _supervise(self) -> None:
        delay = self.reopen_backoff_s
        opened_once = False
        while not self._stopping.is_set():
            try:
                stream = self._open()
            except Exception as e:  # PortAudioError, ValueError (no such device), …
                problem = f"无法打开麦克风 (cannot open audio device) {self.device!r}: {e}"
                if isinstance(e, ValueError):  # not in PortAudio's list: plugged in since?
                    devices.refresh_devices()
            else:
                if opened_once:
                    self._reopens += 1
                opened_once = True
                try:
                    outcome = self._watch(stream)
                finally:
                    self._close(stream)
                if outcome is None:
                    return
                problem, delivered = outcome
                if delivered:  # it worked for a while: back-off starts over
                    delay = self.reopen_backoff_s
            self._health.report(HealthState.DOWN, f"{problem}；{delay:.0f} 秒后重连 "
                                           f"(reopening in {delay:.1f} s)")
            logger.warning("%s: %s; reopening in %.1f s", self.window_id, problem, delay)
            if self._stopping.wait(delay):
                return
            delay = min(self.max_backoff_s, delay * 2)

    def _watch(self, stream: Any) -> tuple[str, bool] | None:
        """Run `stream` until it fails, returning (the problem, whether it delivered audio
        first), or until capture stops (None)."""
        with self._cond:
            self._resync = True
        self._ended.clear()
        opened = time.monotonic()
        self._last_callback = 0.0
        stream.start()
        delivered = False
        dropped_seen = 0
        dropping_since = 0.0
        poll = min(0.1, self.stall_s / 4)
        while not self._stopping.wait(poll):
            now = time.monotonic()
            last = self._last_callback
            if last >= opened and not delivered:
                delivered = True
                self._health.report(HealthState.OK, f"麦克风正常 (receiving audio): {self.device}")
            if self._ended.is_set() or not stream.active:
                return f"音频流中断 (audio stream ended): {self.device}", delivered
            if now - max(last, opened) > self.stall_s:
                return (f"麦克风无音频 (no audio for {self.stall_s:.0f} s): {self.device}",
                        delivered)
            with self._cond:
                dropped = self._ring.dropped if self._ring is not None else 0
            if dropped > dropped_seen:
                dropped_seen, dropping_since = dropped, now
                lost = dropped / self._rate_or_default()
                self._health.report(HealthState.DEGRADED,
                                    f"读取不及时，丢弃音频 (reader behind, "
                                    f"{lost:.1f} s of audio dropped so far)")
            elif (self._health.state is HealthState.DEGRADED
                  and now - dropping_since > 2 * self.block_s):
                self._health.report(HealthState.OK, "读取恢复 (reader caught up)")
        return None


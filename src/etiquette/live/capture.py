"""Audio in for the live pipeline: a microphone through PortAudio, or a recording replayed.

Both are `AudioSource`s: float32 blocks of shape (frames, channels) at 16 kHz
(`records.SAMPLE_RATE`), in arrival order, with no silent gaps. Sample n of a source was heard
at `stats.started_at + n / 16000` s, so the engine maps sample counts to absolute UTC times:
a microphone that was down (or a reader that fell behind) is delivered as silence of the same
length, counted in the stats, rather than skipped.

Naming a microphone (`device`, as in a site.yaml):
  - a PortAudio input by index, or by a part of its name as `etiquette devices` prints it
    (sounddevice matches substrings: "USB Audio", "hw:1,0"); an ALSA card's name survives
    replugging where its number may not.
  - "pulse:<source>": the PulseAudio source <source> (`pactl list short sources`) through
    ALSA's "pulse" device (Debian's libasound2-plugins). Several windows can each name their
    own source. Plain "pulse" records PulseAudio's default source (or $PULSE_SOURCE).
    Set `rescue-streams = no` in the PulseAudio daemon.conf: otherwise, when a window's source
    disappears, PulseAudio moves its recording to the default source, possibly another
    window's microphone, and nothing here can notice.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from etiquette.core.records import SAMPLE_RATE
from etiquette.health import HealthCallback, HealthReporter, HealthState
from etiquette.speech.audio import read_audio

logger = logging.getLogger("etiquette.live.capture")

MIN_DBFS = -120.0  # the level of digital silence (log of zero), so metrics stay finite
PULSE_PREFIX = "pulse:"


# ---------------------------------------------------------------- the interface


@dataclass(frozen=True)
class CaptureStats:
    """What the metrics show about one source. Frame counts are at SAMPLE_RATE."""

    samples: int  # frames delivered so far, silence for gaps included: the stream time
    started_at: datetime | None  # UTC wall time of sample 0; None until the first block
    channel_dbfs: tuple[float, ...]  # RMS level of each channel in the last block delivered
    overflow_frames: int = 0  # lost because the reader fell behind a full ring (now silence)
    input_overflows: int = 0  # blocks PortAudio flagged as overflowed in the driver
    gap_frames: int = 0  # silence standing in for the wall time a device was down
    reopens: int = 0  # streams reopened after a device dropped
    state: HealthState = HealthState.OK

    @property
    def level_dbfs(self) -> float:
        """The loudest channel of the last block."""
        return max(self.channel_dbfs, default=MIN_DBFS)

    @property
    def stream_time_s(self) -> float:
        return self.samples / SAMPLE_RATE

    def time_of(self, sample: int) -> datetime | None:
        """The UTC wall time at which sample `sample` (counted from 0) was heard."""
        if self.started_at is None:
            return None
        return self.started_at + timedelta(seconds=sample / SAMPLE_RATE)


class AudioSource(Protocol):
    """What the live engine reads audio from, one per window."""

    window_id: str
    channels: int  # columns of every block

    def start(self) -> None: ...

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next block, float32 (frames, channels) at SAMPLE_RATE; None after `timeout_s`
        without audio, or once `finished`."""
        ...

    def stop(self) -> None: ...

    @property
    def finished(self) -> bool:
        """True once every block has been read and no more will come."""
        ...

    @property
    def stats(self) -> CaptureStats: ...


def channel_dbfs(block: np.ndarray) -> tuple[float, ...]:
    if len(block) == 0:
        return tuple(MIN_DBFS for _ in range(block.shape[1]))
    rms = np.sqrt(np.mean(np.square(block, dtype=np.float64), axis=0))
    return tuple(max(MIN_DBFS, 20.0 * math.log10(r)) if r > 0 else MIN_DBFS for r in rms)


# ---------------------------------------------------------------- PortAudio


class AudioBackendError(RuntimeError):
    """PortAudio (the library sounddevice loads) is missing from this machine."""


def _sounddevice() -> Any:
    # Imported on first use: a file replay or a batch run must not need PortAudio installed.
    try:
        import sounddevice
    except OSError as e:
        raise AudioBackendError(f"未找到 PortAudio 库 (PortAudio library not found): {e}; "
                                f"Debian: apt-get install libportaudio2") from e
    return sounddevice


_open_lock = threading.Lock()  # PortAudio opens/closes, and PULSE_SOURCE, one stream at a time
_open_streams = 0


def refresh_devices() -> bool:
    """Re-scan PortAudio's device list (it is read once, when PortAudio starts), so that a
    microphone plugged in or a sound server started since then can be opened.

    Re-scanning restarts PortAudio, which would close every stream of the process, so it is
    done only while none is open. Returns whether it was done."""
    sd = _sounddevice()
    with _open_lock:
        if _open_streams:
            return False
        sd._terminate()
        sd._initialize()
        return True


@dataclass(frozen=True)
class AudioInput:
    index: int  # PortAudio's, valid until the device list changes
    name: str
    channels: int  # most input channels
    default_samplerate: float
    hostapi: str  # "ALSA", "OSS", …


@dataclass(frozen=True)
class VideoInput:
    path: str  # /dev/videoN: what a site.yaml names as the camera
    name: str | None  # the driver's name for it, where the kernel gives one


def list_audio_inputs() -> list[AudioInput]:
    """Every PortAudio device with at least one input channel.

    Raises:
      AudioBackendError: PortAudio itself is missing.
    """
    sd = _sounddevice()
    apis = [str(api["name"]) for api in sd.query_hostapis()]
    return [AudioInput(int(d["index"]), str(d["name"]), int(d["max_input_channels"]),
                       float(d["default_samplerate"]), apis[int(d["hostapi"])])
            for d in sd.query_devices() if int(d["max_input_channels"]) > 0]


def list_pulse_sources(timeout_s: float = 5.0) -> list[str]:
    """Names of the PulseAudio sources a "pulse:<source>" device can record (no sink monitors);
    empty without `pactl` or a running sound server."""
    pactl = shutil.which("pactl")
    if pactl is None:
        return []
    try:
        out = subprocess.run([pactl, "list", "short", "sources"], capture_output=True, text=True,
                             timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    names = [line.split("\t")[1] for line in out.stdout.splitlines() if line.count("\t") >= 1]
    return [n for n in names if not n.endswith(".monitor")]


def list_video_inputs(dev: Path = Path("/dev"),
                      sysfs: Path = Path("/sys/class/video4linux")) -> list[VideoInput]:
    """V4L2 capture devices (/dev/videoN), named from sysfs where the kernel exposes it."""
    found = []
    for path in sorted(dev.glob("video*"), key=lambda p: (len(p.name), p.name)):
        if not path.name[len("video"):].isdigit():
            continue
        name_file = sysfs / path.name / "name"
        try:
            name: str | None = name_file.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            name = None
        found.append(VideoInput(str(path), name or None))
    return found


@dataclass(frozen=True)
class DeviceSpec:
    portaudio: str | int  # what sounddevice opens
    pulse_source: str | None  # PULSE_SOURCE while opening it


def parse_device(device: str | int) -> DeviceSpec:
    if isinstance(device, int):
        return DeviceSpec(device, None)
    device = device.strip()
    if device.isdigit():
        return DeviceSpec(int(device), None)
    if device.startswith(PULSE_PREFIX) and device[len(PULSE_PREFIX):]:
        return DeviceSpec("pulse", device[len(PULSE_PREFIX):])
    return DeviceSpec(device, None)


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
        import av

        self._rate = rate
        self._av = av
        self._channels = [av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
                          for _ in range(channels)]

    def __call__(self, block: np.ndarray) -> np.ndarray:
        outs = []
        for c, resampler in enumerate(self._channels):
            frame = self._av.AudioFrame.from_ndarray(
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
        self._spec = parse_device(device)
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
        global _open_streams
        sd = _sounddevice()
        device = self._spec.portaudio
        with _open_lock:
            saved = os.environ.get("PULSE_SOURCE")
            if self._spec.pulse_source is not None:
                # libpulse reads PULSE_SOURCE when the ALSA "pulse" device opens, so each
                # window can name its own source; the lock keeps other opens from seeing it.
                os.environ["PULSE_SOURCE"] = self._spec.pulse_source
            try:
                rate = self._rate
                if rate is None:
                    rate = self._device_rate(sd, device)
                # latency="high": a few hundred ms more delay costs nothing (the recogniser
                # works seconds behind) and makes overflows in the driver rarer.
                stream = sd.InputStream(device=device, channels=self.channels, samplerate=rate,
                                        dtype="float32", blocksize=int(rate * self.block_s),
                                        latency="high", callback=self._callback,
                                        finished_callback=self._ended.set)
            finally:
                if self._spec.pulse_source is not None:
                    if saved is None:
                        os.environ.pop("PULSE_SOURCE", None)
                    else:
                        os.environ["PULSE_SOURCE"] = saved
            _open_streams += 1
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
        global _open_streams

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
        with _open_lock:
            _open_streams -= 1

    def _supervise(self) -> None:
        delay = self.reopen_backoff_s
        opened_once = False
        while not self._stopping.is_set():
            try:
                stream = self._open()
            except Exception as e:  # PortAudioError, ValueError (no such device), …
                problem = f"无法打开麦克风 (cannot open audio device) {self.device!r}: {e}"
                if isinstance(e, ValueError):  # not in PortAudio's list: plugged in since?
                    refresh_devices()
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
                self._health.report(HealthState.DEGRADED, f"读取不及时，丢弃音频 (reader behind, "
                                                   f"{lost:.1f} s of audio dropped so far)")
            elif self._health.state is HealthState.DEGRADED and now - dropping_since > 2 * self.block_s:
                self._health.report(HealthState.OK, "读取恢复 (reader caught up)")
        return None


# ---------------------------------------------------------------- a recording


class FileReplay:
    """A recording delivered as a microphone would deliver it: block by block, each when its
    last sample is due in real time (or at once with `realtime=False`). With `loop`, it plays
    again after `gap_s` of silence, forever; this is how the demo replays recordings_sample/
    and how live behaviour is tested. `start_s` begins it that far into the file (into its
    loop gap, past the file's end), as a microphone switched on mid-conversation would.

    Raises (at construction):
      AudioError: the file cannot be decoded.
    """

    def __init__(self, window_id: str, path: str | Path, realtime: bool = True,
                 loop: bool = False, gap_s: float = 2.0, block_s: float = 0.1,
                 speed: float = 1.0, start_s: float = 0.0) -> None:
        self.window_id = window_id
        self.path = Path(path)
        self.realtime = realtime
        self.speed = speed  # > 1: hours of a day in minutes (soak tests); stream time stays audio time
        self.loop = loop
        decoded = read_audio(self.path)
        self._audio = np.stack(decoded.channels, axis=1).astype(np.float32, copy=False)
        self.channels = self._audio.shape[1]
        self._period = len(self._audio) + (round(gap_s * SAMPLE_RATE) if loop else 0)
        self._block = max(1, round(block_s * SAMPLE_RATE))
        self._first = round(start_s * SAMPLE_RATE)  # timeline position of the first sample read
        self._pos = self._first
        self._origin: float | None = None
        self._started_at: datetime | None = None
        self._stopping = threading.Event()
        self._dbfs = tuple(MIN_DBFS for _ in range(self.channels))

    def start(self) -> None:
        self._origin = time.monotonic()
        self._started_at = datetime.now(UTC)

    def read(self, timeout_s: float) -> np.ndarray | None:
        if self._origin is None:
            raise RuntimeError("replay not started")
        if self.finished:
            return None
        end = self._pos + self._block
        if not self.loop:
            end = min(end, len(self._audio))
        if self.realtime:
            wait = self._origin + (end - self._first) / SAMPLE_RATE / self.speed - time.monotonic()
            if wait > timeout_s:
                self._stopping.wait(max(0.0, timeout_s))
                return None
            if wait > 0 and self._stopping.wait(wait):
                return None
        block = self._slice(self._pos, end)
        self._pos = end
        self._dbfs = channel_dbfs(block)
        return block

    def _slice(self, start: int, end: int) -> np.ndarray:
        """Frames [start, end) of the endless timeline: the file, `gap_s` of silence, again."""
        out = np.zeros((end - start, self.channels), np.float32)
        pos = start
        while pos < end:
            offset = pos % self._period
            n = min(end - pos, self._period - offset)
            if offset < len(self._audio):
                n = min(n, len(self._audio) - offset)
                out[pos - start:pos - start + n] = self._audio[offset:offset + n]
            pos += n
        return out

    def stop(self) -> None:
        self._stopping.set()

    @property
    def finished(self) -> bool:
        return self._stopping.is_set() or (not self.loop and self._pos >= len(self._audio))

    @property
    def stats(self) -> CaptureStats:
        return CaptureStats(self._pos - self._first, self._started_at, self._dbfs)

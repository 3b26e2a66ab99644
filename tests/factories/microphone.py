"""A microphone without hardware: a private PulseAudio server and pipe sources fed in real time.

PortAudio reaches PulseAudio through ALSA's "pulse" device (libasound2-plugins), and
`MicrophoneCapture(device="pulse:winN")` records source winN exactly as it would a microphone;
a site.yaml names a PulseAudio source the same way. (Plain `device="pulse"` with
PULSE_SOURCE=winN in the environment works too, but only one source per process.)
The `pulse` and `pipe_source` fixtures (tests/conftest.py) hand these to the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from etiquette.core.records import SAMPLE_RATE
from etiquette.speech.devices import refresh_devices

from factories.system import unavailable

CHUNK_S = 0.1

# Our own configuration, not Debian's default.pa: only the socket and the sources a test asks
# for. daemon.conf turns stream rescue off, or unloading a window's source would move its
# recording to another source (another window's audio) instead of dropping it.
DAEMON_CONF = "rescue-streams = no\nexit-idle-time = -1\nflat-volumes = no\n"


@dataclass
class PulseServer:
    root: Path
    socket: Path
    process: subprocess.Popen[bytes]

    @property
    def server(self) -> str:
        return f"unix:{self.socket}"

    def pactl(self, *args: str) -> str:
        out = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10,
                             env={**os.environ, "PULSE_SERVER": self.server})
        if out.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout


class Feeder(threading.Thread):
    """Writes `audio` (frames × channels, float32) into a pipe source's fifo as s16le in 100 ms
    chunks at real-time pace, after `lead_s` of silence, then silence until stopped: a
    microphone in a quiet room. (A pipe source with no writer delivers nothing at all, which a
    capture reads as a stalled device.) If the source is unloaded and loaded again, it opens
    the new fifo and goes on where the clock says it should be."""

    def __init__(self, fifo: Path, audio: np.ndarray, lead_s: float = 0.0) -> None:
        super().__init__(daemon=True, name=f"feeder-{fifo.stem}")
        self.fifo = fifo
        lead = np.zeros((round(lead_s * SAMPLE_RATE), audio.shape[1]), np.float32)
        self.pcm = np.concatenate([lead, audio])
        self.audio_start = len(lead)  # frame of the timeline where `audio` starts
        self.chunk = round(CHUNK_S * SAMPLE_RATE)
        self.stopping = threading.Event()
        self.played = threading.Event()  # all of `audio` has been written
        self.frames_written = 0

    def quantised(self) -> np.ndarray:
        """`audio` as the fifo carries it (16-bit), float32 as PortAudio delivers it."""
        return (self._s16(self.pcm[self.audio_start:]).astype(np.float32) / 32768.0)

    @staticmethod
    def _s16(x: np.ndarray) -> np.ndarray:
        return np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")

    def _open(self) -> int | None:
        while not self.stopping.is_set():
            try:  # non-blocking: no reader yet (source unloaded) must not hang the thread
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
                os.set_blocking(fd, True)
                return fd
            except OSError:
                self.stopping.wait(0.05)
        return None

    def run(self) -> None:
        origin = time.monotonic()
        position = 0  # frames of the timeline due so far
        fd = self._open()
        while fd is not None and not self.stopping.is_set():
            if position < len(self.pcm):
                chunk = self.pcm[position:position + self.chunk]
            else:
                self.played.set()
                chunk = np.zeros((self.chunk, self.pcm.shape[1]), np.float32)
            try:
                os.write(fd, self._s16(chunk).tobytes())
                self.frames_written += len(chunk)
            except OSError:  # unplugged: wait for it, and lose what it would have heard
                os.close(fd)
                fd = self._open()
                position = round((time.monotonic() - origin) * SAMPLE_RATE)
                continue
            position += len(chunk)
            delay = origin + position / SAMPLE_RATE - time.monotonic()
            if delay > 0:
                self.stopping.wait(delay)
        if fd is not None:
            os.close(fd)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)


@dataclass
class PipeSource:
    """A PulseAudio source `name` reading PCM from `fifo`: one window's microphone."""

    pulse: PulseServer
    name: str
    fifo: Path
    channels: int
    module: int | None = None
    feeders: list[Feeder] = field(default_factory=list)

    @property
    def device(self) -> str:
        return f"pulse:{self.name}"

    def load(self) -> None:
        """Plug the microphone in (again)."""
        self.module = int(self.pulse.pactl(
            "load-module", "module-pipe-source", f"source_name={self.name}", f"file={self.fifo}",
            "format=s16le", f"rate={SAMPLE_RATE}", f"channels={self.channels}").strip())

    def unload(self) -> None:
        """Unplug it: the source disappears, with any stream recording it."""
        if self.module is not None:
            self.pulse.pactl("unload-module", str(self.module))
            self.module = None

    def feed(self, audio: np.ndarray, lead_s: float = 0.0) -> Feeder:
        if audio.ndim == 1:
            audio = audio[:, None]
        assert audio.shape[1] == self.channels
        feeder = Feeder(self.fifo, audio.astype(np.float32), lead_s)
        self.feeders.append(feeder)
        feeder.start()
        return feeder

    def close(self) -> None:
        for feeder in self.feeders:
            feeder.stop()
        try:
            self.unload()
        except RuntimeError:
            pass


def _start_pulse(root: Path) -> PulseServer:
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        unavailable("PulseAudio is not installed: `make system-deps` installs Debian's "
                    "pulseaudio and pulseaudio-utils")
    home = root / "home"
    (home / ".config" / "pulse").mkdir(parents=True)
    (home / ".config" / "pulse" / "daemon.conf").write_text(DAEMON_CONF)
    socket = root / "native"
    config = root / "server.pa"
    config.write_text(f"load-module module-native-protocol-unix auth-anonymous=1 "
                      f"socket={socket}\n")
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "PULSE_RUNTIME_PATH": str(root / "run"), "PULSE_STATE_PATH": str(root / "state")}
    # Our own child in the foreground (not -D): the socket is private to this test session, so
    # it never meets another session's server, and teardown ends exactly this process.
    # As root it warns that it is meant for --system mode, and runs.
    log = (root / "pulse.log").open("wb")
    process = subprocess.Popen(
        ["pulseaudio", "-n", "-F", str(config), "--daemonize=no", "--exit-idle-time=-1",
         "--realtime=no", "--high-priority=no", "--use-pid-file=no", "--log-target=stderr"],
        env=env, stdout=log, stderr=log)
    pulse = PulseServer(root, socket, process)
    for _ in range(100):  # bounded: 10 s
        if process.poll() is not None:
            break
        if socket.exists():
            try:
                pulse.pactl("info")
                return pulse
            except RuntimeError:
                pass
        time.sleep(0.1)
    process.kill()
    process.wait(timeout=10)
    unavailable(f"PulseAudio did not start: {(root / 'pulse.log').read_text(errors='replace')}")
    raise AssertionError("unreachable")


@contextmanager
def pulse_server() -> Iterator[PulseServer]:
    """A PulseAudio server that this process's PortAudio talks to while the block runs."""
    if not list(Path("/usr/share/alsa/alsa.conf.d").glob("*pulse*")):
        unavailable("ALSA's PulseAudio plugin is not installed: `make system-deps` installs "
                    "Debian's libasound2-plugins")
    root = Path(tempfile.mkdtemp(prefix="etiquette-pulse-"))
    pulse = _start_pulse(root)
    saved = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = pulse.server
    # PortAudio lists ALSA's "pulse" device only if it could reach a server when it started.
    refresh_devices()
    try:
        yield pulse
    finally:
        if saved is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = saved
        pulse.process.terminate()
        try:
            pulse.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pulse.process.kill()
            pulse.process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def pipe_sources(pulse: PulseServer) -> Iterator[Callable[..., PipeSource]]:
    """Makes loaded pipe sources win1, win2, … (`channels`: 2 by default); each is unloaded
    and its feeders stopped when the block ends."""
    made: list[PipeSource] = []

    def make(channels: int = 2) -> PipeSource:
        name = f"win{len(made) + 1}"
        source = PipeSource(pulse, name, pulse.root / f"{name}.fifo", channels)
        source.load()
        made.append(source)
        return source

    try:
        yield make
    finally:
        for source in made:
            source.close()

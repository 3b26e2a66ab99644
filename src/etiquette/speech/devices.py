"""PortAudio's microphones: loading the library, naming an input, listing and re-scanning them.

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

Every stream of the process is opened through `opening` and counted closed by `closed`:
PortAudio's device list can only be re-scanned while no stream is open.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

PULSE_PREFIX = "pulse:"


class AudioBackendError(RuntimeError):
    """PortAudio (the library sounddevice loads) is missing from this machine."""


def portaudio() -> Any:
    """The sounddevice module. Imported on first use: a file replay or a batch run must not
    need PortAudio installed.

    Raises:
      AudioBackendError: PortAudio itself is missing.
    """
    try:
        import sounddevice
    except OSError as e:
        raise AudioBackendError(f"未找到 PortAudio 库 (PortAudio library not found): {e}; "
                                f"Debian: apt-get install libportaudio2") from e
    return sounddevice


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


# ---------------------------------------------------------------- streams of this process


_open_lock = threading.Lock()  # PortAudio opens/closes, and PULSE_SOURCE, one stream at a time
_open_streams = 0


@contextmanager
def opening(spec: DeviceSpec) -> Iterator[None]:
    """Held while one stream of `spec` is opened: no other stream opens or closes, nor does the
    device list change, meanwhile. The stream counts as open if the block returns; `closed`
    counts it closed."""
    global _open_streams
    with _open_lock:
        saved = os.environ.get("PULSE_SOURCE")
        if spec.pulse_source is not None:
            # libpulse reads PULSE_SOURCE when the ALSA "pulse" device opens, so each window
            # can name its own source; the lock keeps other opens from seeing it.
            os.environ["PULSE_SOURCE"] = spec.pulse_source
        try:
            yield
        finally:
            if spec.pulse_source is not None:
                if saved is None:
                    os.environ.pop("PULSE_SOURCE", None)
                else:
                    os.environ["PULSE_SOURCE"] = saved
        _open_streams += 1


def closed() -> None:
    """A stream opened under `opening` is closed (or abandoned to a driver that hangs)."""
    global _open_streams
    with _open_lock:
        _open_streams -= 1


def refresh_devices() -> bool:
    """Re-scan PortAudio's device list (it is read once, when PortAudio starts), so that a
    microphone plugged in or a sound server started since then can be opened.

    Re-scanning restarts PortAudio, which would close every stream of the process, so it is
    done only while none is open. Returns whether it was done."""
    sd = portaudio()
    with _open_lock:
        if _open_streams:
            return False
        sd._terminate()
        sd._initialize()
        return True


# ---------------------------------------------------------------- listing


@dataclass(frozen=True)
class AudioInput:
    index: int  # PortAudio's, valid until the device list changes
    name: str
    channels: int  # most input channels
    default_samplerate: float
    hostapi: str  # "ALSA", "OSS", …


def list_audio_inputs() -> list[AudioInput]:
    """Every PortAudio device with at least one input channel.

    Raises:
      AudioBackendError: PortAudio itself is missing.
    """
    sd = portaudio()
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

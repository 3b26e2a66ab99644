"""Writing real media files for tests with PyAV (FFmpeg): any container, codec, rate and layout."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf

from factories import DATA


def speech(name: str) -> np.ndarray:
    """A short synthesized Mandarin utterance at 16 kHz (tests/data/{staff,citizen}.flac)."""
    audio, rate = sf.read(DATA / f"{name}.flac", dtype="float32")
    assert rate == 16000
    return audio


def mux_audio(out: Any, stream: Any, planar: np.ndarray) -> None:
    """Encode float channels at 16 kHz (channels × samples) into `stream` of container `out`."""
    layout = "mono" if len(planar) == 1 else "stereo"
    resampler = av.AudioResampler(format=stream.format.name if stream.format else "s16",
                                  layout=layout, rate=stream.rate)
    frame = av.AudioFrame.from_ndarray(planar.astype(np.float32), format="fltp", layout=layout)
    frame.sample_rate = 16000
    frame.time_base = Fraction(1, 16000)
    for chunk in resampler.resample(frame) + resampler.resample(None):
        for packet in stream.encode(chunk):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def write_media(path: Path, channels: list[np.ndarray], rate: int = 16000, codec: str | None = None,
                video: bool = False, container_options: dict[str, str] | None = None) -> Path:
    """Encode float channels (16 kHz) to `path`, resampled to `rate`, optionally with a video
    track; `container_options` go to the muxer (`{"movflags": "faststart"}`: an MP4's index
    first, as a recorder that finished the file writes it)."""
    codec = codec or {".wav": "pcm_s16le", ".flac": "flac", ".mp3": "libmp3lame", ".m4a": "aac",
                      ".ogg": "libopus", ".mp4": "aac", ".mkv": "libopus"}[path.suffix]
    layout = "mono" if len(channels) == 1 else "stereo"
    n = min(len(c) for c in channels)
    planar = np.stack([c[:n] for c in channels]).astype(np.float32)
    with av.open(str(path), "w", container_options=container_options or {}) as out:
        if video:
            vs = out.add_stream("mpeg4", rate=10)
            vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        stream = out.add_stream(codec, rate=48000 if codec == "libopus" else rate)
        stream.layout = layout
        mux_audio(out, stream, planar)
        if video:
            for k in range(int(n / 16000 * 10)):
                img = av.VideoFrame.from_ndarray(np.full((48, 64, 3), k % 255, np.uint8),
                                                 format="rgb24")
                img.pts = k
                for packet in vs.encode(img):
                    out.mux(packet)
            for packet in vs.encode(None):
                out.mux(packet)
    return path


# Muxer options for an MP4/M4A with its index first, as a recorder that finished the file has it
# (by default FFmpeg writes the index last, and a file cut short then has none).
FASTSTART = {"movflags": "faststart"}


def tone(seconds: float, seed: int = 0) -> np.ndarray:
    """`seconds` of a voice-like signal at 16 kHz (a wavering tone in a little noise): audio an
    encoder cannot squeeze to nothing, so that bytes stand for time."""
    t = np.arange(round(seconds * 16000)) / 16000
    rng = np.random.default_rng(seed)
    wave = 0.3 * np.sin(2 * np.pi * (220 + 30 * np.sin(2 * np.pi * 0.5 * t)) * t)
    return (wave + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def cut_short(path: Path, keep: float) -> Path:
    """`path` with only its first `keep` of bytes left (a fraction, or a byte count if > 1), as a
    copy interrupted or a recorder that died leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[:int(keep if keep > 1 else len(data) * keep)])
    return path


def garble(path: Path, at: float, length: int, seed: int = 0) -> Path:
    """`path` with `length` bytes of garbage written over it `at` that fraction of its size."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * at)
    data[start:start + length] = np.random.default_rng(seed).bytes(length)
    path.write_bytes(bytes(data))
    return path

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
                video: bool = False) -> Path:
    """Encode float channels (16 kHz) to `path`, resampled to `rate`, optionally with a video
    track."""
    codec = codec or {".wav": "pcm_s16le", ".flac": "flac", ".mp3": "libmp3lame", ".m4a": "aac",
                      ".ogg": "libopus", ".mp4": "aac", ".mkv": "libopus"}[path.suffix]
    layout = "mono" if len(channels) == 1 else "stereo"
    n = min(len(c) for c in channels)
    planar = np.stack([c[:n] for c in channels]).astype(np.float32)
    with av.open(str(path), "w") as out:
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

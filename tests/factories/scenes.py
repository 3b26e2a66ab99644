"""Real photos made into counter-camera scenes, the real detector, and short test videos.

The scenes come from `recordings_sample/make_counter_video.py`, the script that makes the
sample video, so tests, sample and benchmark look at the same pictures.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from factories import SAMPLES
from factories.media import mux_audio

sys.path.insert(0, str(SAMPLES))

import make_counter_video as counter  # noqa: E402

from etiquette.core.presence.rules import DetectorSettings  # noqa: E402
from etiquette.vision.detector import Detector, create_detector  # noqa: E402


@functools.cache
def scene() -> counter.Scene:
    return counter.staff_scene()


def detector() -> Detector:
    return create_detector(DetectorSettings(), 1)  # cached: one model for the whole session


def photo(name: str) -> np.ndarray:
    """A scikit-image photo as a BGR frame."""
    from skimage import data

    img = getattr(data, name)()
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR if img.ndim == 2 else cv2.COLOR_RGB2BGR)


def face_of_camera_man() -> np.ndarray:
    """The face and shoulders of scikit-image's camera man, to play a citizen."""
    return photo("camera")[60:260, 130:330]


def write_video(path: Path, frame_at: Callable[[float], np.ndarray], duration_s: float,
                fps: int = 4, audio: np.ndarray | None = None, faststart: bool = False) -> Path:
    """An H.264 file of `frame_at(t)`, optionally with a mono 16 kHz audio track (AAC).

    faststart: the index goes in front, as in files made for streaming; otherwise at the end,
    as recorders write it (a file cut short then loses its index).
    """
    with av.open(str(path), "w", options={"movflags": "+faststart"} if faststart else {}) as out:
        vs = out.add_stream("libx264", rate=fps)
        first = frame_at(0.0)
        vs.width, vs.height, vs.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        vs.options = {"crf": "30", "preset": "veryfast"}
        vs.codec_context.time_base = Fraction(1, fps)
        aus = out.add_stream("aac", rate=16000) if audio is not None else None
        if aus is not None:
            aus.layout = "mono"
        for k in range(round(duration_s * fps)):
            frame = av.VideoFrame.from_ndarray(frame_at(k / fps), format="bgr24")
            frame.pts = k
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        if aus is not None and audio is not None:
            mux_audio(out, aus, audio[None])
    return path


def timeline_video(path: Path, spans: list[tuple[str, float, float]], fps: int = 4,
                   audio: np.ndarray | None = None, faststart: bool = False) -> Path:
    """A counter video from ('present' | 'absent', start, end) spans of the staff scene."""
    s = scene()
    end = spans[-1][2]

    def frame_at(t: float) -> np.ndarray:
        state = next((st for st, a, b in spans if a <= t < b), spans[-1][0])
        return s.present if state == "present" else s.empty

    return write_video(path, frame_at, end, fps, audio, faststart)

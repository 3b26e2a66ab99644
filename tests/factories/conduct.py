"""Counter frames for 睡岗 and 聚集, made from real photos (scikit-image's), and their videos.

The counter view is the sample video's (`make_counter_video.staff_scene()`: the astronaut at
the seat, 640×480). On it:
  bowed: her head bowed to the desk: her face covered by the top of her own head (the hair
    and the suit above her brow, stretched down over the face), then softened, as a camera
    above the window sees the crown of a head resting on the desk;
  colleague: the camera man's head and shoulders (scikit-image's `camera`) pasted beside her,
    inside the staff region (a second staff member at the window);
  citizen: the same photo pasted at the bottom of the frame, across the counter, outside the
    staff region (`STAFF_REGION` covers the upper part of the frame).
The benchmark (`benchmarks/presence.py`) and the tests build their frames here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from factories import SAMPLES

sys.path.insert(0, str(SAMPLES))

import make_counter_video as counter  # noqa: E402

# The staff side of the counter: the upper 70 % of the frame; below it, across the counter,
# is where a citizen's face shows.
STAFF_REGION = ((0.0, 0.0), (1.0, 0.0), (1.0, 0.7), (0.0, 0.7))
COLLEAGUE_AT = (540, 150)  # centre of the pasted colleague, inside the staff region
CITIZEN_AT = (520, 400)  # centre of the pasted citizen, across the counter


def _camera_man() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)[60:260, 130:330]


def bowed(scene: counter.Scene, frame: np.ndarray) -> np.ndarray:
    """Her head down on the desk: the face hidden under the top of her head."""
    x1, y1, x2, y2 = scene.face
    out = frame.copy()
    top = frame[max(0, y1 - 40):y1 + 10, x1:x2]
    out[y1:y2, x1:x2] = cv2.GaussianBlur(cv2.resize(top, (x2 - x1, y2 - y1)), (0, 0), 4)
    return out


def paste(frame: np.ndarray, centre: tuple[int, int], size: int = 170) -> np.ndarray:
    """The camera man's head and shoulders, `size` px square, centred at `centre`."""
    out = frame.copy()
    patch = cv2.resize(_camera_man(), (size, size), interpolation=cv2.INTER_AREA)
    h, w = out.shape[:2]
    x0 = min(max(0, centre[0] - size // 2), w - size)
    y0 = min(max(0, centre[1] - size // 2), h - size)
    out[y0:y0 + size, x0:x0 + size] = patch
    return out


def frame_for(scene: counter.Scene, state: str) -> np.ndarray:
    """A frame of one state: present, absent, bowed (the face hidden, the head where it is
    when she sits up), reading (the same picture), asleep (her head on folded arms on the
    desk, `factories.poses`), asleep_citizen (so, a citizen waiting), gathering, passing (a
    colleague, briefly), citizen (at the window while she is at the seat), bowed_citizen
    (bowed, a citizen waiting)."""
    from factories.poses import folded_arms

    frames: dict[str, Callable[[], np.ndarray]] = {
        "asleep": lambda: folded_arms(0.0),
        "asleep_citizen": lambda: paste(folded_arms(0.0), CITIZEN_AT),
        "present": lambda: scene.present,
        "absent": lambda: scene.empty,
        "bowed": lambda: bowed(scene, scene.present),
        "reading": lambda: bowed(scene, scene.present),
        "gathering": lambda: paste(scene.present, COLLEAGUE_AT),
        "passing": lambda: paste(scene.present, COLLEAGUE_AT),
        "citizen": lambda: paste(scene.present, CITIZEN_AT),
        "bowed_citizen": lambda: paste(bowed(scene, scene.present), CITIZEN_AT),
    }
    return frames[state]()


def conduct_video(path: Path, spans: list[tuple[str, float, float]], fps: int = 2) -> Path:
    """A counter video from (state, start, end) spans (states of `frame_for`)."""
    from factories.scenes import scene, write_video

    s = scene()
    cache: dict[str, np.ndarray] = {}

    def frame_at(t: float) -> np.ndarray:
        state = next((st for st, a, b in spans if a <= t < b), spans[-1][0])
        if state not in cache:
            cache[state] = frame_for(s, state)
        return cache[state]

    return write_video(path, frame_at, spans[-1][2], fps)

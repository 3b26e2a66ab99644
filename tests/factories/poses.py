"""Counter frames of work and sleep that last longer than 睡岗's threshold, from real photos.

The counter view is the sample video's (`make_counter_video.staff_scene()`: scikit-image's
astronaut at the seat, 640×480). Her head is cut out along an ellipse and put back in
another pose; what shows of a head seen from above or behind is her own hair. Every state is
a function of time, because work moves (the head follows the lines of a page, a form fills
with writing) and sleep barely does (breathing: a slow 1–2 px rise and fall).

Must not fire (working):
  reading: head bowed over a document on the desk (the crown of her head toward the camera,
    or, second look, her face blurred as in the sample), the head moving down the page and
    back, the page turned every 15 s;
  writing: head bowed over a form whose lines fill with strokes, the head moving along the line;
  keyboard: looking down at a keyboard: the face seen from above, foreshortened;
  turned_away: the back of her head toward the camera (at the printer or the cabinet behind);
  masked: upright at work with a surgical mask over nose and mouth.
Must fire (asleep):
  folded_arms: her head down on her folded arms on the desk, lower than when sitting up;
  tilted_back: her head tilted back in the chair, the face seen from below.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable

import cv2
import numpy as np

from factories import SAMPLES

sys.path.insert(0, str(SAMPLES))

import make_counter_video as counter  # noqa: E402

HEAD_C = (292, 92)  # centre of her head in the counter frame
HEAD_AX = (74, 86)  # its half width and half height


def _ellipse_alpha(w: int, h: int, feather: float = 4.0) -> np.ndarray:
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, 1.0, cv2.FILLED)
    return cv2.GaussianBlur(alpha, (0, 0), feather)[..., None]


def _blend(frame: np.ndarray, patch: np.ndarray, alpha: np.ndarray,
           centre: tuple[float, float]) -> np.ndarray:
    """`patch` over `frame` at `centre` through `alpha` (H×W×1), clipped at the frame's edges."""
    out = frame.astype(np.float32)
    h, w = patch.shape[:2]
    x0, y0 = round(centre[0] - w / 2), round(centre[1] - h / 2)
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(out.shape[1], x0 + w), min(out.shape[0], y0 + h)
    p = patch[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0].astype(np.float32)
    a = alpha[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    out[fy0:fy1, fx0:fx1] = a * p + (1 - a) * out[fy0:fy1, fx0:fx1]
    return out.astype(np.uint8)


_scene = functools.cache(counter.staff_scene)  # GrabCut and inpainting: seconds, so once


@functools.cache
def _parts() -> dict[str, np.ndarray]:
    """The headless body on the empty seat, her head, her hair, a sleeve band, paper."""
    from skimage import data

    s = _scene()
    cx, cy = HEAD_C
    ax, ay = HEAD_AX
    head_only = np.zeros(s.person.shape, np.uint8)
    cv2.ellipse(head_only, HEAD_C, HEAD_AX, 0, 0, 360, 255, cv2.FILLED)
    head_only[cy + 60:] = 0  # the neck ring and below stay with the body
    body = np.where(head_only[..., None] > 0, s.empty, s.present)
    torso = cv2.erode(s.person, np.ones((13, 13), np.uint8))  # without the mask's margin
    torso[:cy + 50] = 0  # from the neck ring down
    head = s.present[cy - ay:cy + ay, cx - ax:cx + ax].copy()
    hair = s.present[14:56, 250:336]  # the top of her head: hair only
    sleeve = s.present[300:360, 130:190]  # the orange suit
    page = cv2.cvtColor(data.page(), cv2.COLOR_GRAY2BGR)  # a scanned page of text
    return {"body": body, "torso": torso, "head": head, "hair": hair, "sleeve": sleeve,
            "page": page, "empty": s.empty, "present": s.present}


def _crown(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """The top or back of her head seen by the camera: her hair over an ellipse."""
    hair = cv2.resize(_parts()["hair"], (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(hair, (0, 0), 1.5), _ellipse_alpha(w, h)


def _paper(frame: np.ndarray, t: float, strokes: bool) -> np.ndarray:
    """A sheet on the desk in front of her: the page turned every 15 s, or a form being
    filled (`strokes`: one more line written every 3 s)."""
    out = frame.copy()
    page = _parts()["page"]
    x0, y0, w, h = 190, 385, 240, 90
    if strokes:
        sheet = np.full((h, w, 3), 235, np.uint8)
        for row in range(6):
            cv2.line(sheet, (10, 12 + 14 * row), (w - 10, 12 + 14 * row), (150, 150, 150), 1)
        for row in range(min(6, int(t // 3) + 1)):
            end = w - 10 if row < int(t // 3) else 10 + int((w - 20) * ((t % 3) / 3))
            cv2.line(sheet, (12, 9 + 14 * row), (end, 9 + 14 * row), (60, 40, 30), 2)
    else:
        turn = int(t // 15) % 2
        sheet = page[turn * 90:turn * 90 + h, 60:60 + w]
    out[y0:y0 + h, x0:x0 + w] = sheet
    return out


def _bowed(t: float, dx: float, dy: float, blurred: bool) -> np.ndarray:
    """Head bowed over the desk, offset by (dx, dy) from a bowed pose 20 px lower than upright."""
    p = _parts()
    centre = (HEAD_C[0] + dx, HEAD_C[1] + 20 + dy)
    if blurred:  # the sample's looking down: her own head, the face blurred beyond recognition
        head = cv2.GaussianBlur(p["head"], (0, 0), 12)
        return _blend(p["body"], head, _ellipse_alpha(*head.shape[1::-1]), centre)
    crown, alpha = _crown(2 * HEAD_AX[0] - 10, 2 * HEAD_AX[1] - 40)
    return _blend(p["body"], crown, alpha, centre)


def reading(t: float, blurred: bool = False) -> np.ndarray:
    dy = 6 * ((t % 8) / 8)  # down the page, then back up
    dx = 4 * math.sin(2 * math.pi * t / 2.5)  # along the line
    return _paper(_bowed(t, dx, dy, blurred), t, strokes=False)


def writing(t: float) -> np.ndarray:
    dx = -10 + 20 * ((t % 3) / 3)  # along the line being written
    return _paper(_bowed(t, dx, 2 * math.sin(2 * math.pi * t / 5), False), t, strokes=True)


def keyboard(t: float) -> np.ndarray:
    """Looking down at a keyboard: the head tipped forward, seen from above: the hair grows,
    the face shrinks to its upper part and is squashed."""
    p = _parts()
    head = p["head"]
    h, w = head.shape[:2]
    split = 60  # the hairline in the head crop
    hair = cv2.resize(head[:split], (w, round(split * 1.5)))
    face = cv2.resize(head[split:], (w, round((h - split) * 0.45)))
    tipped = np.vstack([hair, face])
    centre = (HEAD_C[0] + 2 * math.sin(2 * math.pi * t / 3), HEAD_C[1] + 8)
    return _blend(p["body"], tipped, _ellipse_alpha(w, tipped.shape[0]), centre)


def turned_away(t: float) -> np.ndarray:
    """The back of her head: hair over the whole head, shifted toward the printer behind."""
    crown, alpha = _crown(2 * HEAD_AX[0] - 6, 2 * HEAD_AX[1] - 16)
    centre = (HEAD_C[0] + 18 + 5 * math.sin(2 * math.pi * t / 6), HEAD_C[1] + 4)
    return _blend(_parts()["body"], crown, alpha, centre)


def masked(t: float) -> np.ndarray:
    """Upright at the seat with a light blue surgical mask from the nose to under the chin."""
    p = _parts()
    dx = round(4 * math.sin(2 * math.pi * t / 7.0))  # the sample's sway
    frame = np.roll(p["present"], dx, axis=1)
    frame = np.where(np.roll(_scene().person, dx, axis=1)[..., None] > 0, frame, p["empty"])
    x1, y1, x2, y2 = _scene().face
    top, bottom = y1 + 60, y2 + 4
    poly = np.array([(x1 + 4, top), (x2 - 4, top), (x2 - 8, bottom - 18), ((x1 + x2) // 2, bottom),
                     (x1 + 8, bottom - 18)], np.int32) + [dx, 0]
    cv2.fillPoly(frame, [poly], (225, 205, 170))
    for k in (1, 2, 3):  # the pleats
        y = top + k * (bottom - top) // 4
        cv2.line(frame, (x1 + 8 + dx, y), (x2 - 8 + dx, y), (190, 170, 140), 2)
    for x in (x1, x2):  # the ear loops
        cv2.line(frame, (x + dx, top + 4), (x + dx, top + 30), (235, 225, 210), 2)
    return frame


def folded_arms(t: float) -> np.ndarray:
    """Asleep with the head on folded arms on the desk: the body slumped forward (lower), a band
    of sleeves across the desk, the crown of her head on it; breathing."""
    p = _parts()
    breath = 1.5 * math.sin(2 * math.pi * t / 4.0)
    drop = 70 + round(breath)
    torso = np.roll(p["torso"], drop, axis=0)
    torso[:drop] = 0
    body = np.where(torso[..., None] > 0, np.roll(p["present"], drop, axis=0), p["empty"])
    arms = cv2.resize(np.tile(p["sleeve"], (1, 5, 1)), (300, 70))
    body = _blend(body, arms, _ellipse_alpha(300, 70, 6), (HEAD_C[0], 270 + breath))
    crown, alpha = _crown(2 * HEAD_AX[0] - 10, 2 * HEAD_AX[1] - 50)
    return _blend(body, crown, alpha, (HEAD_C[0], 225 + breath))


def tilted_back(t: float) -> np.ndarray:
    """Asleep with the head tilted back against the chair: the face seen from below (chin near,
    forehead far: the bottom of the head wider, the top narrower and the whole squashed)."""
    p = _parts()
    head = p["head"]
    h, w = head.shape[:2]
    out_h = round(h * 0.7)
    src = np.array([(0, 0), (w, 0), (w, h), (0, h)], np.float32)
    dst = np.array([(w * 0.12, 0), (w * 0.88, 0), (w, out_h), (0, out_h)], np.float32)
    warped = cv2.warpPerspective(head, cv2.getPerspectiveTransform(src, dst), (w, out_h))
    breath = 1.0 * math.sin(2 * math.pi * t / 4.0)
    return _blend(p["body"], warped, _ellipse_alpha(w, out_h),
                  (HEAD_C[0], HEAD_C[1] + 10 + breath))


POSES: dict[str, Callable[[float], np.ndarray]] = {
    "reading": reading,
    "reading_blurred": functools.partial(reading, blurred=True),
    "writing": writing,
    "keyboard": keyboard,
    "turned_away": turned_away,
    "masked": masked,
    "folded_arms": folded_arms,
    "tilted_back": tilted_back,
}

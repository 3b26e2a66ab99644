"""Make the sample counter video of the presence path, and the incident it must produce.

    .venv/bin/python recordings_sample/make_counter_video.py

A camera over a service window looks at the staff seat. The picture is a real photo
(scikit-image's astronaut, a portrait with a face the size a counter camera sees); the empty
seat is the same photo with the person cut out (GrabCut from a box round her, the head and
the suit's neck ring added by hand) and painted over from the surroundings (cv2.inpaint).
The person sways a few pixels and the light flickers a little, as on a real camera.

Timeline (seconds), written at 4 frames per second, no audio track:
    0–12    at the seat; 6–7 she looks down (face blurred): a short miss, not an absence
    12–45   seat empty (33 s, longer than the sample's 20 s threshold); at 30 a one-frame
            glimpse of her face, which must not end the absence
    45–60   back at the seat
    60–72   seat empty again (12 s: shorter than the threshold, not an incident)
    72–90   back at the seat
The container's creation_time says the recording began on a Friday at 09:30 Beijing time, in
service hours, so the result does not depend on when the file was checked out.

Writes window06_counter.mp4 here and replaces only its own key in expected.yaml; the other
keys (make_samples.py's) are left as they are. Also importable: the tests and the presence
benchmark build their scenes with `staff_scene()` and `with_object()`.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
VIDEO = HERE / "window06_counter.mp4"
EXPECTED = HERE / "expected.yaml"

WIDTH, HEIGHT, FPS = 640, 480, 4
DURATION_S = 90.0
THRESHOLD_S = 20.0  # the sample's --absence-threshold
RECORDED_AT = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)  # Fri 09:30 Asia/Shanghai

# (state, start_s, end_s): "present", "absent", "looking_down" (present, face hidden),
# "glimpse" (absent but for her face on one frame)
TIMELINE = (
    ("present", 0.0, 6.0), ("looking_down", 6.0, 7.0), ("present", 7.0, 12.0),
    ("absent", 12.0, 30.0), ("glimpse", 30.0, 30.25), ("absent", 30.25, 45.0),
    ("present", 45.0, 60.0), ("absent", 60.0, 72.0), ("present", 72.0, DURATION_S),
)
# What the pipeline must report with --absence-threshold 20: the long absence only.
INCIDENTS = [{"kind": "off_post", "rule_id": "P-off-post", "speaker": "staff",
              "offset_s": 12.0, "end_s": 45.0}]


@dataclass(frozen=True)
class Scene:
    present: np.ndarray  # BGR, WIDTH×HEIGHT, the staff member at the seat
    empty: np.ndarray  # the same view with the seat empty
    person: np.ndarray  # uint8 mask of the person in `present`
    face: tuple[int, int, int, int]  # x1, y1, x2, y2 of her face in `present`
    seat: tuple[int, int]  # centre of where she sits (for objects put on the seat)


def _astronaut_bgr() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def _person_mask(img: np.ndarray) -> np.ndarray:
    cv2.setRNGSeed(0)  # GrabCut's colour models start from k-means: fix it for reproducibility
    mask = np.zeros(img.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(img, mask, (10, 5, 370, 507), bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
    person = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    # GrabCut keeps the black neck ring and parts of the hair as background: add the head by hand.
    head = np.array([(150, 60), (170, 12), (280, 12), (308, 80), (300, 150), (318, 200), (308, 295),
                     (150, 305), (105, 220), (118, 150), (152, 138)], np.int32)
    cv2.fillPoly(person, [head], 255)
    contours, _ = cv2.findContours(person, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    person = np.zeros_like(person)
    cv2.drawContours(person, [c for c in contours if cv2.contourArea(c) > 500], -1, 255, cv2.FILLED)
    return cv2.dilate(person, np.ones((15, 15), np.uint8))


def _to_frame(img: np.ndarray, border: int = cv2.BORDER_REFLECT) -> np.ndarray:
    """A square photo into the 4:3 camera frame: scaled to its height, sides mirrored."""
    side = cv2.resize(img, (HEIGHT, HEIGHT), interpolation=cv2.INTER_AREA)
    pad = (WIDTH - HEIGHT) // 2
    return cv2.copyMakeBorder(side, 0, 0, pad, WIDTH - HEIGHT - pad, border)


def staff_scene() -> Scene:
    img = _astronaut_bgr()
    mask = _person_mask(img)
    empty = cv2.inpaint(img, mask, 15, cv2.INPAINT_TELEA)
    scale, pad = HEIGHT / img.shape[0], (WIDTH - HEIGHT) // 2
    face = (int(175 * scale) + pad, int(55 * scale), int(275 * scale) + pad, int(185 * scale))
    person = _to_frame(mask, cv2.BORDER_CONSTANT)
    seat = _to_frame(empty)
    # The mirrored sides come from the empty view, so no sliver of her shows at the edges.
    present = np.where(person[..., None] > 0, _to_frame(img), seat)
    return Scene(present, seat, person, face, (int(210 * scale) + pad, int(300 * scale)))


def with_object(scene: Scene, photo: str) -> np.ndarray:
    """The empty seat with something else on it: 'chelsea' (a cat) or 'coffee' (a cup)."""
    from skimage import data

    obj = cv2.cvtColor(getattr(data, photo)(), cv2.COLOR_RGB2BGR)
    h = 260
    obj = cv2.resize(obj, (round(obj.shape[1] * h / obj.shape[0]), h), interpolation=cv2.INTER_AREA)
    frame = scene.empty.copy()
    cx, cy = scene.seat
    x0 = max(0, min(WIDTH - obj.shape[1], cx - obj.shape[1] // 2))
    y0 = max(0, min(HEIGHT - h, cy - h // 2))
    frame[y0:y0 + h, x0:x0 + obj.shape[1]] = obj
    return frame


def looking_down(scene: Scene, frame: np.ndarray) -> np.ndarray:
    """Her face out of sight (bent over a form): the face region blurred beyond recognition."""
    x1, y1, x2, y2 = scene.face
    out = frame.copy()
    out[y1:y2, x1:x2] = cv2.GaussianBlur(out[y1:y2, x1:x2], (0, 0), 25)
    return out


def _present(scene: Scene, t: float) -> np.ndarray:
    dx = round(4 * math.sin(2 * math.pi * t / 7.0))  # a slow sway on the chair
    person = np.roll(scene.present, dx, axis=1)
    mask = np.roll(scene.person, dx, axis=1)[..., None] > 0
    return np.where(mask, person, scene.empty)


def state_at(t: float) -> str:
    for state, start, end in TIMELINE:
        if start <= t < end:
            return state
    return TIMELINE[-1][0]


def frame_at(scene: Scene, t: float) -> np.ndarray:
    state = state_at(t)
    if state in ("present", "glimpse"):
        frame = _present(scene, t)
    elif state == "looking_down":
        frame = looking_down(scene, _present(scene, t))
    else:
        frame = scene.empty
    gain = 1.0 + 0.03 * math.sin(2 * math.pi * t / 11.0)  # light flicker
    return np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def render(path: Path = VIDEO) -> Path:
    scene = staff_scene()
    # faststart: the index goes in front, as for a file meant to be streamed or cut
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        out.metadata["creation_time"] = RECORDED_AT.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        # threads=1: the same bytes on every run and machine
        stream.options = {"crf": "30", "preset": "slow", "threads": "1"}
        stream.codec_context.time_base = Fraction(1, FPS)
        for k in range(round(DURATION_S * FPS)):
            frame = av.VideoFrame.from_ndarray(frame_at(scene, k / FPS), format="bgr24")
            frame.pts = k
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def update_expected(path: Path = EXPECTED, name: str = VIDEO.name) -> None:
    """Replace (or append) this video's key in expected.yaml, leaving every other line alone."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    # Our block: its comment lines and the key with its list items.
    key = re.escape(name)
    text = re.sub(rf"(?m)^# {key}:.*\n(?:#.*\n)*{key}:\n(?:- .*\n)*", "", text)
    block = (f"# {name}: made by recordings_sample/make_counter_video.py (real photos, no audio "
             f"track);\n# expected with --absence-threshold {THRESHOLD_S:g} (the video is "
             f"{DURATION_S:g} s long; 900 s would allow every absence in it).\n"
             + yaml.safe_dump({name: INCIDENTS}, allow_unicode=True, sort_keys=False,
                              default_flow_style=None, width=200))
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + block, encoding="utf-8")


def main() -> int:
    render()
    update_expected()
    print(f"wrote {VIDEO.name} ({VIDEO.stat().st_size // 1024} KB) and its key in {EXPECTED.name}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())

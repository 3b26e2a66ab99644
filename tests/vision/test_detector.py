"""The real CenterFace detector on real photos: people found, empty seats, cats and cups not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from etiquette.core.presence.records import Box
from etiquette.core.presence.rules import DetectorSettings
from etiquette.vision.detector import DetectorError, create_detector

from factories.scenes import counter, detector, photo, scene

# Her face in skimage's 512×512 astronaut photo, drawn by hand: brow to chin, ear to ear.
ASTRONAUT_FACE = Box(180, 60, 272, 180)


def iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    h = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = w * h
    return inter / (a.width * a.height + b.width * b.height - inter)


def test_the_astronaut_is_found_where_her_face_is():
    found = detector().detect(photo("astronaut"))
    assert len(found) == 1
    assert found[0].score > 0.8
    assert iou(found[0].box, ASTRONAUT_FACE) > 0.6


def test_the_camera_man_is_found():
    found = detector().detect(photo("camera"))
    assert len(found) == 1
    cx, cy = found[0].box.center
    assert 190 < cx < 270 and 110 < cy < 200  # his face, not the tripod or the buildings


def test_staff_at_the_seat_is_found_in_the_counter_view():
    s = scene()
    found = detector().detect(s.present)
    assert len(found) == 1
    x1, y1, x2, y2 = s.face
    assert iou(found[0].box, Box(x1, y1, x2, y2)) > 0.5


@pytest.mark.parametrize("what", ["empty seat", "cat on the seat", "coffee on the seat",
                                  "face turned away", "plain photos"])
def test_nobody_is_found_where_nobody_is(what):
    s = scene()
    frames = {
        "empty seat": lambda: [s.empty],
        "cat on the seat": lambda: [counter.with_object(s, "chelsea"), photo("chelsea")],
        "coffee on the seat": lambda: [counter.with_object(s, "coffee"), photo("coffee")],
        "face turned away": lambda: [counter.looking_down(s, s.present)],
        "plain photos": lambda: [photo(n) for n in ("rocket", "coins", "page", "brick", "gravel")],
    }[what]()
    for frame in frames:
        assert detector().detect(frame) == []


def test_a_large_frame_is_scaled_down_and_boxes_come_back_in_its_pixels():
    # A 1920×1080 frame with the astronaut photo scaled ×2 at (600, 20): the detector sees it
    # at 640 px wide, but the box must be in the big frame's pixels.
    big = np.full((1080, 1920, 3), 90, np.uint8)
    big[20:1044, 600:1624] = cv2.resize(photo("astronaut"), (1024, 1024))
    found = detector().detect(big)
    assert len(found) == 1
    f = ASTRONAUT_FACE
    expected = Box(600 + 2 * f.x1, 20 + 2 * f.y1, 600 + 2 * f.x2, 20 + 2 * f.y2)
    assert iou(found[0].box, expected) > 0.5


def test_small_and_odd_sized_frames_work():
    img = cv2.resize(photo("astronaut"), (301, 257))  # not multiples of 32
    found = detector().detect(img)
    assert len(found) == 1 and found[0].box.x2 <= 301 and found[0].box.y2 <= 257


def test_the_session_runs_on_the_cpu_provider_only():
    assert detector()._session.get_providers() == ["CPUExecutionProvider"]  # type: ignore[attr-defined]


def test_wrong_input_is_refused():
    with pytest.raises(ValueError, match="uint8 BGR"):
        detector().detect(np.zeros((48, 64), np.uint8))
    with pytest.raises(ValueError, match="uint8 BGR"):
        detector().detect(np.zeros((48, 64, 3), np.float32))


def test_unknown_types_and_missing_weights_are_named(tmp_path):
    with pytest.raises(DetectorError, match="未知的检测器类型 yolo.*centerface"):
        create_detector(DetectorSettings(type="yolo"))
    with pytest.raises(DetectorError, match="找不到 CenterFace 权重文件"):
        create_detector(DetectorSettings(model=str(tmp_path / "nope.onnx")))
    with pytest.raises(DetectorError, match="CenterFace 模型 nope 无法使用：未知的模型 nope"):
        create_detector(DetectorSettings(model="nope"))
    with pytest.raises(DetectorError, match="找不到人像分割权重文件"):
        create_detector(DetectorSettings(type="mediapipe-selfie",
                                         model=str(tmp_path / "nope.tflite")))
    with pytest.raises(DetectorError, match="^人像分割模型 nope 无法使用：未知的模型 nope"):
        create_detector(DetectorSettings(type="mediapipe-selfie", model="nope"))


def test_a_stricter_threshold_keeps_fewer(tmp_path):
    img = photo("camera")
    loose = create_detector(DetectorSettings(min_score=0.3)).detect(img)
    strict = create_detector(DetectorSettings(min_score=0.95)).detect(img)
    assert len(strict) < len(loose) or (not strict and loose)
    assert all(d.score > 0.95 for d in strict)

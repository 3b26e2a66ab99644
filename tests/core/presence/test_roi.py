"""The staff-seat ROI: the staff member counts; a citizen across the counter, a passer-by do not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from etiquette.core.presence.records import Box, Detection
from etiquette.core.presence.roi import Roi, sighting

from factories.scenes import detector, face_of_camera_man, photo

LEFT_HALF = Roi(((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)))
RIGHT_HALF = Roi(((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)))


def face(x1: float, y1: float, x2: float, y2: float, score: float = 0.9) -> Detection:
    return Detection(Box(x1, y1, x2, y2), score)


def test_point_in_polygon_convex_and_concave():
    # An L-shaped seat area (a desk corner): the notch is outside.
    ell = Roi(((0.1, 0.1), (0.6, 0.1), (0.6, 0.4), (0.3, 0.4), (0.3, 0.9), (0.1, 0.9)))
    assert ell.contains(0.2, 0.8) and ell.contains(0.5, 0.2)
    assert not ell.contains(0.5, 0.7)  # the notch
    assert not ell.contains(0.05, 0.5) and not ell.contains(0.7, 0.2)
    assert LEFT_HALF.contains(0.25, 0.5) and not LEFT_HALF.contains(0.75, 0.5)


def test_parse_from_the_command_line_form():
    roi = Roi.parse("0,0 0.5,0 0.5,1 0,1")
    assert roi.polygon == LEFT_HALF.polygon
    assert Roi.parse("0,0;1,0;1,1").polygon == ((0, 0), (1, 0), (1, 1))
    for bad, message in [("0,0 1,1", "at least 3"), ("0,0 1,0 1,x", "not 'x,y'"),
                         ("0,0 1,0 1.5,1", "outside the frame"), ("0,0 1 1,1", "not 'x,y'")]:
        with pytest.raises(ValueError, match=message):
            Roi.parse(bad)


def test_accepts_by_centre_and_size():
    roi = Roi(LEFT_HALF.polygon, min_face_height=0.1)
    # frame 640×480: left half is x < 320; faces must be at least 48 px tall
    assert roi.accepts(face(100, 100, 180, 200), 640, 480)
    assert not roi.accepts(face(400, 100, 480, 200), 640, 480)  # across the counter
    assert not roi.accepts(face(100, 100, 120, 130), 640, 480)  # small: far behind the seat
    # a face straddling the line counts where its centre is
    assert roi.accepts(face(250, 100, 350, 200), 640, 480)
    assert not roi.accepts(face(300, 100, 400, 200), 640, 480)


def test_sighting_counts_accepted_and_rejected():
    s, accepted = sighting(3.5, [face(100, 100, 180, 200, 0.7), face(400, 100, 480, 200, 0.95)],
                           LEFT_HALF, 640, 480)
    assert s.t_s == 3.5 and s.present and s.accepted == 1 and s.rejected == 1
    assert s.score == 0.7  # the citizen's better score does not lend itself to the seat
    assert accepted == [face(100, 100, 180, 200, 0.7)]
    empty, _ = sighting(4.0, [face(400, 100, 480, 200)], LEFT_HALF, 640, 480)
    assert not empty.present and empty.score == 0.0 and empty.rejected == 1


def _counter_with_citizen() -> np.ndarray:
    """Staff (astronaut) on the left of the frame, a citizen (camera man) on the right."""
    frame = np.full((480, 800, 3), 120, np.uint8)
    frame[40:440, 0:400] = cv2.resize(photo("astronaut"), (400, 400))
    frame[140:340, 560:760] = face_of_camera_man()
    return frame


def test_real_detections_are_split_by_the_seat_polygon():
    frame = _counter_with_citizen()
    found = detector().detect(frame)
    assert len(found) == 2  # both faces are real faces to the detector
    staff, staff_faces = sighting(0.0, found, LEFT_HALF, 800, 480)
    assert staff.present and staff.accepted == 1 and staff.rejected == 1
    assert staff_faces[0].box.center[0] < 400
    other, other_faces = sighting(0.0, found, RIGHT_HALF, 800, 480)
    assert other.accepted == 1 and other_faces[0].box.center[0] > 400


def test_only_the_citizen_in_view_means_the_seat_is_empty():
    frame = _counter_with_citizen()
    frame[40:440, 0:400] = 120  # the staff member has gone; the citizen waits
    s, _ = sighting(0.0, detector().detect(frame), LEFT_HALF, 800, 480)
    assert not s.present and s.rejected == 1


def test_a_distant_face_inside_the_polygon_is_not_the_staff_member():
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[200:290, 100:190] = cv2.resize(photo("astronaut"), (90, 90))  # a passer-by far behind
    found = detector().detect(frame)
    assert found, "the detector should see the small face"
    near, _ = sighting(0.0, found, Roi(min_face_height=0.04), 640, 480)
    far, _ = sighting(0.0, found, Roi(min_face_height=0.1), 640, 480)
    assert near.present and not far.present

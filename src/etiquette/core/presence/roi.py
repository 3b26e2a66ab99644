"""The staff-seat region: which detections are the staff member and which are not.

A camera over the counter also sees the citizen across it and people passing behind. The ROI
is a polygon in coordinates relative to the frame (0..1, so it survives a resolution change);
a detection is the staff member when its centre lies inside the polygon and it is large
enough to be at the seat rather than far behind it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from etiquette.core.presence.records import Detection, Sighting

WHOLE_FRAME = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


@dataclass(frozen=True)
class Roi:
    """Attributes:
    polygon: vertices (x, y), each 0..1 of the frame's width and height, in drawing order.
    min_face_height: accepted detections are at least this fraction of the frame's height.
    """

    polygon: tuple[tuple[float, float], ...] = WHOLE_FRAME
    min_face_height: float = 0.0

    def __post_init__(self) -> None:
        if len(self.polygon) < 3:
            raise ValueError(f"an ROI polygon needs at least 3 points, got {len(self.polygon)}")
        for x, y in self.polygon:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"ROI point ({x}, {y}) is outside the frame: use fractions 0..1")

    @classmethod
    def parse(cls, text: str, min_face_height: float = 0.0) -> Roi:
        """'x,y x,y x,y …' (fractions of the frame), as given on the command line.

        Raises:
          ValueError: not pairs of numbers, fewer than 3 points, or a point outside 0..1.
        """
        points: list[tuple[float, float]] = []
        for pair in text.replace(";", " ").split():
            try:
                x, y = (float(v) for v in pair.split(","))
            except ValueError as e:
                raise ValueError(f"ROI point {pair!r} is not 'x,y'") from e
            points.append((x, y))
        return cls(tuple(points), min_face_height)

    def contains(self, x: float, y: float) -> bool:
        """Whether the relative point (x, y) lies inside the polygon (even-odd rule)."""
        inside = False
        pts = self.polygon
        for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
            if (y1 > y) != (y2 > y):
                cross_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
                if x < cross_x:
                    inside = not inside
        return inside

    def accepts(self, detection: Detection, width: int, height: int) -> bool:
        cx, cy = detection.box.center
        if detection.box.height < self.min_face_height * height:
            return False
        return self.contains(cx / width, cy / height)

    def pixels(self, width: int, height: int) -> list[tuple[int, int]]:
        """The polygon in pixels of a frame, for drawing it on snapshots."""
        return [(round(x * (width - 1)), round(y * (height - 1))) for x, y in self.polygon]


def sighting(t_s: float, detections: Iterable[Detection], roi: Roi, width: int,
             height: int) -> tuple[Sighting, list[Detection]]:
    """The seat's verdict for one frame, and the detections that made it."""
    accepted: list[Detection] = []
    rejected = 0
    for d in detections:
        if roi.accepts(d, width, height):
            accepted.append(d)
        else:
            rejected += 1
    best = max((d.score for d in accepted), default=0.0)
    return Sighting(t_s, bool(accepted), best, len(accepted), rejected), accepted



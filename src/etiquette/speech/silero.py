"""Streaming Silero VAD for many streams at once: one ONNX call per tick for every window.

faster-whisper's Silero model (v6) reads its input's first axis as time: one stream, its LSTM
state (h, c) of shape (1, 1, 128). Here the same graph is given a stream axis: the encoder's
frames (time-major: every stream's frame t, then t + 1) are reshaped to (time, streams, 128)
before the LSTM, h and c become (1, streams, 128), and the LSTM's `sequence_lens` lets each
stream bring as many frames as it has (the shorter ones padded; their state is the one after
their last real frame). Each stream's probabilities and state are those of calling the
original model on that stream alone (the test compares them on real audio).

`SharedSilero` batches the calls of many threads: a caller that finds the model free runs
every request waiting, its own included, in one call; callers that come meanwhile wait for
the next. Under load (every window's thread feeding its block) the calls fill up; alone, a
caller waits for no one.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAME = 512  # samples per speech probability (32 ms at 16 kHz)
CONTEXT = 64  # samples of the previous frame the model sees before each frame
_HIDDEN = 128


@functools.lru_cache(maxsize=1)
def _session() -> object:
    """The batched graph, built once per process from the model faster-whisper ships."""
    import faster_whisper
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    # where faster_whisper.utils.get_assets_path() says (untyped, hence not called)
    model = onnx.load(str(Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"))
    graph = model.graph
    lstm = next(n for n in graph.node if n.op_type == "LSTM")
    # h is (1, streams, 128): its shape times (-1, 1, 1) is the LSTM input's (time, streams, 128)
    graph.initializer.append(numpy_helper.from_array(np.array([-1, 1, 1], np.int64),
                                                     "streams_sign"))
    at = list(graph.node).index(lstm)
    for k, node in enumerate([
            helper.make_node("Shape", ["h"], ["h_shape"]),
            helper.make_node("Mul", ["h_shape", "streams_sign"], ["streams_shape"]),
            helper.make_node("Reshape", [lstm.input[0], "streams_shape"], ["by_stream"])]):
        graph.node.insert(at + k, node)
    lstm.input[0] = "by_stream"
    lstm.input[4] = "frames"  # sequence_lens: each stream's own number of frames
    graph.input.append(helper.make_tensor_value_info("frames", TensorProto.INT32, ["streams"]))
    for value in [*graph.input, *graph.output]:
        if value.name in ("h", "c", "hn", "cn"):
            value.type.tensor_type.shape.dim[1].dim_param = "streams"
    onnx.checker.check_model(model)
    opts = onnxruntime.SessionOptions()  # as faster-whisper's: one thread, the windows are many
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    opts.log_severity_level = 4
    return onnxruntime.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"], sess_options=opts)


class SileroStream:
    """One stream's place in the model: its recurrent state and the last 64 samples, carried
    from one call to the next, so the probabilities equal those of the whole recording
    (`SileroVADModel.__call__` restarts both on every call, which changes them markedly)."""

    def __init__(self) -> None:
        self.h = np.zeros((_HIDDEN,), dtype=np.float32)
        self.c = np.zeros((_HIDDEN,), dtype=np.float32)
        self.context = np.zeros(CONTEXT, dtype=np.float32)


def silero_probs(streams: Sequence[SileroStream], audio: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Speech probability of each 512-sample frame of each stream's `audio` (a multiple of 512
    long, any length per stream), in one model call; each stream's state moves on."""
    counts = [len(a) // FRAME for a in audio]
    if any(n * FRAME != len(a) for n, a in zip(counts, audio, strict=True)):
        raise ValueError("each stream's audio must be a multiple of 512 samples")
    live = [k for k, n in enumerate(counts) if n]
    out = [np.zeros(0, np.float32) for _ in audio]
    if not live:
        return out
    steps = max(counts)
    batch = np.zeros((steps, len(live), CONTEXT + FRAME), dtype=np.float32)
    for j, k in enumerate(live):
        frames = np.asarray(audio[k], dtype=np.float32).reshape(-1, FRAME)
        n = len(frames)
        batch[:n, j, CONTEXT:] = frames
        batch[0, j, :CONTEXT] = streams[k].context
        batch[1:n, j, :CONTEXT] = frames[:-1, -CONTEXT:]
    h = np.stack([streams[k].h for k in live])[None]
    c = np.stack([streams[k].c for k in live])[None]
    lens = np.array([counts[k] for k in live], dtype=np.int32)
    probs, h, c = _session().run(  # type: ignore[attr-defined]
        None, {"input": batch.reshape(-1, CONTEXT + FRAME), "h": h, "c": c, "frames": lens})
    probs = probs.reshape(len(live), steps)
    for j, k in enumerate(live):
        n, s = counts[k], streams[k]
        s.h, s.c = h[0, j].copy(), c[0, j].copy()
        s.context = batch[n - 1, j, -CONTEXT:].copy()
        out[k] = probs[j, :n].copy()
    return out


@dataclass
class _Request:
    streams: Sequence[SileroStream]
    audio: Sequence[np.ndarray]
    probs: list[np.ndarray] | None = None
    error: BaseException | None = None
    done: bool = False


class SharedSilero:
    """One model call for whatever every thread has waiting (see the module's notes).

    `calls` and `streams` count the model calls and the streams they carried (how full the
    ticks are)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: list[_Request] = []
        self._running = False
        self.calls = 0
        self.streams = 0

    def __call__(self, streams: Sequence[SileroStream],
                 audio: Sequence[np.ndarray]) -> list[np.ndarray]:
        """As `silero_probs`, batched with the other threads' requests."""
        request = _Request(streams, audio)
        with self._cond:
            self._waiting.append(request)
            while not request.done:
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                batch, self._waiting = self._waiting, []
                self._cond.release()
                try:
                    self._run(batch)
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error
        assert request.probs is not None
        return request.probs

    def _run(self, batch: list[_Request]) -> None:
        streams = [s for r in batch for s in r.streams]
        try:
            probs = silero_probs(streams, [a for r in batch for a in r.audio])
        except BaseException as e:  # noqa: BLE001 - every waiting caller hears of it
            for r in batch:
                r.error, r.done = e, True
            return
        self.calls += 1
        self.streams += len(streams)
        at = 0
        for r in batch:
            r.probs, r.done = probs[at:at + len(r.streams)], True
            at += len(r.streams)

"""Every window's Silero in one call: the same speech probabilities, the same utterances."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from faster_whisper.vad import get_vad_model

from etiquette.speech.audio import read_audio
from etiquette.speech.segmenter import StreamSegmenter
from etiquette.speech.silero import CONTEXT, FRAME, SharedSilero, SileroStream, silero_probs

from factories import SAMPLES

RATE = 16000
RECORDINGS = ["window01_polite.wav", "window03_citizen_rude.mp3", "window05_session.ogg"]


def channels() -> list[np.ndarray]:
    """Every channel of the stereo samples: real speech, silence and crosstalk."""
    return [c for name in RECORDINGS for c in read_audio(SAMPLES / name).channels]


def alone(audio: np.ndarray, blocks: list[int]) -> np.ndarray:
    """faster-whisper's own model, one stream per call, its state (h, c) and the last 64
    samples carried from each call to the next: the probabilities before batching."""
    session = get_vad_model().session
    h = c = np.zeros((1, 1, 128), np.float32)
    context = np.zeros(CONTEXT, np.float32)
    out, at = [], 0
    for n in blocks:
        frames = audio[at:at + n * FRAME].astype(np.float32).reshape(n, FRAME)
        prior = np.concatenate([context[None], frames[:-1, -CONTEXT:]])
        p, h, c = session.run(None, {"input": np.concatenate([prior, frames], 1), "h": h, "c": c})
        context = frames[-1, -CONTEXT:].copy()
        out.append(p.ravel())
        at += n * FRAME
    return np.concatenate(out)


def test_batched_probabilities_equal_each_stream_alone():
    audio = channels()
    rng = np.random.default_rng(3)
    # Each stream brings its own number of frames to each call (1-4, as blocks of 0.1 s do;
    # some none at all), so the calls mix lengths.
    plan = rng.integers(0, 5, size=(60, len(audio)))
    streams = [SileroStream() for _ in audio]
    got: list[list[np.ndarray]] = [[] for _ in audio]
    at = [0] * len(audio)
    for counts in plan:
        chunk = [a[p:p + n * FRAME] for a, p, n in zip(audio, at, counts, strict=True)]
        for k, probs in enumerate(silero_probs(streams, chunk)):
            assert len(probs) == counts[k]
            got[k].append(probs)
            at[k] += counts[k] * FRAME
    for k, a in enumerate(audio):
        batched = np.concatenate(got[k])
        expected = alone(a, [int(n) for n in plan[:, k] if n])
        assert len(batched) == len(expected) > 100
        np.testing.assert_allclose(batched, expected, atol=1e-5)
        assert (expected > 0.5).any() or k % 2  # the staff channels do hold speech


def test_many_windows_feeding_at_once_cut_what_each_cuts_alone():
    recordings = [np.stack(read_audio(SAMPLES / name).channels, axis=1) for name in RECORDINGS]
    block = RATE // 10

    def cut(x: np.ndarray, vad: SharedSilero | None) -> list[tuple[object, ...]]:
        seg = StreamSegmenter("live", "w1", 2, vad=vad)
        out = [u for i in range(0, len(x), block) for u in seg.feed(x[i:i + block])]
        out += seg.flush()
        return [(u.speaker, u.channel, u.start_s, u.end_s, u.audio.tobytes()) for u in out]

    own = [cut(x, None) for x in recordings]
    shared = SharedSilero()
    together: list[list[tuple[object, ...]]] = [[] for _ in range(2 * len(recordings))]

    def window(k: int) -> None:
        together[k] = cut(recordings[k % len(recordings)], shared)

    threads = [threading.Thread(target=window, args=(k,)) for k in range(len(together))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, utterances in enumerate(together):
        assert utterances and utterances == own[k % len(recordings)]
    # The windows' calls were put together: more than one window's two channels per call.
    assert shared.streams / shared.calls > 2


def test_a_failing_call_reaches_every_caller_and_the_next_call_runs():
    shared = SharedSilero()
    with pytest.raises(ValueError, match="multiple of 512"):
        shared([SileroStream()], [np.zeros(100, np.float32)])
    probs = shared([SileroStream()], [np.zeros(2 * FRAME, np.float32)])
    assert len(probs[0]) == 2 and (probs[0] < 0.5).all()

"""The recogniser: real Whisper base on real speech, packed inputs, words back at the right
second."""

from __future__ import annotations

import numpy as np
import pytest

from etiquette.core.records import Speaker, Utterance
from etiquette.models import DEFAULT_MODELS_DIR, ModelError
from etiquette.speech.recogniser import (
    GPU_LIBRARIES,
    INPUT_S,
    TRAILING_S,
    Recogniser,
    RecogniserOptions,
    missing_libraries,
    pack,
    parts_of,
)

from factories.media import speech


def utterance(name: str, audio: np.ndarray, start_s: float, speaker=Speaker.STAFF) -> Utterance:
    return Utterance(f"{name}.wav", name, speaker, 0, start_s, start_s + len(audio) / 16000, audio)


def test_packing_fills_inputs_up_to_thirty_seconds():
    voice = np.zeros(16000 * 7, np.float32)
    us = [utterance(f"u{k}", voice, 10.0 * k) for k in range(9)]
    packed, clips, placed = pack(us, gap_s=0.5)
    assert all(c["end"] - c["start"] <= INPUT_S for c in clips)
    assert len(clips) == 3  # 9 × 7.5 s → three inputs, not nine
    assert [p.utterance for p in placed] == us
    assert len(packed) / 16000 == pytest.approx(clips[-1]["end"])
    long = utterance("long", np.zeros(16000 * 40, np.float32), 0.0)
    _, clips, _ = pack([long], gap_s=0.5)
    assert all(c["end"] - c["start"] <= INPUT_S for c in clips)


def inputs_of(us: list[Utterance]) -> list[list[str]]:
    """The utterances (by window) packed into each input."""
    _, clips, placed = pack(us, 0.5)
    return [[p.utterance.window_id for p in placed if c["start"] < p.start_s < c["end"]]
            for c in clips]


def test_a_long_call_is_cut_into_parts_between_utterances_that_pack_as_in_the_whole():
    # 20 utterances of 7 s: 7 inputs of 3 (the last of 2); parts of 2 inputs.
    voice = np.zeros(16000 * 7, np.float32)
    us = [utterance(f"u{k}", voice, 10.0 * k) for k in range(20)]
    parts = parts_of(us, 0.5, inputs=2)
    assert [len(p) for p in parts] == [6, 6, 6, 2]
    assert [u for p in parts for u in p] == us  # every utterance once, in order
    # Packed alone, each part's inputs hold the utterances they held in the whole.
    assert [group for p in parts for group in inputs_of(p)] == inputs_of(us)
    assert parts_of(us, 0.5, inputs=32) == [us]  # a call of less speech: one part
    assert parts_of([], 0.5, inputs=2) == []


@pytest.mark.slow
def test_real_speech_is_transcribed_in_simplified_chinese(recogniser):
    (t,) = recogniser.transcribe([utterance("staff", speech("staff"), 0.0)])
    assert "请问" in t.text and "办理" in t.text and "業" not in t.text
    assert t.words and all(0 <= w.start_s <= w.end_s <= t.end_s + 0.01 for w in t.words)


@pytest.mark.slow
def test_packed_utterances_get_their_own_words_and_times(recogniser):
    staff = utterance("a", speech("staff"), 100.0)
    citizen = utterance("b", speech("citizen"), 7.5, Speaker.CITIZEN)
    a, b = recogniser.transcribe([staff, citizen])
    assert (a.source, b.source) == ("a.wav", "b.wav")
    assert "办理" in a.text and "办理" not in b.text
    assert "别人" in b.text and "别人" not in a.text
    assert all(100.0 <= w.start_s <= staff.end_s + 0.01 for w in a.words)
    assert all(7.5 <= w.start_s <= citizen.end_s + 0.01 for w in b.words)
    assert b.speaker == Speaker.CITIZEN


@pytest.mark.slow
def test_nothing_in_nothing_out(recogniser):
    assert recogniser.transcribe([]) == []
    silence = utterance("quiet", np.zeros(16000 * 2, np.float32), 0.0)
    (t,) = recogniser.transcribe([silence])
    assert t.text == ""


def test_an_utterance_whisper_skips_in_a_packed_input_is_decoded_on_its_own(recogniser):
    # Measured with 1 s gaps between packed utterances: packed before two utterances of another
    # window, 急什么，忙着呢 came back empty (Whisper began its text at the second one); alone
    # it is read whole.
    from dataclasses import replace

    from etiquette.speech.audio import read_audio
    from etiquette.speech.segmenter import segment

    from factories import SAMPLES

    def staff(name: str) -> list[Utterance]:
        return [u for u in segment(read_audio(SAMPLES / name), name, name)
                if u.speaker == Speaker.STAFF]

    rude, other = staff("window02_rude.flac")[3], staff("window05_session.ogg")[:2]
    assert rude.start_s == pytest.approx(17.56, abs=0.1)
    options = recogniser.options
    recogniser.options = replace(options, gap_s=1.0)
    try:
        texts = [t.text for t in recogniser.transcribe([rude, *other])]
    finally:
        recogniser.options = options
    assert "忙着呢" in texts[0].replace("著", "着") and all(texts)


@pytest.mark.slow
def test_a_short_batch_is_encoded_at_its_own_length_not_padded_to_thirty_seconds(recogniser,
                                                                                monkeypatch):
    frames: list[int] = []
    encode = recogniser.model.encode
    monkeypatch.setattr(recogniser.model, "encode",
                        lambda features, *a, **k: frames.append(features.shape[-1])
                        or encode(features, *a, **k))
    short = utterance("staff", speech("staff"), 0.0)
    (t,) = recogniser.transcribe([short])
    assert "请问" in t.text and "办理" in t.text
    # The packed input (gap, speech, gap) and TRAILING_S of padding after it, in 10 ms frames.
    packed_s = short.duration_s + 2 * recogniser.options.gap_s
    assert frames and frames[0] <= (packed_s + TRAILING_S + 1) * 100 < 3000
    frames.clear()
    fit = int(INPUT_S // (short.duration_s + recogniser.options.gap_s))  # one input's worth
    recogniser.transcribe([utterance(f"u{k}", speech("staff"), 10.0 * k) for k in range(fit + 1)])
    # A full input keeps Whisper's 30 s; the one left over after it, in the same batch, is
    # encoded on its own at its own length.
    assert len(frames) >= 2 and frames[0] == 3000 and frames[1] < 3000


def test_a_model_that_loads_but_cannot_encode_fails_at_start_up_saying_why(tmp_path):
    # A model whose feature settings do not fit it (here a 128-mel preprocessor config beside
    # an 80-mel model) loads and only fails at its first encode: that must stop the start-up,
    # not a worker thread at the first utterance.
    model = tmp_path / "whisper-base-misconfigured"
    model.mkdir()
    for part in (DEFAULT_MODELS_DIR / "whisper-base").iterdir():
        (model / part.name).symlink_to(part)
    (model / "preprocessor_config.json").write_text('{"feature_size": 128}', encoding="utf-8")
    with pytest.raises(ModelError, match=r"无法加载模型 .*whisper-base-misconfigured.*80"):
        Recogniser(RecogniserOptions(model=str(model)))


def test_a_gpu_recogniser_without_ctranslate2s_cuda_libraries_names_them_before_loading():
    # Without them cuDNN would abort the whole process at the first encode, with no message of
    # ours; this machine (like CI) has no CUDA libraries.
    missing = missing_libraries(GPU_LIBRARIES)
    if not missing:
        pytest.skip("this machine has CTranslate2's CUDA libraries")
    with pytest.raises(ModelError,
                       match=f"找不到 {missing[0]}.*LD_LIBRARY_PATH"):
        Recogniser(RecogniserOptions(device="cuda", compute_type="float16"))


def test_libraries_the_loader_finds_are_not_reported_missing():
    assert missing_libraries(["libc.so.6", "libetiquette-nonexistent.so.1"]) == [
        "libetiquette-nonexistent.so.1"]

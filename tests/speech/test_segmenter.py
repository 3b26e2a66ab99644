"""Voice activity and speaker attribution: crosstalk never turns the citizen into the staff."""

from __future__ import annotations

import numpy as np
import pytest

from etiquette.core.records import Speaker
from etiquette.speech.audio import DecodedAudio, read_audio
from etiquette.speech.segmenter import SegmenterOptions, StreamSegmenter, segment

from factories import SAMPLES
from factories.media import speech

RATE = 16000
LEAK = 10 ** (-14 / 20)  # the other side's voice reaches a microphone 14 dB down


def window(turns: list[tuple[str, float]], seconds: float = 9.0, leak: float = LEAK,
           noise_db: float = -55) -> DecodedAudio:
    """A two-microphone recording: each turn (speaker, start) on its own mic, leaking into the
    other."""
    rng = np.random.default_rng(7)
    mics = [rng.normal(0, 10 ** (noise_db / 20), int(seconds * RATE)).astype(np.float32)
            for _ in range(2)]
    for who, start in turns:
        own = 0 if who == "staff" else 1
        voice = speech(who)
        a = int(start * RATE)
        mics[own][a:a + len(voice)] += voice
        mics[1 - own][a + 48:a + 48 + len(voice)] += leak * voice[: len(mics[1 - own]) - a - 48]
    return DecodedAudio((mics[0], mics[1]), 2)


def spans(utterances, speaker):
    return [(round(u.start_s, 1), round(u.end_s, 1)) for u in utterances if u.speaker == speaker]


def test_each_side_keeps_its_own_speech_and_drops_the_crosstalk():
    us = segment(window([("staff", 0.5), ("citizen", 5.0)]), "s.wav", "w1")
    staff, citizen = spans(us, Speaker.STAFF), spans(us, Speaker.CITIZEN)
    assert len(staff) == 1 and citizen
    assert staff[0][0] == pytest.approx(0.5, abs=0.3) and staff[0][1] < 4.0
    assert citizen[0][0] == pytest.approx(5.0, abs=0.3) and citizen[-1][1] < 8.2
    assert all(u.channel == (0 if u.speaker == Speaker.STAFF else 1) for u in us)


def test_a_citizen_alone_produces_no_staff_speech():
    us = segment(window([("citizen", 1.0)]), "s.wav", "w1")
    assert spans(us, Speaker.STAFF) == [] and spans(us, Speaker.CITIZEN)


def test_overlapping_speech_goes_to_both_sides():
    us = segment(window([("staff", 1.0), ("citizen", 1.5)], leak=LEAK), "s.wav", "w1")
    assert spans(us, Speaker.STAFF) and spans(us, Speaker.CITIZEN)


def test_channels_can_be_swapped_by_configuration():
    options = SegmenterOptions(staff_channel=1, citizen_channel=0)
    us = segment(window([("staff", 0.5)]), "s.wav", "w1", options)
    assert [u.speaker for u in us] == [Speaker.CITIZEN]  # mic 0 is now the citizen side
    with pytest.raises(ValueError, match="staff_channel"):
        segment(window([("staff", 0.5)]), "s.wav", "w1",
                SegmenterOptions(staff_channel=0, citizen_channel=0))


def test_mono_and_dual_mono_speech_is_of_unknown_speaker():
    recording = window([("staff", 0.5), ("citizen", 5.0)])
    mono = DecodedAudio((recording.channels[0],), 1)
    dual = DecodedAudio((recording.channels[0], recording.channels[0].copy()), 2)
    for audio in (mono, dual):
        us = segment(audio, "m.wav", "w1")
        assert len(us) >= 2 and {u.speaker for u in us} == {Speaker.UNKNOWN}


def test_silence_and_noise_give_no_utterance():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.01, 5 * RATE).astype(np.float32)
    assert segment(DecodedAudio((noise, noise * 0.9 + 0.001), 2), "n.wav", "w1") == []
    assert segment(DecodedAudio((np.zeros(RATE, np.float32),), 1), "z.wav", "w1") == []


# ------------------------------------------------------------ live: the same cuts, as audio arrives



def stream(audio: DecodedAudio, block_s: float = 0.1, source: str = "live", options=None):
    """Feed `audio` block by block; (utterance, stream seconds fed when it came out)."""
    x = np.stack(audio.channels, axis=1)
    seg = StreamSegmenter(source, "w1", x.shape[1], options)
    block = int(block_s * RATE)
    out = []
    for i in range(0, len(x), block):
        out += [(u, seg.samples / RATE) for u in seg.feed(x[i:i + block])]
    out += [(u, seg.samples / RATE) for u in seg.flush()]
    return out, seg


@pytest.mark.parametrize("name", ["window01_polite.wav", "window03_citizen_rude.mp3",
                                  "window04_mono.m4a", "window05_session.ogg"])
def test_live_segmentation_cuts_what_the_recording_would(name):
    audio = read_audio(SAMPLES / name)
    whole = segment(audio, "live", "w1")
    live = sorted((u for u, _ in stream(audio)[0]), key=lambda u: (u.start_s, u.channel))
    assert [u.speaker for u in live] == [u.speaker for u in whole]
    for a, b in zip(live, whole, strict=True):
        assert a.start_s == pytest.approx(b.start_s, abs=0.1)
        assert a.end_s == pytest.approx(b.end_s, abs=0.1)
        assert len(a.audio) == pytest.approx((a.end_s - a.start_s) * RATE, abs=2)


def test_an_utterance_comes_out_soon_after_it_ends_not_at_the_end_of_the_stream():
    audio = window([("staff", 0.5), ("citizen", 5.0)], seconds=30.0)
    out, _ = stream(audio)
    options = SegmenterOptions()
    # A turn comes out once a pause long enough to end it has passed: its end carries the
    # padding already, so that is min_silence after the speech (a turn cut in two by the
    # crosstalk check comes out whole, when it ends). 0.2 s: a block and a VAD frame late.
    after_end = (options.min_silence_ms - options.speech_pad_ms) / 1000
    turns: dict[float, float] = {}
    for u, emitted_at in out:
        turns[emitted_at] = max(turns.get(emitted_at, 0.0), u.end_s)
    assert len(turns) >= 2 and all(t - end <= after_end + 0.2 for t, end in turns.items()), turns


def test_a_short_pause_that_ends_an_utterance_does_not_hold_it_until_the_next_one_ends():
    # Two staff turns a short pause apart (≈0.6 s of quiet between the voices): the recording
    # cuts them in two, and live the first comes out while the second is still being said.
    first = len(speech("staff")) / RATE
    audio = window([("staff", 0.5), ("staff", 0.5 + first + 0.3)], seconds=2 * first + 7)
    out, _ = stream(audio)
    staff = sorted((u.end_s, t) for u, t in out if u.speaker == Speaker.STAFF)
    whole = [u for u in segment(audio, "live", "w1") if u.speaker == Speaker.STAFF]
    assert len(staff) == len(whole) == 2
    (end1, emitted1), (end2, _) = staff
    assert emitted1 - end1 < 0.6 and emitted1 < end2 - 2


def test_crosstalk_neither_becomes_speech_nor_delays_the_cut():
    # The staff mic hears the citizen 14 dB down right after the staff stops: the staff
    # utterance still ends when the staff does.
    out, _ = stream(window([("staff", 0.5), ("citizen", 3.2)], seconds=12.0))
    staff = [(u, t) for u, t in out if u.speaker == Speaker.STAFF]
    assert len(staff) == 1 and staff[0][1] < 4.5


def test_hours_of_silence_keep_only_a_bounded_buffer():
    seg = StreamSegmenter("live", "w1", 2)
    quiet = np.zeros((RATE, 2), dtype=np.float32)
    for _ in range(600):  # ten minutes
        assert seg.feed(quiet) == []
    assert seg.samples == 600 * RATE and len(seg._buffer) < RATE


def test_live_segmenter_refuses_blocks_of_the_wrong_shape():
    seg = StreamSegmenter("live", "w1", 2)
    with pytest.raises(ValueError, match="2 channels"):
        seg.feed(np.zeros((1600, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="one or two microphones"):
        StreamSegmenter("live", "w1", 3)

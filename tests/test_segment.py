"""Voice activity and speaker attribution: crosstalk never turns the citizen into the staff."""

from __future__ import annotations

import numpy as np
import pytest

from etiquette.audio import DecodedAudio
from etiquette.records import Speaker
from etiquette.segment import SegmenterOptions, segment

from media import speech

RATE = 16000
LEAK = 10 ** (-14 / 20)  # the other side's voice reaches a microphone 14 dB down


def window(turns: list[tuple[str, float]], seconds: float = 9.0, leak: float = LEAK,
           noise_db: float = -55) -> DecodedAudio:
    """A two-microphone recording: each turn (speaker, start) on its own mic, leaking into the other."""
    rng = np.random.default_rng(7)
    mics = [rng.normal(0, 10 ** (noise_db / 20), int(seconds * RATE)).astype(np.float32) for _ in range(2)]
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
        segment(window([("staff", 0.5)]), "s.wav", "w1", SegmenterOptions(staff_channel=0, citizen_channel=0))


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

"""The acoustic check: the real model tells a phrase that was said from one merely spelled alike,
scored where the recogniser heard it (no second encoder pass)."""

from __future__ import annotations

import numpy as np
import pytest

from etiquette.records import Speaker, Transcript, Utterance
from etiquette.transcribe import HeardIn
from etiquette.verify import AcousticVerifier

from media import speech


def _heard(recogniser, utterances: list[Utterance]) -> list[tuple[Transcript, HeardIn]]:
    seen: list[tuple[Transcript, HeardIn]] = []
    recogniser.transcribe(utterances, lambda ts, hs: seen.extend(zip(ts, hs)))
    return seen


def _utterance(name: str, start_s: float, speaker: Speaker) -> Utterance:
    audio = speech(name)
    return Utterance(f"{name}.wav", "w1", speaker, 0, start_s, start_s + len(audio) / 16000, audio)


@pytest.mark.slow
def test_the_audio_supports_what_was_said_and_not_a_look_alike(recogniser):
    citizen = _utterance("citizen", 0.0, Speaker.CITIZEN)
    staff = _utterance("staff", 10.0, Speaker.STAFF)  # 您好，请问您需要办理什么业务
    (_, first), (t, heard) = _heard(recogniser, [citizen, staff])
    # Packed in one input, the staff utterance is scored after what Whisper wrote before it.
    assert first.prefix == "" and "别人" in heard.prefix
    assert np.shares_memory(heard.encoded, first.encoded)  # one input
    text = t.text
    assert text.startswith("您好") and "办理什么" in text
    verifier = AcousticVerifier(recogniser.model)
    assert verifier.loss(heard, text, 0, 2, "您好") == pytest.approx(0.0, abs=1e-6)
    at = text.index("办理")
    homophone = verifier.loss(heard, text, at, at + 2, "办里")  # same sound, wrong character
    unrelated = verifier.loss(heard, text, at, at + 4, "急什么")  # 办理什 → 急什么
    assert unrelated > 10 and unrelated > homophone


@pytest.mark.slow
def test_each_batch_of_inputs_is_reported_once_with_its_own_encoder_output(recogniser):
    from dataclasses import replace

    options = recogniser.options
    recogniser.options = replace(options, batch_size=1)  # one 30 s input per batch
    try:
        voice = speech("staff")
        us = [Utterance("s.wav", "w1", Speaker.STAFF, 0, 20.0 * k, 20.0 * k + len(voice) / 16000,
                        voice) for k in range(10)]  # 10 × (3.x s + gap): two inputs
        batches: list[list[tuple[Transcript, HeardIn]]] = []
        transcripts = recogniser.transcribe(us, lambda ts, hs: batches.append(list(zip(ts, hs))))
    finally:
        recogniser.options = options
    # Two inputs at least (a repeat Whisper skips is decoded again, in batches of its own).
    reported = [t for b in batches for t, _ in b]
    assert len(batches) >= 2 and all(any(t is r for r in reported) for t in transcripts)
    (_, a), (_, b) = batches[0][0], batches[1][0]
    assert a.encoded.ndim == 2 and not np.shares_memory(a.encoded, b.encoded)
    assert a.prefix == "" and b.prefix == ""  # each first in its input
    assert 0 < a.frames <= 3000

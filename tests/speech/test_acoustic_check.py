"""The acoustic check: the real model tells a phrase that was said from one merely spelled alike."""

from __future__ import annotations

import pytest

from etiquette.speech.acoustic_check import AcousticVerifier

from factories.media import speech


@pytest.mark.slow
def test_the_audio_supports_what_was_said_and_not_a_look_alike(recogniser):
    verifier = AcousticVerifier(recogniser.model)
    audio = speech("staff")  # 您好，请问您需要办理什么业务
    text = "您好,请问您需要办理什么业务?"
    assert verifier.loss(audio, text, 0, 2, "您好") == pytest.approx(0.0, abs=1e-6)
    homophone = verifier.loss(audio, text, 9, 11, "办里")  # same sound, wrong character
    unrelated = verifier.loss(audio, text, 9, 13, "急什么")  # 办理什 → 急什么
    assert unrelated > 10 and unrelated > homophone

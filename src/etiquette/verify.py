"""Acoustic check of near misses: does the audio support the rule phrase as well as the transcript?

A base model mangles some speech so far that the text alone cannot decide (还没喊喊，先等者 for
还没上班，先等着). For such a near miss the recogniser's own decoder scores two texts against the
audio they were heard in, teacher-forced (CTranslate2's `Whisper.align`, which faster-whisper
uses for word timestamps): the free transcription, and the same with the matched span replaced
by the rule phrase. When the phrase explains the audio almost as well as what the decoder chose,
the hit stands; a phrase merely spelled alike costs tens of nats and is rejected.

The audio is scored where it was transcribed: the encoder output of its packed 30 s input (kept
by the recogniser for the batch), after the text Whisper wrote before it there. Encoding the
utterance again on its own would cost as much as transcribing a whole input (about 1 s of CPU
here); scoring two short texts costs a few tens of milliseconds.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from etiquette.transcribe import HeardIn

logger = logging.getLogger("etiquette.verify")


class AcousticVerifier:
    """Log-likelihood of texts given where they were heard, from a loaded faster-whisper model."""

    def __init__(self, model: Any) -> None:
        from faster_whisper.tokenizer import Tokenizer

        self._model = model
        self._tokenizer = Tokenizer(model.hf_tokenizer, True, task="transcribe", language="zh")

    def log_likelihood(self, heard: HeardIn, text: str) -> float:
        """Sum of the log-probabilities of the tokens of `text`, said where `heard` says."""
        import ctranslate2

        tokens = self._tokenizer.encode(text)
        if not tokens:
            return 0.0
        start = [*self._tokenizer.sot_sequence, *self._tokenizer.encode(heard.prefix)]
        encoded = ctranslate2.StorageView.from_array(np.ascontiguousarray(heard.encoded[None]))
        (result,) = self._model.model.align(encoded, start, [tokens], heard.frames)
        probs = np.maximum(np.asarray(result.text_token_probs, dtype=np.float64), 1e-12)
        return float(np.sum(np.log(probs)))

    def loss(self, heard: HeardIn, transcript: str, start: int, end: int, phrase: str) -> float:
        """How much less likely (nats) the transcript becomes with [start, end) replaced by `phrase`."""
        candidate = transcript[:start] + phrase.replace("，", ",") + transcript[end:]
        loss = self.log_likelihood(heard, transcript) - self.log_likelihood(heard, candidate)
        logger.debug("acoustic check %r -> %r: loss %.2f", transcript, candidate, loss)
        return loss

"""Transcripts as the recogniser would return them, without audio."""

from __future__ import annotations

from etiquette.core.records import Speaker, Transcript, Word


def said(text: str, speaker: Speaker = Speaker.STAFF, start_s: float = 0.0,
         end_s: float | None = None) -> Transcript:
    """A transcript of `text`, one word per character spread evenly over the utterance."""
    end_s = start_s + 0.25 * len(text) if end_s is None else end_s
    step = (end_s - start_s) / max(1, len(text))
    words = tuple(Word(c, start_s + k * step, start_s + (k + 1) * step, 0.9)
                  for k, c in enumerate(text))
    return Transcript("test.wav", "w1", speaker, 0, start_s, end_s, words)

"""Text normaliser: simplified Chinese, and nothing Whisper invented on silence or noise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import opencc
import yaml

from etiquette.core.records import Word

DEFAULT_GUARD = Path(__file__).resolve().parents[3] / "rules" / "asr_guard.yaml"


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return str(_converter().convert(text))


@dataclass(frozen=True)
class Guard:
    """Known failure modes of Whisper on silence and noise, from rules/asr_guard.yaml."""

    boilerplate: tuple[re.Pattern[str], ...]
    max_repeats: int

    @classmethod
    def load(cls, path: Path | None = None) -> Guard:
        path = path or DEFAULT_GUARD
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        try:
            patterns = tuple(re.compile(p) for p in raw.get("boilerplate", []))
        except re.error as e:
            raise ValueError(f"{path}: boilerplate pattern {e.pattern!r}: {e}") from e
        repeats = int(raw.get("repetition", {}).get("max_repeats", 3))
        if repeats < 1:
            raise ValueError(f"{path}: repetition -> max_repeats must be at least 1")
        return cls(patterns, repeats)

    def spans(self, text: str, prompt: str | None = None) -> list[tuple[int, int]]:
        """Character ranges of `text` that are hallucination, not speech."""
        found = [m.span() for p in self.boilerplate for m in p.finditer(text)]
        if prompt:
            start = text.find(prompt)
            while start >= 0:  # Whisper echoes its initial prompt on audio it cannot read
                found.append((start, start + len(prompt)))
                start = text.find(prompt, start + len(prompt))
        # Units up to a short sentence: base models loop on whole phrases ("I open 墨水,").
        loop = re.compile(r"(.{1,16}?)\1{" + str(self.max_repeats) + ",}", re.S)
        for m in loop.finditer(text):
            found.append((m.start() + len(m.group(1)), m.end()))  # keep the first occurrence
        return found


def clean_words(words: list[Word], guard: Guard, prompt: str | None = None
                ) -> tuple[tuple[Word, ...], tuple[str, ...]]:
    """Simplified words with hallucinated text removed, and the removed text."""
    words = [Word(to_simplified(w.text), w.start_s, w.end_s, w.probability) for w in words]
    text = "".join(w.text for w in words)
    spans = guard.spans(text, prompt)
    if not spans:
        return tuple(w for w in words if w.text), ()
    removed = [False] * len(text)
    for a, b in spans:
        removed[a:b] = [True] * (b - a)
    kept: list[Word] = []
    pos = 0
    for w in words:
        chars = "".join(c for k, c in enumerate(w.text) if not removed[pos + k])
        pos += len(w.text)
        if chars.strip():
            kept.append(Word(chars, w.start_s, w.end_s, w.probability))
    dropped = tuple(sorted({text[a:b] for a, b in spans}))
    return tuple(kept), dropped

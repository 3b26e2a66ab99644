"""What the recogniser heard of the held-out halves' turns becomes the meaning model's examples
(benchmarks/heldout/heard.py): Whisper base hears 催么子 as 吹马子, and the model reads what
Whisper heard. An utterance that holds one turn whole takes that turn's rules; one that holds
two turns, or half of one, is no example, for half a turn may not say the turn's phrase."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _heard_module() -> ModuleType:
    # a script beside benchmarks/heldout.py, which takes the package name `benchmarks.heldout`
    spec = importlib.util.spec_from_file_location("heard", ROOT / "benchmarks/heldout/heard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _turn(speaker: str, start_s: float, end_s: float, expect=(), required=()) -> dict:
    return {"speaker": speaker, "start_s": start_s, "end_s": end_s, "expect": list(expect),
            "required": list(required)}


def _heard(start_s: float, end_s: float, text: str) -> dict:
    return {"source": "/recordings/s01_test.ogg", "start_s": start_s, "end_s": end_s,
            "text": text}


LABELS = {"s01_test.ogg": {"turns": [
    _turn("staff", 0.5, 3.0, expect=["F2-2"]),
    _turn("citizen", 3.6, 6.0),
    _turn("staff", 6.6, 10.0, required=["R-farewell"]),
    _turn("staff", 10.6, 12.0),
]}}


def test_an_utterance_holding_one_turn_whole_is_an_example_of_that_turns_rules() -> None:
    run = {"transcripts": [_heard(0.4, 3.1, "吹马子，吹，等着"), _heard(3.5, 6.1, "我不知道"),
                           _heard(10.5, 12.1, "好的")]}
    assert _heard_module().heard(run, LABELS) == [
        {"rule": "F2-2", "text": "吹马子，吹，等着", "session": "s01_test"},
        {"rule": "none", "text": "我不知道", "session": "s01_test"},  # the citizen's: none
        {"rule": "none", "text": "好的", "session": "s01_test"},  # staff saying no phrase
    ]


def test_half_a_turn_two_turns_an_empty_text_or_another_file_are_no_example() -> None:
    run = {"transcripts": [
        _heard(6.5, 8.0, "好，证件收好"),  # the farewell turn's first half
        _heard(2.0, 5.0, "等着我不知道"),  # two turns run together
        _heard(0.4, 3.1, "  "),
        {**_heard(0.4, 3.1, "急什么"), "source": "/recordings/other.ogg"},
    ]}
    assert _heard_module().heard(run, LABELS) == []

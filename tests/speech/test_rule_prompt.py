"""Decoding biased toward the rules' phrases (issue 15): Whisper is told the words it should
expect, so a forbidden phrase said in a voice or a room it hears badly is still written down."""

from __future__ import annotations

from pathlib import Path

from etiquette.pipeline import PipelineOptions, SpeechPipeline
from etiquette.speech.recogniser import PROMPT_TOKENS, RecogniserOptions, phrase_prompt

DATA = Path(__file__).resolve().parents[1] / "data"


def test_the_prompt_holds_each_phrase_once_without_the_specifications_blanks():
    phrases = ["不知道", "您好，请您出示××材料（证件）", "不知道", "××"]
    assert phrase_prompt(phrases, list) == "不知道。您好，请您出示材料。"


def test_the_prompt_keeps_within_what_whisper_reads_and_still_takes_the_short_phrases():
    long = "对" * PROMPT_TOKENS  # never fits: a prompt past the limit loses its start
    prompt = phrase_prompt(["不知道", long, "问别人去"], list)
    assert prompt == "不知道。问别人去。"
    assert phrase_prompt([long], list) == ""
    many = [f"第{k}句话" for k in range(200)]
    assert len(phrase_prompt(many, list)) <= PROMPT_TOKENS


def test_a_forbidden_phrase_in_espeaks_voice_is_found_with_the_rule_prompt_on():
    """26 s of the held-out tune half's h65 (espeak-ng voice, two microphones): 快下班了，你快点
    at about 4.3 s and 马上下班了，你快点去 at about 20.3 s, which Whisper alone heard as
    快下半日 / 马上下半日 (benchmarks/results.md, issue 15); on this machine the
    matcher alone now finds the first."""
    speech = SpeechPipeline(PipelineOptions(
        recogniser=RecogniserOptions(cpu_threads=2, rule_prompt=True)))
    found = [i for i in speech.analyse(DATA / "espeak_hurry.ogg").incidents
             if i.rule_id == "F5-2"]
    # The first is found without the prompt too (issue 15's parts); the second only with it.
    assert any(i.offset_s - 1.5 <= 20.3 <= i.end_s + 1.5 for i in found), found

"""The forbidden phrases in the forms the held-out halves missed, on real audio (issue 15).

tests/data/phrase_forms.yaml made the recording (phrase_forms_labels.yaml: who said what,
when). Whisper's exact words differ between CPUs, so the tests assert which rule is flagged in
which turn, never one transcript. The turns asserted are those Whisper base hears in every
render tried here; the recording's other turns (填错了…快点改一下, 听我的还是听医生的, 不晓得)
it hears badly in some (言错了, 天一声), and their forms are asserted on text in
tests/core/test_phrase_forms.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from etiquette.core.records import Incident
from etiquette.pipeline import Analysis, PipelineOptions, SpeechPipeline
from etiquette.speech.recogniser import RecogniserOptions

DATA = Path(__file__).resolve().parent / "data"
RECORDING = "phrase_forms_stereo.ogg"
TURNS = yaml.safe_load((DATA / "phrase_forms_labels.yaml").read_text(encoding="utf-8"))[
    "files"][RECORDING]["turns"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    speech = SpeechPipeline(PipelineOptions(recogniser=RecogniserOptions(cpu_threads=2)))
    return speech.analyse(DATA / RECORDING)


def in_turn(incident: Incident, turn: dict, slack: float = 0.5) -> bool:
    return incident.offset_s < turn["end_s"] + slack and turn["start_s"] - slack < incident.end_s


def flags_in(analysis: Analysis, turn: dict) -> list[Incident]:
    return [i for i in analysis.incidents if i.kind == "forbidden_phrase" and in_turn(i, turn)]


@pytest.mark.parametrize(("text", "rule"), [
    ("有什么意见，找我们领导去", "F6-2"),  # words inside the phrase
    ("先等着，还没上班", "F5-1"),  # its parts reordered
    ("要下班了，搞快点", "F5-2"),  # a regional word (搞快点 for 你快点)
])
def test_a_phrase_in_a_form_the_rules_were_not_tuned_on_is_flagged_in_its_turn(
        analysis, text, rule):
    (turn,) = [t for t in TURNS if t["text"] == text]
    assert [i.rule_id for i in flags_in(analysis, turn)] == [rule]


def test_polite_look_alikes_of_the_new_forms_are_not_flagged(analysis):
    polite = [t for t in TURNS if t["decoys"] and not t["expect"]]
    assert len(polite) == 5
    assert {t["text"]: flags_in(analysis, t) for t in polite} == {t["text"]: [] for t in polite}

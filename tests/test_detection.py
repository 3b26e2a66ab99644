"""The three ways flags went wrong on speech the project was never tuned on, on real audio.

tests/data/sessions.yaml made the recordings (labels.yaml: who said what, when). Whisper's
exact words differ between CPUs, so the tests assert what a supervisor relies on: which rule
is flagged in which turn, never one exact transcript.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from etiquette.core.records import Incident
from etiquette.pipeline import Analysis, PipelineOptions, SpeechPipeline
from etiquette.speech.recogniser import RecogniserOptions

DATA = Path(__file__).resolve().parent / "data"
# The held-out set's tuning half, in espeak-ng's voice, which Whisper base hears badly.
ESPEAK = Path(__file__).resolve().parents[1] / "benchmarks" / "heldout" / "tune" / "espeak"
LABELS = yaml.safe_load((DATA / "labels.yaml").read_text(encoding="utf-8"))["files"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def speech() -> SpeechPipeline:
    return SpeechPipeline(PipelineOptions(recogniser=RecogniserOptions(cpu_threads=2)))


@pytest.fixture(scope="module")
def analysed(speech: SpeechPipeline) -> dict[str, Analysis]:
    return {name: speech.analyse(DATA / name) for name in ("pauses_stereo.ogg", "citizen_mono.ogg")}


def turns(name: str, **match: object) -> list[dict]:
    return [t for t in LABELS[name]["turns"] if all(t.get(k) == v for k, v in match.items())]


def in_turn(incident: Incident, turn: dict, slack: float = 0.5) -> bool:
    return incident.offset_s < turn["end_s"] + slack and turn["start_s"] - slack < incident.end_s


def forbidden(analysis: Analysis) -> list[Incident]:
    return [i for i in analysis.incidents if i.kind == "forbidden_phrase"]


def test_a_phrase_said_with_a_pause_at_its_comma_is_flagged_once_over_both_halves(analysed):
    found = forbidden(analysed["pauses_stereo.ogg"])
    for rule in ("F1-3", "F4-1"):
        (turn,) = [t for t in turns("pauses_stereo.ogg") if rule in t["expect"]]
        hits = [i for i in found if i.rule_id == rule]
        assert len(hits) == 1, (rule, found)
        (hit,) = hits
        assert in_turn(hit, turn)
        # The pause cut the phrase in two; the incident and its clip span both halves.
        assert hit.end_s - hit.offset_s > 0.7 * (turn["end_s"] - turn["start_s"])
        assert hit.hit_start is not None and hit.hit_end is not None
        matched = hit.transcript[hit.hit_start:hit.hit_end]
        assert any(mark in matched for mark in "，,"), matched


def test_not_knowing_in_a_polite_question_to_the_citizen_is_not_flagged(analysed):
    (polite,) = turns("pauses_stereo.ogg", decoys=["F1-1"])
    assert not [i for i in forbidden(analysed["pauses_stereo.ogg"]) if in_turn(i, polite)]
    # It was heard and judged, not lost: the exclusion is on record with its reason.
    excluded = [e for e in analysed["pauses_stereo.ogg"].excluded if e.hit.rule_id == "F1-1"]
    assert excluded and all(e.reason for e in excluded)


def test_the_citizen_saying_i_dont_know_on_one_microphone_is_not_flagged(analysed):
    analysis = analysed["citizen_mono.ogg"]
    assert forbidden(analysis) == []
    # Both sides were heard and told apart: the citizen's 我不知道 is the citizen's, the
    # greeting the staff member's (so it is not missing), each with the reason.
    by_turn = {}
    for t in analysis.transcripts:
        (turn,) = [x for x in LABELS["citizen_mono.ogg"]["turns"]
                   if x["start_s"] - 0.5 < t.start_s < x["end_s"]]
        by_turn[turn["text"]] = t
    for turn in turns("citizen_mono.ogg", speaker="citizen"):
        if "不知道" in turn["text"]:
            assert by_turn[turn["text"]].speaker == "citizen", by_turn[turn["text"]]
            assert by_turn[turn["text"]].speaker_note
    assert all(i.kind != "missing_greeting" for i in analysis.incidents)


def test_a_greeting_whisper_garbles_is_found_in_the_audio_and_a_missing_one_still_reported(
        speech):
    """h33's staff greet in espeak-ng's voice, which Whisper base writes as gibberish
    (灵套千文灵需要盼离神的颜目); h05's staff never greet nor say goodbye. Before a greeting or
    farewell is reported missing, the near misses where it was due are put to the audio."""
    kinds = {name: {i.kind for i in speech.analyse(ESPEAK / name).incidents}
             for name in ("h33_linghuo_jiuye.ogg", "h05_budongchan_wenlu.ogg")}
    assert "missing_greeting" not in kinds["h33_linghuo_jiuye.ogg"]
    assert {"missing_greeting", "missing_farewell"} <= kinds["h05_budongchan_wenlu.ogg"]


# Cut from the held-out half blind12 (r28_zhengjian_youji, natural voice, 21.5-44.2 s): the
# clerk's 到付，这个单子上写了，自己看嘛 (F1-3) and 邮编填错了……快点改 (F3-1), each ending with
# one part of its phrase, the citizen answering after each.
PART_AT_THE_END = DATA / "part_at_the_end_stereo.ogg"
PART_AT_THE_END_TURNS = {"F1-3": {"start_s": 8.085, "end_s": 11.725},
                         "F3-1": {"start_s": 16.885, "end_s": 21.835}}


def test_a_phrase_ending_with_one_of_its_parts_is_flagged_where_no_second_half_follows(speech):
    found = forbidden(speech.analyse(PART_AT_THE_END))
    for rule, turn in PART_AT_THE_END_TURNS.items():
        assert len([i for i in found if i.rule_id == rule and in_turn(i, turn)]) == 1, found
    assert all(any(in_turn(i, t) for t in PART_AT_THE_END_TURNS.values()) for i in found)

"""Composed rules on real audio, through the batch pipeline: missing_apology (Appendix B 二（六）)
as rules/checks.yaml writes it -- a refusal said without the apology is flagged on its utterance
with a clip of it, one said with 对不起，根据规定……请您谅解 is not -- and a rule about what the
citizen said, whose words are then transcribed for it.

tests/data/apology.yaml made the recording (apology_labels.yaml: who said what, when).
Whisper's exact words differ between CPUs: the tests assert which utterance is flagged and
that the clip and explanation are there, never one exact transcript.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from etiquette.core.checks.rules import DEFAULT_CHECK_RULES
from etiquette.core.records import IncidentKind
from etiquette.pipeline import Analysis, PipelineOptions, SpeechPipeline

DATA = Path(__file__).resolve().parent / "data"
LABELS = yaml.safe_load((DATA / "apology_labels.yaml").read_text(encoding="utf-8"))["files"]
TURNS = LABELS["apology_stereo.ogg"]["turns"]
REFUSED, _, APOLOGISED = [t for t in TURNS if t["speaker"] == "staff"]
# 你的材料不全，今天办不了 / 请收好您的身份证 / 对不起，根据规定，…请您谅解
ASKED = TURNS[4]  # the citizen: 我朋友的也能一起办吗

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def analysis(recogniser, tmp_path_factory) -> Analysis:  # type: ignore[no-untyped-def]
    """The recording judged by rules/checks.yaml as it is, plus a rule on the citizen's words."""
    tmp = tmp_path_factory.mktemp("apology")
    checks = yaml.safe_load(DEFAULT_CHECK_RULES.read_text(encoding="utf-8"))
    checks["composed"].append({
        "id": "T-friend", "name": "群众代人询问", "kind": "forbidden_phrase",
        "when": {"all": [{"speaker": "citizen"}, {"phrase": ["朋友"]}]}})
    path = tmp / "checks.yaml"
    path.write_text(yaml.safe_dump(checks, allow_unicode=True), encoding="utf-8")
    speech = SpeechPipeline(PipelineOptions(clip_dir=tmp, checks_path=path), recogniser=recogniser)
    return speech.analyse(DATA / "apology_stereo.ogg")


def test_a_refusal_without_apology_is_flagged_with_its_clip_and_one_with_it_is_not(analysis):
    found = [i for i in analysis.incidents if i.kind == IncidentKind.MISSING_APOLOGY]
    assert len(found) == 1, found
    [incident] = found
    assert REFUSED["start_s"] - 0.5 < incident.offset_s < REFUSED["end_s"]
    assert incident.end_s < APOLOGISED["start_s"]
    assert incident.speaker == "staff"
    # the reviewer hears it, sees the refusal highlighted and reads why
    assert Path(incident.evidence["clip"]).stat().st_size > 0
    assert incident.hit_start is not None and incident.hit_end is not None
    assert incident.hit_end > incident.hit_start
    assert "没有说「对不起/抱歉" in incident.explanation


def test_a_rule_on_what_the_citizen_said_has_the_citizen_transcribed(analysis):
    [incident] = [i for i in analysis.incidents if i.rule_id == "T-friend"]
    assert ASKED["start_s"] - 0.5 < incident.offset_s < ASKED["end_s"]
    assert incident.speaker == "citizen"
    # every citizen utterance was transcribed for it, not only the one it fired on
    citizen = [t for t in analysis.transcripts if t.speaker == "citizen"]
    assert len(citizen) == sum(t["speaker"] == "citizen" for t in TURNS)

"""Rules composed of operators (issue 19 item 1): each operator on constructed turns, the
missing_apology rule of rules/checks.yaml, and bad rules data refused naming rule, field and
line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from etiquette.core.checks.base import SessionView, Turn
from etiquette.core.checks.operators import ComposedRule, Condition
from etiquette.core.checks.rules import CheckRulesError, judge_checks, load_check_rules
from etiquette.core.records import IncidentKind, Speaker
from etiquette.core.sessions import Session
from etiquette.speech.turns import words_wanted

from factories.transcripts import said

STAFF, CITIZEN, UNKNOWN = Speaker.STAFF, Speaker.CITIZEN, Speaker.UNKNOWN


def view(*lines: tuple[Speaker, str]) -> SessionView:
    """A session of these utterances, 3 s each, one second apart."""
    turns = []
    for k, (speaker, text) in enumerate(lines):
        start = 4.0 * k
        turns.append(Turn(speaker=speaker, channel=0 if speaker != CITIZEN else 1, start_s=start,
                          end_s=start + 3, transcript=said(text, speaker, start, start + 3)))
    return SessionView(session=Session("s.wav", "w1", 0.0, 4.0 * len(lines) - 1),
                       turns=tuple(turns))


def rule(when: dict[str, Any], kind: str = "forbidden_phrase") -> ComposedRule:
    return ComposedRule.model_validate({"id": "X-1", "name": "测试", "kind": kind, "when": when})


def fired(when: dict[str, Any], *lines: tuple[Speaker, str]) -> list[str]:
    """The texts of the utterances the rule fires on."""
    return [i.transcript for i in rule(when).judge(view(*lines))]


@pytest.mark.parametrize(("need", "text", "fires"), [
    ("any", "请您出示身份证", True),
    ("any", "请您稍等", False),
    ("all", "身份证、户口本和结婚证都带了", True),
    ("all", "请您出示身份证", False),
    (2, "身份证和户口本都要", True),
    (2, "只要身份证", False),
    ("none", "请您稍等", True),
    ("none", "请出示户口本", False),
])
def test_keywords_any_all_at_least_none(need, text, fires):
    when = {"keywords": ["身份证", "户口本", "结婚证"], "need": need}
    assert fired(when, (STAFF, text)) == ([text] if fires else [])


def test_an_incident_highlights_the_anchor_words_and_says_what_held():
    [incident] = rule({"all": [{"speaker": "staff"}, {"keywords": ["抱歉", "办不了"]}]},
                      "missing_apology").judge(view((STAFF, "这个今天办不了")))
    assert incident.kind == IncidentKind.MISSING_APOLOGY
    assert incident.transcript[incident.hit_start:incident.hit_end] == "办不了"
    assert incident.explanation.startswith("工作人员说的，")
    assert "说了「办不了」" in incident.explanation
    assert (incident.offset_s, incident.end_s) == (0.0, 3.0)


def test_regex_with_an_exclusion_where_it_overlaps():
    when = {"regex": "需要补充", "unless": "不需要"}
    assert fired(when, (STAFF, "您还需要补充一份证明")) == ["您还需要补充一份证明"]
    assert fired(when, (STAFF, "不需要补充了")) == []
    # the exclusion elsewhere in the utterance spares nothing
    assert fired(when, (STAFF, "复印件不需要，但需要补充原件")) == ["复印件不需要，但需要补充原件"]


def test_phrase_matches_by_sound_as_appendix_b_phrases_do():
    when = {"phrase": ["不能为您办理"]}
    assert fired(when, (STAFF, "我们不能为您办里这项业务")) == ["我们不能为您办里这项业务"]
    [incident] = rule(when).judge(view((STAFF, "我们不能为您办里这项业务")))
    assert "近「不能为您办理」" in incident.explanation
    assert fired(when, (STAFF, "我们马上为您办理")) == []
    assert fired({"phrase": ["不能为您办理"], "min_score": 1.0},
                 (STAFF, "我们不能为您办里这项业务")) == []


def test_speaker_role():
    lines = [(STAFF, "办不了"), (CITIZEN, "办不了"), (UNKNOWN, "办不了")]
    assert len(fired({"all": [{"speaker": "staff"}, {"keywords": ["办不了"]}]}, *lines)) == 1
    assert len(fired({"all": [{"speaker": "citizen"}, {"keywords": ["办不了"]}]}, *lines)) == 1
    assert len(fired({"all": [{"speaker": ["staff", "unknown"]}, {"keywords": ["办不了"]}]},
                     *lines)) == 2
    assert len(fired({"all": [{"speaker": "any"}, {"keywords": ["办不了"]}]}, *lines)) == 3


def test_position_in_the_first_or_last_seconds_of_the_session():
    lines = [(STAFF, "一"), (STAFF, "二"), (STAFF, "三")]  # 0-3 s, 4-7 s, 8-11 s
    assert fired({"position": "first", "seconds": 5}, *lines) == ["一", "二"]
    assert fired({"position": "last", "seconds": 2}, *lines) == ["三"]


def test_sentence_type_of_the_hit_or_of_the_utterance():
    ask = {"all": [{"keywords": ["不能办理"]}, {"sentence": "question"}]}
    assert fired(ask, (CITIZEN, "我这个不能办理吗？")) == ["我这个不能办理吗？"]
    assert fired(ask, (STAFF, "这个不能办理。您还有别的事吗？")) == []  # its own sentence is not
    assert fired({"sentence": "statement"}, (STAFF, "好的。"), (STAFF, "是吗？")) == ["好的。"]


def test_context_before_and_after_within_n_utterances_of_the_same_or_the_other_side():
    sorry = {"keywords": ["对不起"]}
    lines = [(STAFF, "对不起"), (CITIZEN, "啊"), (STAFF, "办不了"), (STAFF, "请回吧")]
    anchor = {"keywords": ["办不了"]}
    # the staff's utterance before counts across the citizen's between
    assert fired({"all": [anchor, {"near": sorry, "before": 1}]}, *lines) == ["办不了"]
    # not after, and not within one utterance of the other side
    assert fired({"all": [anchor, {"near": sorry, "after": 1}]}, *lines) == []
    assert fired({"all": [anchor, {"near": sorry, "before": 1, "of": "other"}]}, *lines) == []
    assert fired({"all": [anchor, {"near": sorry, "before": 1, "of": "any"}]}, *lines) == []
    assert fired({"all": [anchor, {"near": sorry, "before": 2, "of": "any"}]}, *lines) == [
        "办不了"]
    # the anchor's own words count unless told otherwise
    own = [(STAFF, "对不起，办不了")]
    assert fired({"all": [anchor, {"near": sorry}]}, *own) == ["对不起，办不了"]
    assert fired({"all": [anchor, {"near": sorry, "after": 1, "anchor": False}]}, *own) == []


def test_conditions_nest_and_the_explanation_says_what_was_absent():
    when = {"all": [{"any": [{"keywords": ["办不了"]}, {"regex": "不符合.*条件"}]},
                    {"not": {"near": {"keywords": ["对不起", "抱歉"]}, "before": 1,
                             "after": 1}}]}
    lines = [(STAFF, "您不符合申请条件"), (STAFF, "真对不起"), (STAFF, "办不了"),
             (STAFF, "下一位"), (STAFF, "这个办不了")]
    [incident] = rule(when).judge(view(*lines))  # the others have 真对不起 next to them
    assert incident.transcript == "这个办不了"
    assert incident.explanation == "说了「办不了」，本句或前后一句内没有说「对不起/抱歉」"


def test_missing_apology_as_written_in_rules_checks_yaml():
    rules = load_check_rules()
    missing = [c for c in rules.checks() if c.kind == IncidentKind.MISSING_APOLOGY]
    assert missing, "rules/checks.yaml has a missing_apology rule"

    def flagged(*lines: tuple[Speaker, str]) -> list[str]:
        return [i.transcript for i in judge_checks(rules, view(*lines))
                if i.kind == IncidentKind.MISSING_APOLOGY]

    assert flagged((STAFF, "您这个不符合申请条件，办不了。")) == ["您这个不符合申请条件，办不了。"]
    assert flagged((STAFF, "材料不全，还需要补充一份户口本复印件。")) != []
    # said with the required form, or an apology just before or after it
    assert flagged((STAFF, "对不起，根据规定，我们不能为您办理这项业务，请您谅解。")) == []
    assert flagged((STAFF, "不好意思。"), (STAFF, "这个今天办不了。")) == []
    assert flagged((STAFF, "这个今天办不了。"), (CITIZEN, "啊？"), (STAFF, "实在抱歉。")) == []
    # a citizen asking, staff asking whether anything is missing, staff saying what is not needed
    assert flagged((CITIZEN, "我这个不能办理吗？")) == []
    assert flagged((STAFF, "您还需要补充什么材料吗？")) == []
    assert flagged((STAFF, "不需要补充材料了，这些就够了。")) == []
    # the first list of what to bring, in the spec's words (二(四)), asks for nothing more
    assert flagged((STAFF, "请您出示身份证和房产证，还要一份户型图。")) == []
    assert flagged((STAFF, "房产证还要一份复印件，回去补一份再来。")) != []


def problems_of(tmp_path: Path, composed: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    path = tmp_path / "checks.yaml"
    path.write_text(yaml.safe_dump({"version": "t", "composed": composed}, allow_unicode=True,
                                   sort_keys=False), encoding="utf-8")
    with pytest.raises(CheckRulesError) as e:
        load_check_rules(path)
    return str(e.value), list(e.value.problems)


BASE = {"id": "A-1", "name": "测试", "kind": "missing_apology"}


@pytest.mark.parametrize(("when", "where", "says"), [
    ({"all": [{"keyword": ["a"]}]}, "when -> all[0]", "'keyword' is not an operator"),
    ({"regex": "不符合(条件"}, "when -> regex", "is not a regular expression"),
    ({"keywords": ["a", "b"], "need": 3}, "when", "need: 3 is more than the 2 keywords"),
    ({"near": {"keywords": ["a"]}, "before": -1}, "when -> before", "greater than or equal"),
    ({"keywords": ["a"], "regex": "b"}, "when", "exactly one operator"),
    ({"keywords": ["a"], "unless": "b"}, "when", "'unless' is not an option of keywords"),
    ({"position": "first"}, "when", "position needs seconds"),
])
def test_bad_rules_data_is_refused_naming_rule_field_and_line(tmp_path, when, where, says):
    message, problems = problems_of(tmp_path, [{**BASE, "when": when}])
    [problem] = problems
    assert problem.path.startswith(f"composed[0] (A-1) -> {where}")
    assert says in problem.message
    assert problem.line is not None and problem.line > 1
    assert "(A-1)" in message and f"line {problem.line}" in message


def test_a_rule_id_used_twice_and_an_unknown_kind_are_refused(tmp_path):
    rule_ = {**BASE, "when": {"keywords": ["a"]}}
    _, [problem] = problems_of(tmp_path, [rule_, rule_])
    assert "rule id 'A-1' is used twice" in problem.message
    _, [problem] = problems_of(tmp_path, [{**rule_, "kind": "rudeness"}])
    assert problem.path == "composed[0] (A-1) -> kind"


def test_a_condition_states_itself_in_chinese():
    c = Condition.model_validate({"not": {"near": {"keywords": ["对不起"]}, "before": 2,
                                          "of": "other", "anchor": False}})
    assert c.claim() == "对方前两句内没有说「对不起」"


@pytest.mark.parametrize(("when", "reads"), [
    ({"all": [{"speaker": "staff"}, {"keywords": ["办不了"]}]}, False),
    ({"all": [{"speaker": ["staff", "unknown"]},
              {"not": {"near": {"keywords": ["对不起"]}, "before": 1}}]}, False),
    ({"keywords": ["办不了"]}, True),  # anyone's utterance may be its anchor
    ({"all": [{"speaker": "any"}, {"keywords": ["办不了"]}]}, True),
    ({"any": [{"speaker": "staff"}, {"speaker": "citizen"}]}, True),
    ({"all": [{"speaker": "staff"}, {"near": {"keywords": ["投诉"]}, "before": 2,
                                      "of": "other"}]}, True),
])
def test_a_rule_says_whether_it_reads_the_citizens_words(when, reads):
    """The citizen's speech is transcribed only for the rules that read it."""
    assert rule(when).reads_citizen is reads
    rules = load_check_rules()
    lines = view((STAFF, "您好"), (CITIZEN, "我来办证"), (STAFF, "请稍等"))
    citizen = [t for t in lines.turns if t.speaker == CITIZEN]
    checks = rules.model_copy(update={"composed": (rule(when),), "unanswered_question": None})
    assert words_wanted(checks, lines.turns, 12.0) == (citizen if reads else [])

"""The rules file: Appendix B complete, and a malformed file fails at start-up, naming rule
and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from etiquette.core.rules import DEFAULT_RULES, RulesError, load_rules, parse_rules

from factories import ROOT

SPEC_FORBIDDEN = ["不知道", "问别人去", "有指示牌，自己看", "急什么，忙着呢", "催什么催",
                  "填错了，快点改", "说几遍了，怎么还不会", "听我的，还是听你的", "你懂，还是我懂",
                  "还没上班，先等着", "快下班了，你快点", "你去投诉我啊", "有意见找领导去"]


def test_every_forbidden_phrase_of_the_six_groups_is_a_rule(rules):
    assert [r.canonical for r in rules.forbidden] == SPEC_FORBIDDEN
    assert {r.group for r in rules.forbidden} == {1, 2, 3, 4, 5, 6}
    for r in rules.forbidden:
        assert rules.severity_of(r) and rules.deduction_of(r) > 0


def test_every_forbidden_rule_names_the_standard_phrase_to_say_instead(rules):
    """Self-training shows it beside the staff member's own incident."""
    required = {r.id: r for r in rules.required}
    for r in rules.forbidden:
        instead = rules.instead_of(r)
        assert instead is not None and required.get(instead.id) is instead, r.id
    by_id = {r.id: r for r in rules.forbidden}
    # A rule's own `instead` overrides its group's: 「不知道」 is answered by finding out
    # (请稍候), where the rest of its group (推诿搪塞) is answered by the reception phrase.
    assert rules.instead_of(by_id["F1-1"]).canonical == "请稍候，我马上为您办理"
    assert rules.instead_of(by_id["F1-2"]).id == rules.groups[1].instead == "R-greeting"
    assert rules.instead_of(by_id["F2-1"]).id == "R-wait"


def test_instead_is_optional(tmp_path):
    """Rules written before it (older versions kept by the service) still load; they name none."""
    data = _base()
    for group in data["groups"].values():
        del group["instead"]
    for rule in data["forbidden"]:
        rule.pop("instead", None)
    rules = load_rules(_write(tmp_path, data))
    assert [rules.instead_of(r) for r in rules.forbidden] == [None] * len(rules.forbidden)


def _plain(text: str) -> str:
    return "".join(text.split()).translate(str.maketrans(",()", "，（）"))


def test_required_phrases_quote_appendix_b(rules):
    spec = (ROOT.parent / "shared/spec/000_ec514c074c1ec4f1.txt")
    text = _plain(spec.read_text(encoding="utf-8")) if spec.exists() else None
    ids = {r.id for r in rules.required}
    assert ids == {"R-greeting", "R-farewell", "R-phone", "R-documents", "R-wait",
                   "R-sorry-materials", "R-sorry-survey", "R-sorry-refuse"}
    if text:
        for r in rules.required:
            for p in r.phrases:
                assert _plain(p) in text, p


def test_greeting_and_farewell_are_due_per_session(rules):
    due = {r.id: r.missing.kind.value for r in rules.required if r.missing}
    assert due == {"R-greeting": "missing_greeting", "R-farewell": "missing_farewell"}


def _write(tmp_path: Path, data: dict, examples: str | None = None) -> Path:
    """The rules in a folder of their own, with the bundled examples beside them (or these)."""
    p = tmp_path / "rules.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    bundled = DEFAULT_RULES.parent / _base()["meaning"]["examples_file"]
    (tmp_path / "examples.yaml").write_text(
        examples if examples is not None else bundled.read_text(encoding="utf-8"),
        encoding="utf-8")
    return p


def _base() -> dict:
    return yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["forbidden"][3].update(min_score=3), "forbidden[3] (F2-1) -> min_score"),
    (lambda d: d["forbidden"][0].update(severity="awful"), "forbidden[0] (F1-1) -> severity"),
    (lambda d: d["forbidden"][1].pop("phrases"), "forbidden[1] (F1-2) -> phrases"),
    (lambda d: d["forbidden"][2].update(colour="red"), "forbidden[2] (F1-3) -> colour"),
    (lambda d: d["required"][0].update(expected_at="lunch"),
     "required[0] (R-greeting) -> expected_at"),
    (lambda d: d["forbidden"][0].update(group=9), "group 9 is not defined"),
    (lambda d: d["forbidden"][1].update(id="F1-1"), "'F1-1' is used twice"),
    (lambda d: d["forbidden"][4].update(phrases=["  "]), "forbidden[4] (F2-2)"),
    (lambda d: d["groups"][2].update(instead="R-nothing"),
     "groups -> 2 -> instead: 'R-nothing' is not"),
    # `instead` names a phrase to say: a forbidden rule is no such phrase.
    (lambda d: d["forbidden"][3].update(instead="F1-2"),
     "forbidden[3] (F2-1) -> instead: 'F1-2' is not"),
    (lambda d: d["groups"][1].update(instead="R wait"), "groups -> 1 -> instead"),
    (lambda d: d["required"][0].update(staff_alone=["您好", " "]),
     "staff_alone: words must not be blank"),
    (lambda d: d["required"][0].update(speakers=["unknown"]),
     "staff_alone: words the staff say alone need staff among the rule's speakers"),
])
def test_malformed_rules_name_the_rule_and_field(tmp_path, mutate, expected):
    data = _base()
    mutate(data)
    with pytest.raises(RulesError) as e:
        load_rules(_write(tmp_path, data))
    assert expected in str(e.value)


def test_unreadable_or_non_yaml_rules_fail_clearly(tmp_path):
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("forbidden: [unclosed", encoding="utf-8")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(bad)
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(RulesError, match="mapping"):
        load_rules(bad)


def test_rules_check_command_reports_errors(tmp_path):
    from typer.testing import CliRunner

    from etiquette.cli import app

    data = _base()
    data["forbidden"][0]["deduction"] = -1
    result = CliRunner().invoke(app, ["rules", "check", str(_write(tmp_path, data))])
    assert result.exit_code == 2
    assert "F1-1" in result.output and "deduction" in result.output
    ok = CliRunner().invoke(app, ["rules", "check"])
    assert ok.exit_code == 0 and "禁用语 13 条" in ok.output


def test_extra_readings_must_be_single_characters_with_pinyin(tmp_path):
    data = _base()
    data["matching"]["readings"] = {"著呢": ["zhe"]}
    with pytest.raises(RulesError,
                       match=r"matching \(line \d+\): .*readings: .著呢. must be one character"):
        load_rules(_write(tmp_path, data))
    data["matching"]["readings"] = {"著": ["zhe2"]}
    with pytest.raises(RulesError, match="toneless pinyin"):
        load_rules(_write(tmp_path, data))


def test_rules_as_text_are_validated_as_the_file_is(tmp_path):
    """The supervision service validates edited rules from text with the file's own checks."""
    data = _base()
    data["forbidden"][3]["min_score"] = 3
    path = _write(tmp_path, data)
    with pytest.raises(RulesError) as from_file:
        load_rules(path)
    with pytest.raises(RulesError) as from_text:
        parse_rules(path.read_text(encoding="utf-8"), where="edited")
    assert str(from_text.value) == str(from_file.value).replace(str(path), "edited")
    assert "edited: invalid rules" in str(from_text.value)
    assert "forbidden[3] (F2-1) -> min_score" in str(from_text.value)
    with pytest.raises(RulesError, match="edited: not valid YAML"):
        parse_rules("forbidden: [unclosed", where="edited")
    assert parse_rules(DEFAULT_RULES.read_text(encoding="utf-8")) == load_rules()


def test_meaning_examples_are_loaded_beside_the_rules(rules):
    """Every example is labelled with one of the forbidden rules, the greeting or the farewell,
    or none, and every one of them has examples to learn from."""
    assert rules.meaning is not None
    labels = {e.rule for e in rules.examples}
    assert labels == {r.id for r in rules.forbidden} | {"R-greeting", "R-farewell", "none"}
    assert all(e.text.strip() and e.source for e in rules.examples)


@pytest.mark.parametrize("examples, expected", [
    ("examples:\n  - {rule: F1-1, text: 我哪里晓得}\n  - {rule: F9-9, text: 你自己想办法}\n",
     r"examples\[1\] -> rule: 'F9-9' is not the id of a forbidden rule, nor of a required rule "
     r"with a missing incident, nor 'none' \(line 3\)"),
    # a required phrase whose absence is no incident is not read by meaning
    ("examples:\n  - {rule: F1-1, text: 我哪里晓得}\n  - {rule: R-wait, text: 您稍等}\n",
     r"examples\[1\] -> rule: 'R-wait' is not the id of a forbidden rule"),
    ("examples:\n  - {rule: R-greeting, text: 您好，办什么}\n  - {rule: none, text: 好的}\n",
     "needs examples of a forbidden rule and of 'none'"),
    ("examples:\n  - {rule: F1-1, text: 我哪里晓得}\n  - {rule: none}\n",
     r"examples\[1\] -> text \(line 3\): Field required"),
    ("examples:\n  - {rule: F1-1, text: 我哪里晓得}\n",
     "needs examples of a forbidden rule and of 'none'"),
    ("examples: []\n", "examples"),
])
def test_malformed_meaning_examples_name_the_file_entry_and_line(tmp_path, examples, expected):
    with pytest.raises(RulesError, match=expected) as e:
        load_rules(_write(tmp_path, _base(), examples))
    assert str(tmp_path / "examples.yaml") in str(e.value)


def test_a_missing_examples_file_or_a_bad_threshold_fails_clearly(tmp_path):
    data = _base()
    data["meaning"]["examples_file"] = "nowhere.yaml"
    with pytest.raises(RulesError, match=r"nowhere.yaml: cannot read meaning examples"):
        load_rules(_write(tmp_path, data))
    data = _base()
    data["meaning"]["min_probability"] = "high"
    with pytest.raises(RulesError, match=r"meaning -> min_probability \(line \d+\)"):
        load_rules(_write(tmp_path, data))


def test_rules_without_meaning_judge_by_their_wordings_alone(tmp_path):
    data = _base()
    del data["meaning"]
    assert load_rules(_write(tmp_path, data)).examples == ()

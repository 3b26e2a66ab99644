"""The rule editor's service: a rule edited through its form becomes a new version that loads
as the pipelines load rules and matches as edited; the rest of the file, its comments
included, is kept as written; bad values are refused in Chinese, naming the rule and field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from etiquette.core.matching import PhraseMatcher
from etiquette.core.records import Speaker
from etiquette.core.rules import DEFAULT_RULES, parse_rules
from etiquette.service.core import db
from etiquette.service.crud import rules as crud
from etiquette.service.errors import Conflict
from etiquette.service.services import diff, rule_editor, yaml_patch
from etiquette.service.services import rules as rules_service
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.problems import InvalidDocument

from factories.transcripts import said

ADMIN = Principal(label="user:admin", grants=frozenset({Permission.RULES_ADMIN}))
ORIGINAL = DEFAULT_RULES.read_text(encoding="utf-8")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'rules.db'}")
    try:
        db.upgrade(engine)
        with db.make_sessionmaker(engine)() as s:
            rules_service.seed(session=s, path=None)
            yield s
    finally:
        engine.dispose()


def edit(session: Session, rule_id: str, **fields: str) -> str:
    """Submit the rule's form with `fields` changed; the YAML of the version saved."""
    form = rule_editor.form(ORIGINAL, rule_id)
    row = rule_editor.edit(session=session, principal=ADMIN, rule_id=rule_id,
                           submitted={**form.values, **fields}, based_on=1, comment="")
    return row.yaml


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    rows = diff.side_by_side(before, after)
    changed = [r for r in rows if r.tag not in ("equal", "skip")]
    return ([line(r.old) for r in changed if r.old.number],
            [line(r.new) for r in changed if r.new.number])


def line(side: diff.Side) -> str:
    return "".join(text for text, _ in side.parts)


def rule_line(rule_id: str, field: str) -> str:
    """The line of `field` in rule `rule_id` of the shipped rules file, as written (the file is
    the project's to tune: tests read its values rather than repeat them)."""
    lines = ORIGINAL.splitlines()
    start = lines.index(f"  - id: {rule_id}")
    return next(x for x in lines[start + 1:] if x.startswith(f"    {field}:"))


def comments(text: str) -> list[str]:
    return [x[x.index("#"):] for x in text.splitlines() if "#" in x]


def test_a_form_edit_is_a_new_version_that_loads_and_matches_as_edited(session: Session) -> None:
    text = edit(session, "F1-2", phrases="问别人去吧", variants="你问别人去\n自己问别人去吧\n",
                exclusions="可以问别人", severity="critical", deduction="3")
    row = crud.current(session=session)
    assert row is not None and row.id == 2 and row.comment == "表单修改规则 F1-2"
    assert row.created_by == "user:admin"
    rules = parse_rules(text)
    rule = next(r for r in rules.forbidden if r.id == "F1-2")
    assert rule.phrases == ("问别人去吧",) and rule.variants == ("你问别人去", "自己问别人去吧")
    assert rule.exclusions == ("可以问别人",)
    assert rules.severity_of(rule) == "critical" and rules.deduction_of(rule) == 3
    # Only the edited fields' lines changed; every other rule is as it was.
    old, new = changed_lines(ORIGINAL, text)
    assert old == [rule_line("F1-2", "phrases"), rule_line("F1-2", "variants")]
    assert new == ["    phrases: [问别人去吧]", "    variants: [你问别人去, 自己问别人去吧]",
                   "    exclusions: [可以问别人]", "    severity: critical", "    deduction: 3"]
    # The pipelines' matcher judges with the edit: the new variant is flagged, the old one not
    # (by the wordings; the meaning model reads 你找别人去 as F1-2 whatever the list says).
    matcher = PhraseMatcher(rules.model_copy(update={"meaning": None}))
    hits, _ = matcher.forbidden(said("行了，你自己问别人去吧"))
    assert [r.id for r, _ in hits] == ["F1-2"]
    hits, _ = matcher.forbidden(said("你找别人去"))
    assert "F1-2" not in [r.id for r, _ in hits]


def test_the_comments_of_the_file_survive_a_form_save(session: Session) -> None:
    """F1-1 has comments between its fields and after its items: all are kept, in place."""
    text = edit(session, "F1-1", variants="不晓得\n哪知道\n谁知道", min_score="",
                severity="minor")
    assert comments(text) == comments(ORIGINAL)
    old, new = changed_lines(ORIGINAL, text)
    variants = rule_line("F1-1", "variants")
    assert old == [variants, rule_line("F1-1", "min_score")]
    # The edited line keeps the comment written after it.
    kept = variants[variants.index("]") + 1:]
    assert new == ["    variants: [不晓得, 哪知道, 谁知道]" + kept, "    severity: minor"]
    rule = next(r for r in parse_rules(text).forbidden if r.id == "F1-1")
    assert rule.min_score is None and rule.context.unless  # its context untouched


def test_a_required_rules_missing_incident_is_edited_in_its_flow_mapping(session: Session) -> None:
    text = edit(session, "R-greeting", missing_deduction="1.5")
    old, new = changed_lines(ORIGINAL, text)
    assert old == ["    missing: {kind: missing_greeting, severity: minor, deduction: 1}"]
    assert new == ["    missing: {kind: missing_greeting, severity: minor, deduction: 1.5}"]


def test_the_words_staff_say_alone_are_edited_and_judge_as_edited(session: Session) -> None:
    """R-farewell's `staff_alone` words in its form: a word added is a farewell from the staff
    said on its own, and the field emptied takes the key out of the rule."""
    form = rule_editor.form(ORIGINAL, "R-farewell")
    words = form.values["staff_alone"].split("\n")
    assert "走好" in words
    text = edit(session, "R-farewell", staff_alone="\n".join([*words, "慢慢来"]))
    rule = next(r for r in parse_rules(text).required if r.id == "R-farewell")
    assert rule.staff_alone == (*words, "慢慢来")
    matcher = PhraseMatcher(parse_rules(text).model_copy(update={"meaning": None}))
    assert [r.id for r, _ in matcher.required(said("证拿好了，慢慢来。"))] == ["R-farewell"]
    # Not from a voice told to be the citizen's.
    assert matcher.required(said("证拿好了，慢慢来。", speaker=Speaker.CITIZEN)) == []
    text = rule_editor.edit(session=session, principal=ADMIN, rule_id="R-farewell",
                            submitted={"staff_alone": ""}, based_on=2, comment="").yaml
    assert "staff_alone" not in text.split("  - id: R-farewell")[1].split("  - id:")[0]
    assert next(r for r in parse_rules(text).required if r.id == "R-farewell").staff_alone == ()


def test_a_field_of_the_other_sections_rules_is_neither_shown_nor_saved(session: Session) -> None:
    """Only required rules have words said alone, only forbidden rules exclusions: a form posted
    with the other section's field (by hand) saves nothing of it."""
    with pytest.raises(Conflict, match="相同"):  # nothing changed: nothing to save
        rule_editor.edit(session=session, principal=ADMIN, rule_id="F1-2",
                         submitted={"staff_alone": "你好"}, based_on=1, comment="")
    with pytest.raises(Conflict, match="相同"):
        rule_editor.edit(session=session, principal=ADMIN, rule_id="R-greeting",
                         submitted={"exclusions": "你好"}, based_on=1, comment="")
    assert crud.current(session=session).id == 1  # type: ignore[union-attr]


def test_a_rules_parts_are_shown_in_chinese_with_their_order_and_reach() -> None:
    greeting = rule_editor.form(ORIGINAL, "R-greeting")
    assert greeting.parts.startswith("先后说出：① 您好、你好")
    assert "；② " in greeting.parts and greeting.parts.endswith("以内）")
    assert rule_editor.form(ORIGINAL, "F1-2").parts.startswith("不论先后说出：① ")
    assert rule_editor.form(ORIGINAL, "F1-1").parts == ""  # a rule of phrases alone


BAD_VALUES = {  # field: (typed, what the refusal says beside it)
    "min_score": ("很高", "应为数字"),
    "deduction": ("-1", "应不小于 0.0"),
    "phrases": ("\n  \n", "至少应有 1 项"),
    "severity": ("awful", "应为以下之一：minor（一般）、major（较重）、critical（严重）"),
}


@pytest.mark.parametrize("field", sorted(BAD_VALUES))
def test_a_bad_form_value_is_refused_in_chinese_naming_rule_and_field(session: Session,
                                                                      field: str) -> None:
    typed, says = BAD_VALUES[field]
    with pytest.raises(InvalidDocument) as e:
        edit(session, "F1-2", **{field: typed})
    [problem] = e.value.problems
    assert problem.loc == ("forbidden", 1, field) and problem.what == says
    assert problem.where == f"禁用语 F1-2「禁用语：问别人去」 › {rule_editor_label(field)}"
    assert e.value.detail.startswith("规则有误：")
    assert crud.current(session=session).id == 1  # type: ignore[union-attr]


def test_every_bad_field_of_a_form_is_named_at_once(session: Session) -> None:
    with pytest.raises(InvalidDocument) as e:
        edit(session, "F1-2", min_score="很高", deduction="-1", phrases="")
    assert {(p.loc[-1], p.what) for p in e.value.problems} == {
        ("min_score", "应为数字"), ("deduction", "应不小于 0.0"), ("phrases", "至少应有 1 项")}
    assert e.value.detail.startswith("规则有误（3 处）：")


def rule_editor_label(field: str) -> str:
    return {"min_score": "最低相似度（min_score）", "deduction": "扣分（deduction）",
            "phrases": "用语（phrases）", "severity": "严重程度（severity）"}[field]


def test_an_unchanged_form_or_a_stale_one_saves_nothing(session: Session) -> None:
    with pytest.raises(Conflict, match="相同"):
        edit(session, "F1-2")
    edit(session, "F1-2", phrases="问别人去吧")
    with pytest.raises(Conflict, match="基于第 1 版"):
        edit(session, "F1-3", variants="自己看指示牌")


def test_a_patch_rewrites_only_its_values_and_refuses_what_it_cannot_do_in_place() -> None:
    text = ("# top\nrule:\n  phrases:\n    - 甲   # first\n    - 乙\n  meta: {a: 1, b: 2}  # m\n"
            "  keep: x  # k\n")
    out = yaml_patch.patch(text, {("rule", "phrases"): ["丙", "a, b"], ("rule", "meta", "a"):
                                  yaml_patch.REMOVE, ("rule", "meta", "c"): 3}, {})
    assert out == ("# top\nrule:\n  phrases: [丙, 'a, b']\n  meta: {b: 2, c: 3}  # m\n"
                   "  keep: x  # k\n")
    with pytest.raises(yaml_patch.PatchError):
        yaml_patch.patch("- id: a\n  name: b\n", {(0, "id"): yaml_patch.REMOVE}, {})


def test_a_diff_pairs_changed_lines_and_marks_the_changed_characters() -> None:
    before = "\n".join(f"line {i}" for i in range(20))
    after = before.replace("line 10", "line 10 changed").replace("line 19", "line 19\nnew")
    rows = diff.side_by_side(before, after)
    assert [r.tag for r in rows] == ["skip", *["equal"] * 3, "replace", *["equal"] * 3, "skip",
                                     *["equal"] * 3, "insert"]
    changed = rows[4]
    assert changed.old.number == changed.new.number == 11
    assert changed.new.parts == (("line 10", False), (" changed", True))
    assert rows[0].skipped == 7 and rows[8].skipped == 3  # 14-16: the insert's context
    assert diff.side_by_side(before, before) == []

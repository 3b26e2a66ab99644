"""One rule edited through a form: its fields changed in the YAML of the version in force,
saved as a new version through the same path as an edit of the whole YAML.

Only the values changed in the form are rewritten (etiquette.service.services.yaml_patch):
the rest of the document, comments included, stays as its author wrote it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy.orm import Session

from etiquette.core.rules import Parts
from etiquette.service.crud import rules as crud
from etiquette.service.errors import NotFound
from etiquette.service.models import RuleVersion
from etiquette.service.schemas import RuleVersionCreate
from etiquette.service.services import problems, yaml_patch
from etiquette.service.services import rules as rules_service
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.problems import InvalidDocument, Worded

# Form field -> its key path inside the rule.
FIELDS: Mapping[str, tuple[str, ...]] = {
    "name": ("name",), "phrases": ("phrases",), "variants": ("variants",),
    "exclusions": ("exclusions",), "min_score": ("min_score",), "severity": ("severity",),
    "deduction": ("deduction",), "missing_severity": ("missing", "severity"),
    "missing_deduction": ("missing", "deduction"), "staff_alone": ("staff_alone",),
}
LISTS = frozenset({"phrases", "variants", "exclusions", "staff_alone"})
# The fields one section's rules have; a form of the other section neither shows nor saves them.
SECTION_ONLY = {"exclusions": "forbidden", "staff_alone": "required"}
NUMBERS = frozenset({"min_score", "deduction", "missing_deduction"})
# Where a key the rule did not have reads best: after these siblings.
AFTER = {"variants": ("name", "phrases"), "exclusions": ("phrases", "variants"),
         "min_score": ("phrases", "variants", "exclusions"),
         "severity": ("phrases", "variants", "exclusions", "min_score"),
         "deduction": ("phrases", "variants", "exclusions", "min_score", "severity"),
         "staff_alone": ("name", "phrases", "variants", "parts")}


@dataclass
class RuleForm:
    """A rule as its form shows it: lists one item a line, numbers as typed, "" for none."""

    section: str  # required | forbidden
    index: int
    id: str
    values: dict[str, str]
    group: str = ""  # a forbidden rule's group: its number and name
    group_severity: str = ""
    group_deduction: str = ""
    has_missing: bool = False
    context: list[str] = field(default_factory=list)  # its context conditions, in Chinese
    parts: str = ""  # the rule's parts, in Chinese


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def _condition(condition: Mapping[str, Any]) -> str:
    """'句式：问句或探询；说话对象：您、你' for a context condition."""
    terms = []
    for key, value in condition.items():
        values = value if isinstance(value, list) else [value]
        shown = "、".join(problems.value_name(str(v)) for v in values)
        terms.append(f"{problems.FIELD_NAMES.get(key, key)}：{shown}")
    return "；".join(terms)


def _context(raw: Any) -> list[str]:
    if not isinstance(raw, dict):
        return []
    lines = ["命中须是完整的词"] if raw.get("word_boundary") else []
    lines += [f"不算违规：{_condition(c)}" for c in raw.get("unless") or [] if isinstance(c, dict)]
    lines += [f"仅此时算违规：{_condition(c)}" for c in raw.get("only_if") or []
              if isinstance(c, dict)]
    return lines


def _parts(raw: Any) -> str:
    """'先后说出：① 您好、你好；② 办什么、请坐（4 个分句、30 字以内）' for a rule's parts."""
    if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
        return ""
    items = [i.get("says") for i in raw["items"] if isinstance(i, dict)]
    said = "；".join(chr(0x2460 + n) + " " + "、".join(str(w) for w in says)  # ① ② ③
                    for n, says in enumerate(items) if isinstance(says, list))
    order = "不论先后说出" if raw.get("any_order") else "先后说出"
    near = "、".join(f"{raw.get(k, Parts.model_fields[k].default)} {unit}"  # as the rules read it
                     for k, unit in (("within_clauses", "个分句"), ("within_chars", "字")))
    return f"{order}：{said}（{near}以内）"


def _document(text: str) -> dict[str, Any]:
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise NotFound("规则版本无法读取")
    return raw


def forms(text: str) -> list[RuleForm]:
    """Every rule of the document, required ones first, as the list and the form show them."""
    raw = _document(text)
    groups = raw.get("groups") or {}
    out = []
    for section in ("required", "forbidden"):
        for index, rule in enumerate(raw.get(section) or []):
            values = {name: _text(_get(rule, path)) for name, path in FIELDS.items()}
            form = RuleForm(section=section, index=index, id=str(rule.get("id")), values=values,
                            has_missing=isinstance(rule.get("missing"), dict),
                            context=_context(rule.get("context")), parts=_parts(rule.get("parts")))
            group = groups.get(rule.get("group")) if section == "forbidden" else None
            if isinstance(group, dict):
                form.group = f"第{rule['group']}类 {group.get('name', '')}"
                form.group_severity = str(group.get("severity", ""))
                form.group_deduction = _text(group.get("deduction"))
            out.append(form)
    return out


def form(text: str, rule_id: str) -> RuleForm:
    found = next((f for f in forms(text) if f.id == rule_id), None)
    if found is None:
        raise NotFound(f"当前规则中没有编号为 {rule_id} 的规则")
    return found


def _get(rule: Any, path: tuple[str, ...]) -> Any:
    node = rule
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _number(text: str) -> float | int:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return int(value) if value.is_integer() else value


def changes(text: str, rule: RuleForm, submitted: Mapping[str, str]
            ) -> tuple[dict[yaml_patch.Loc, Any], list[Worded]]:
    """The document's key paths the form changes and their new values (REMOVE for a field
    emptied), and the fields whose value is no number (left out of the changes)."""
    raw = _document(text)[rule.section][rule.index]
    out: dict[yaml_patch.Loc, Any] = {}
    bad: list[Worded] = []
    for name, path in FIELDS.items():
        if (name not in submitted or (path[0] == "missing" and not rule.has_missing)
                or SECTION_ONLY.get(name, rule.section) != rule.section):
            continue
        typed = submitted[name].replace("\r\n", "\n").strip()
        loc: yaml_patch.Loc = (rule.section, rule.index, *path)
        value: Any
        if name in LISTS:
            items = [line.strip() for line in typed.split("\n") if line.strip()]
            value = items if items or name == "phrases" else yaml_patch.REMOVE
        elif name in NUMBERS and typed:
            try:
                value = _number(typed)
            except ValueError:
                bad.append(Worded(loc=loc, line=None, where=problems.where(_document(text), loc),
                                  what="应为数字"))
                continue
        else:
            value = typed or yaml_patch.REMOVE
        if value != _get(raw, path):
            out[loc] = value
    return out, bad


def edit(*, session: Session, principal: Principal, rule_id: str, submitted: Mapping[str, str],
         based_on: int, comment: str) -> RuleVersion:
    """A new version with the rule's fields as submitted. Raises InvalidDocument (a field's
    value, named), NotFound (no such rule), Conflict (as create_version)."""
    principal.require(Permission.RULES_ADMIN)
    current = crud.current(session=session)
    if current is None:
        raise NotFound("尚无规则版本")
    rule = form(current.yaml, rule_id)
    new, bad = changes(current.yaml, rule, submitted)
    try:
        text = yaml_patch.patch(current.yaml, new, AFTER)
    except yaml_patch.PatchError as e:
        raise InvalidDocument("无法在保留原有格式的情况下修改此规则：", [Worded(
            loc=(), line=None, where="", what="请在规则管理页的 YAML 全文中修改")]) from e
    if bad:  # every field that is wrong at once: what the rules' check says of the others too
        try:
            rules_service.validate(text)
        except InvalidDocument as e:
            bad += e.problems
        raise problems.refusal("规则", bad)
    return rules_service.create_version(
        session=session, principal=principal,
        body=RuleVersionCreate(yaml=text, based_on=based_on,
                               comment=comment or f"表单修改规则 {rule_id}"))

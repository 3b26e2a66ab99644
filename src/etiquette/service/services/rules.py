"""The rules the pipelines score with, for reviewers: each rule's Appendix B text."""

from __future__ import annotations

import functools
from pathlib import Path

from etiquette.rules import DEFAULT_RULES, RulesError, RuleSet, load_rules
from etiquette.service.schemas import RulePublic, RulesPublic


@functools.lru_cache(maxsize=4)
def _load(path: Path, mtime: float) -> RulesPublic:
    rs: RuleSet = load_rules(path)
    data = [RulePublic(id=r.id, name=r.name, kind="required", group=None, clause=r.clause or None,
                       phrases=list(r.phrases), variants=list(r.variants),
                       severity=r.missing.severity if r.missing else None,
                       deduction=r.missing.deduction if r.missing else None)
            for r in rs.required]
    data += [RulePublic(id=r.id, name=r.name, kind="forbidden",
                        group=f"第{r.group}类 {rs.groups[r.group].name}", clause="附录B 禁用语",
                        phrases=list(r.phrases), variants=list(r.variants),
                        severity=rs.severity_of(r), deduction=rs.deduction_of(r))
             for r in rs.forbidden]
    return RulesPublic(version=rs.version, source=rs.source, data=data)


def rules(path: Path | None) -> RulesPublic:
    """The rule set (re-read when the file changes); empty if the file is missing or broken,
    which must not stop reviewers from working."""
    path = (path or DEFAULT_RULES).resolve()
    try:
        return _load(path, path.stat().st_mtime)
    except (OSError, RulesError):
        return RulesPublic(version="", source="", data=[])


def rule(path: Path | None, rule_id: str) -> RulePublic | None:
    return next((r for r in rules(path).data if r.id == rule_id), None)

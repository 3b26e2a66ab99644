"""The rules the pipelines score with, kept in the database as versions an admin edits.

A version is the whole rule set as YAML, in the format of rules/appendix_b.yaml, validated by
the same `RuleSet` the pipelines load; versions are only added, the newest is in force. The
first start seeds version 1 from the bundled file (or the `rules_path` setting). Reviewers
read the parsed view (each rule's Appendix B text and, for a forbidden rule, the standard
phrase to say instead); pipelines fetch the YAML itself.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from etiquette.core.rules import DEFAULT_RULES, RulesError, RuleSet, load_rules, parse_rules
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit
from etiquette.service.crud import rules as crud
from etiquette.service.errors import Conflict
from etiquette.service.models import RuleVersion
from etiquette.service.schemas import RulePublic, RulesPublic, RuleVersionCreate
from etiquette.service.services import problems
from etiquette.service.services.access import SYSTEM_START, Permission, Principal

logger = logging.getLogger("etiquette.service.rules")


def validate(text: str) -> RuleSet:
    """The rule set in `text`, or InvalidDocument naming in Chinese the rule, field and line
    that are wrong."""
    try:
        return parse_rules(text, where="rules")
    except RulesError as e:
        raise problems.invalid("规则", text, e) from e
    except RecursionError as e:  # YAML nested deeper than the parser goes
        raise problems.too_deep("规则") from e


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _add(session: Session, principal: Principal, text: str, rules: RuleSet, comment: str,
         previous: RuleVersion | None) -> RuleVersion:
    row = crud.add(session=session, version=RuleVersion(
        id=(previous.id if previous else 0) + 1, yaml=text, version=rules.version[:64],
        sha256=_sha256(text), comment=comment, created_at=utcnow(), created_by=principal.label,
        user_id=principal.user.id if principal.user else None))
    audit.record(session=session, actor=principal, action="rules.version", target_type="rules",
                 target_id=str(row.id),
                 before={"version_id": previous.id} if previous else None,
                 after={"version_id": row.id, "version": row.version, "sha256": row.sha256,
                        "comment": comment})
    return row


def seed(*, session: Session, path: Path | None) -> RuleVersion | None:
    """Version 1 from the rules file, if there is no version yet (start-up, every start).

    Raises RulesError for a broken file: the service does not start without rules in force.
    Returns the version added, None if there was one already.
    """
    if crud.current(session=session) is not None:
        return None
    path = path or DEFAULT_RULES
    rules = load_rules(path)
    text = path.read_text(encoding="utf-8")
    try:  # the row is flushed as it is added: either step meets another process's version 1
        row = _add(session, SYSTEM_START, text, rules, f"初始版本（{path.name}）", None)
        session.commit()
    except IntegrityError:  # another service process seeded it at the same moment
        session.rollback()
        return None
    logger.info("rules version 1 seeded from %s", path)
    return row


def create_version(*, session: Session, principal: Principal,
                   body: RuleVersionCreate) -> RuleVersion:
    """A new version in force. Raises Invalid (the key path that is wrong), Conflict (the
    edit started from an older version, or changes nothing)."""
    principal.require(Permission.RULES_ADMIN)
    text = body.yaml.replace("\r\n", "\n")  # a browser's textarea sends CRLF
    rules = validate(text)
    previous = crud.current(session=session)
    if body.based_on is not None and previous is not None and body.based_on != previous.id:
        raise Conflict(f"规则已被他人修改：当前为第 {previous.id} 版，"
                       f"本次修改基于第 {body.based_on} 版 "
                       "(the rules changed since this edit started; reload and edit again)")
    if previous is not None and previous.yaml == text:
        raise Conflict(f"与当前第 {previous.id} 版相同，未保存 (no change)")
    row = _add(session, principal, text, rules, body.comment, previous)
    try:
        session.commit()
    except IntegrityError as e:  # two saves at once: one of them is the next version
        session.rollback()
        raise Conflict("规则刚被他人修改，请刷新后重试 "
                       "(another version was saved at the same time)") from e
    return row


@functools.lru_cache(maxsize=8)
def _public(text: str) -> RulesPublic:
    rs = parse_rules(text, where="rules")
    data = [RulePublic(id=r.id, name=r.name, kind="required", group=None, clause=r.clause or None,
                       phrases=list(r.phrases), variants=list(r.variants),
                       severity=r.missing.severity if r.missing else None,
                       deduction=r.missing.deduction if r.missing else None)
            for r in rs.required]
    for r in rs.forbidden:
        instead = rs.instead_of(r)
        data.append(RulePublic(id=r.id, name=r.name, kind="forbidden", clause="附录B 禁用语",
                               group=f"第{r.group}类 {rs.groups[r.group].name}",
                               phrases=list(r.phrases), variants=list(r.variants),
                               severity=rs.severity_of(r), deduction=rs.deduction_of(r),
                               instead=instead.id if instead else None,
                               instead_phrase=instead.canonical if instead else None))
    return RulesPublic(version=rs.version, source=rs.source, data=data)


def rules(session: Session) -> RulesPublic:
    """The rules in force, rule by rule; empty if a stored version no longer validates (a
    newer RuleSet may be stricter), which must not stop reviewers from working."""
    row = crud.current(session=session)
    if row is None:
        return RulesPublic(version="", source="", data=[])
    try:
        return _public(row.yaml)
    except (RulesError, RecursionError) as e:
        logger.error("rules version %s no longer validates: %s", row.id, e)
        return RulesPublic(version="", source="", data=[])


def rule(session: Session, rule_id: str) -> RulePublic | None:
    return next((r for r in rules(session).data if r.id == rule_id), None)

"""Audit entries as people read them: who (by name), did what (in Chinese), to what, and what
changed, with codes in their Chinese names and times in the center's zone. The audit page and
an incident's 处理记录 show the same lines."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from etiquette.service.crud import audit
from etiquette.service.labels import (
    ACTION_NAMES,
    AUDIT_FIELD_NAMES,
    AUDIT_TARGET_NAMES,
    AUDIT_VALUE_NAMES,
    AUDIT_VERB_NAMES,
)
from etiquette.service.models import AuditEntry

TARGET_IDS = {"import": "导入"}  # a target that is no record: what it was
SYSTEM_NAMES = {"system:retention": "系统（证据保存期限）", "system:start-up": "系统（启动）",
                "system:webhooks": "系统（预警推送）", "system:cli": "系统（命令行）",
                "system:ratings": "系统（评价匹配服务记录）"}
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_HASH = re.compile(r"^[0-9a-f]{40,}$")
# Fields that hold another record's id, and the kind of record (the names looked up for it).
_REFERENCES = {"staff_id": "staff", "center_id": "center", "window_pk": "window",
               "handler_id": "user"}
# What an incident's page shows already, beside its history: not repeated in each line.
_ON_THE_PAGE = frozenset({"status", "kind", "rule_id", "window_id", "staff_id"})


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor: str  # 张三, 流水线 hall-1, 系统（证据保存期限）
    action: str  # 确认违规
    code: str  # incident.confirm, for those who look one up in the API
    target_type: str
    target_id: str
    target: str  # 事件 3f2a…, 用户 12
    changes: list[str]  # 「审核意见：材料不全」, 「状态：待审核 → 已确认」

    @property
    def summary(self) -> str:
        """The action and what it changed: 「驳回：审核意见：材料不全」."""
        return f"{self.action}：{'；'.join(self.changes)}" if self.changes else self.action


def action_name(code: str) -> str:
    """An audit action in Chinese; one newer than ACTION_NAMES in words from its parts."""
    if code in ACTION_NAMES:
        return ACTION_NAMES[code]
    target, _, verb = code.partition(".")
    if target in AUDIT_TARGET_NAMES and verb in AUDIT_VERB_NAMES:
        return f"{AUDIT_VERB_NAMES[verb]}{AUDIT_TARGET_NAMES[target]}"
    return f"{AUDIT_TARGET_NAMES.get(target, '')}其他操作"


def lines(session: Session, entries: Iterable[AuditEntry], zone: ZoneInfo,
          brief: bool = False) -> list[AuditLine]:
    """The entries as lines. `brief` (an incident's history, where each line already says who,
    when and what was done) leaves out the who/when fields and what the page shows anyway."""
    entries = list(entries)
    # The people and master data the entries name by id, looked up once for all of them.
    ids: dict[str, set[int]] = {kind: set() for kind in ("user", "staff", "center", "window")}
    ids["user"].update(e.user_id for e in entries if e.user_id is not None)
    for e in entries:
        if e.target_type in ids and e.target_id.isdigit():
            ids[e.target_type].add(int(e.target_id))
        for record in (e.before or {}, e.after or {}):
            for key, value in record.items():
                kind = _reference(key)
                if kind and isinstance(value, int) and not isinstance(value, bool):
                    ids[kind].add(value)
    names = {"user": audit.user_names(session=session, ids=ids["user"]),
             **audit.record_names(session=session, staff=ids["staff"], centers=ids["center"],
                                  windows=ids["window"])}
    return [AuditLine(at=e.at, actor=_actor(e, names["user"]), action=action_name(e.action),
                      code=e.action, target_type=e.target_type, target_id=e.target_id,
                      target=_target(e, names), changes=_changes(e, zone, brief, names))
            for e in entries]


def _reference(key: str) -> str | None:
    """The kind of record a field holds the id of (reviewed_by: a user), or None."""
    return "user" if key.endswith("_by") else _REFERENCES.get(key)


def _target(entry: AuditEntry, names: dict[str, dict[int, str]]) -> str:
    """用户 张三, 工作人员 李四（E001）, 中心一 03 号窗口 (a window's name says it is one),
    事件 3f2a…; a record gone since by its id."""
    kind = AUDIT_TARGET_NAMES.get(entry.target_type, "对象")
    found = (names.get(entry.target_type, {}).get(int(entry.target_id))
             if entry.target_id.isdigit() else None)
    if found and entry.target_type == "window":
        return found
    return f"{kind} {found or TARGET_IDS.get(entry.target_id, entry.target_id)}"


def _actor(entry: AuditEntry, names: dict[int, str]) -> str:
    if entry.user_id is not None and entry.user_id in names:
        return names[entry.user_id]
    kind, _, name = entry.actor.partition(":")
    if kind == "user":
        return name
    if kind == "pipeline":
        return f"流水线 {name}"
    if kind == "address":
        return f"地址 {name}"
    return SYSTEM_NAMES.get(entry.actor, entry.actor)


def _changes(entry: AuditEntry, zone: ZoneInfo, brief: bool,
             names: dict[str, dict[int, str]]) -> list[str]:
    before, after = entry.before or {}, entry.after or {}
    out: list[str] = []

    def value(key: str, v: Any) -> str:
        kind = _reference(key)
        if kind and isinstance(v, int) and not isinstance(v, bool):
            return names[kind].get(v, f"{AUDIT_TARGET_NAMES[kind]} {v}")  # gone since: its id
        return _value(key, v, zone)

    for key in [*after, *(k for k in before if k not in after)]:
        if brief and (key in _ON_THE_PAGE or key.endswith(("_by", "_at"))):
            continue
        name = AUDIT_FIELD_NAMES.get(key, key)
        if key in after and before.get(key) not in (None, ""):
            out.append(f"{name}：{value(key, before[key])} → {value(key, after[key])}")
        elif key in after:  # set where there was nothing
            out.append(f"{name}：{value(key, after[key])}")
        elif entry.after is None:  # deleted, or purged: what there was
            out.append(f"{name}：{value(key, before[key])}")
        else:
            out.append(f"{name}：{value(key, before[key])} → （空）")
    return out


def _value(key: str, value: Any, zone: ZoneInfo) -> str:
    names = AUDIT_VALUE_NAMES.get(key, {})
    if value is None or value == "":
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(_value(key, v, zone) for v in value) or "（无）"
    if isinstance(value, dict):
        return "，".join(f"{names.get(k, AUDIT_FIELD_NAMES.get(k, k))} {_value(k, v, zone)}"
                        for k, v in value.items())
    text = str(value)
    if text in names:
        return names[text]
    if _ISO_TIME.match(text):
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            return text
        # Recorded in UTC; a value written without its zone is UTC too.
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone).strftime(
            "%Y-%m-%d %H:%M:%S")
    if _HASH.match(text):
        return text[:12] + "…"  # a checksum: its start tells versions apart
    return text

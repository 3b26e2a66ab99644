"""What the admin pages' forms share: a refused value said in Chinese beside its field, from the
API's own schemas (pydantic) and services (ServiceError), so a page checks nothing the API
does not."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from etiquette.service.errors import ServiceError, chinese

M = TypeVar("M", bound=BaseModel)

# pydantic's error types, as a person filling the form reads them.
_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda c: "必填",
    "string_too_short": lambda c: ("必填" if c.get("min_length") == 1
                                   else f"至少 {c.get('min_length')} 个字符"),
    "string_too_long": lambda c: f"最多 {c.get('max_length')} 个字符",
    "string_pattern_mismatch": lambda c: "含有不允许的字符",
    "int_parsing": lambda c: "请选择或填写一个数字",
    "greater_than_equal": lambda c: "请选择",
    "less_than_equal": lambda c: "超出范围",
    "enum": lambda c: "请从列表中选择",
    "literal_error": lambda c: "请从列表中选择",
    "datetime_from_date_parsing": lambda c: "时间格式不对",
    "datetime_parsing": lambda c: "时间格式不对",
}
# The Chinese of the schemas' own checks (their messages are English, for the API).
_CHECKS = {
    "staff_id is required for role staff and only for it":
        ("staff_id", "窗口工作人员账号必须关联一名工作人员，其他角色不关联"),
    "at must be between 2000-01-01 and tomorrow": ("at", "时间须在 2000 年之后、不晚于明天"),
    "deadline must be after at": ("deadline", "答复期限须晚于被投诉的服务时间"),
}


def field_errors(error: ValidationError) -> dict[str, str]:
    """Each refused field of a schema, with why, in Chinese; a check of the whole form goes
    under the field it names (or "" when it names none)."""
    found: dict[str, str] = {}
    for e in error.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        message = str(e.get("msg", ""))
        ctx: Mapping[str, Any] = e.get("ctx") or {}
        check = next((v for k, v in _CHECKS.items() if k in message), None)
        if check is not None:
            field, text = check
        elif e["type"] in _MESSAGES:
            text = _MESSAGES[e["type"]](ctx)
        else:
            text = "填写有误"
        found.setdefault(field, text)
    return found


def service_error(error: ServiceError, default_field: str = "") -> dict[str, str]:
    """A service's refusal under the field it is about."""
    return {error.field or default_field: chinese(error.detail) or "填写有误"}


def checked(schema: type[M], values: dict[str, Any]) -> M | dict[str, str]:
    """`values` as `schema`, or the refused fields in Chinese."""
    try:
        return schema.model_validate(values)
    except ValidationError as e:
        return field_errors(e)


def optional_int(value: str) -> int | str | None:
    """A select's or number field's value: empty is none; what is not a number is left for
    the schema to refuse."""
    value = value.strip()
    if not value:
        return None
    return int(value) if value.isdigit() else value


def local_time(value: str, zone: ZoneInfo) -> datetime | str:
    """A datetime-local field's value (the display time zone's wall time) as an aware time;
    what is not one is left for the schema to refuse."""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=zone)
    except ValueError:
        return value

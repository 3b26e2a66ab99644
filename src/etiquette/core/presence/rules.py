"""Presence rules as data: the allowed absence, service hours, declared pauses, tracking knobs.

A center edits `rules/presence.yaml`, not code; a bad file fails at start-up with the key
that is wrong.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from etiquette.core.presence.records import DeclaredPause
from etiquette.core.records import Severity
from etiquette.core.rules import DocumentError, Problem, line_of, load_yaml_model

DEFAULT_PRESENCE_RULES = Path(__file__).resolve().parents[4] / "rules" / "presence.yaml"


class PresenceRulesError(DocumentError):
    """The presence rules (or declared pauses) file is malformed; the message names the file
    and key, `problems` says it as data."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OffPostRule(_Strict):
    id: str = Field("P-off-post", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field("离岗", min_length=1)
    threshold_s: float = Field(900.0, gt=0, description="unexcused absence beyond this is 离岗")
    severity: Severity = Severity.MAJOR
    deduction: float = Field(3.0, ge=0)


class ConductRule(_Strict):
    """A behaviour at the counter the camera sees (睡岗, 聚集): held longer than `threshold_s` in
    service hours, outside the declared pauses named in `pauses`, it is an incident."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1)
    threshold_s: float = Field(gt=0, description="held longer than this is an incident")
    tolerance_s: float = Field(10.0, ge=0, description="gaps shorter than this do not end it")
    severity: Severity = Severity.MAJOR
    deduction: float = Field(3.0, ge=0)
    pauses: tuple[str, ...] = Field((), description="去向牌 statuses during which it is allowed")


class AsleepRule(ConductRule):
    """睡岗: a ConductRule that also says how far her head must be down."""

    head_drop: float = Field(0.75, gt=0, description="how far below her upright head, in face "
                             "heights, the top of her head must be to count as down")


class Period(_Strict):
    start: time
    end: time

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        # YAML reads an unquoted 09:00 as the base-60 integer 540, which pydantic would take
        # as 00:09:00: refuse it instead of silently moving the service hours.
        if isinstance(value, int):
            raise PydanticCustomError("time_not_quoted",
                                      'write times as quoted "HH:MM" strings, e.g. "09:00"')
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start >= self.end:
            raise PydanticCustomError("start_not_before_end", "start {start} must be before "
                                      "end {end}", {"start": f"{self.start:%H:%M}",
                                                    "end": f"{self.end:%H:%M}"})
        return self


class ServiceHours(_Strict):
    timezone: str = Field("Asia/Shanghai", description="IANA zone of the center's wall clock")
    days: tuple[int, ...] = Field((1, 2, 3, 4, 5), min_length=1,
                                  description="ISO weekdays with service, 1 = Monday")
    periods: tuple[Period, ...] = Field(min_length=1, description="service periods, lunch between")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise PydanticCustomError("unknown_time_zone", "unknown time zone {zone}",
                                      {"zone": repr(value)}) from e
        return value

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [d for d in value if not 1 <= d <= 7]
        if bad:
            raise PydanticCustomError("bad_weekdays", "weekdays are 1 (Monday) to 7 (Sunday), "
                                      "got {days}", {"days": str(bad)})
        return value

    @model_validator(mode="after")
    def _no_overlap(self) -> ServiceHours:
        ordered = sorted(self.periods, key=lambda p: p.start)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if b.start < a.end:
                raise PydanticCustomError(
                    "overlapping_periods", "periods {first} and {second} overlap",
                    {"first": f"{a.start:%H:%M}-{a.end:%H:%M}",
                     "second": f"{b.start:%H:%M}-{b.end:%H:%M}"})
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class PauseStatus(_Strict):
    max_s: float | None = Field(None, gt=0, description="longest allowed; beyond it absence counts")


class Tracking(_Strict):
    sample_fps: float = Field(2.0, gt=0, le=30, description="frames looked at per second")
    absent_after_s: float = Field(4.0, ge=0, description="seat empty this long is an absence")
    present_min_hits: int = Field(2, ge=1, description="frames in a row that end an absence")
    min_face_height: float = Field(0.04, ge=0, lt=1,
                                   description="smaller faces (of frame height) are far away")


class DetectorSettings(_Strict):
    type: str = Field("centerface", description="detector back-end")
    model: str = Field("centerface", description="manifest model name or path to the weights")
    min_score: float = Field(0.5, gt=0, lt=1)
    max_side: int = Field(640, ge=64, description="frames are scaled down to this longest side")


class PresenceRules(_Strict):
    version: str
    source: str = ""
    off_post: OffPostRule = OffPostRule()
    service_hours: ServiceHours
    pauses: dict[str, PauseStatus] = Field(
        default_factory=dict, description="去向牌 statuses during which absence is allowed")
    tracking: Tracking = Tracking()
    detector: DetectorSettings = DetectorSettings()
    # 行为举止 (issue 21): None switches a kind off. The person detector sees a staff member
    # whose face is hidden (head down on the desk); without it 睡岗 cannot be judged.
    asleep_at_post: AsleepRule | None = None
    gathering: ConductRule | None = None
    body_detector: DetectorSettings | None = None

    @model_validator(mode="after")
    def _conduct_pauses_known(self) -> PresenceRules:
        for key in ("asleep_at_post", "gathering"):
            rule: ConductRule | None = getattr(self, key)
            for status in rule.pauses if rule else ():
                if status not in self.pauses:
                    raise PydanticCustomError(
                        "unknown_pause_status", "{key}: pause {status} is not one of pauses: "
                        "{allowed}", {"key": key, "status": status,
                                      "allowed": ", ".join(self.pauses) or "(none)"})
        if self.asleep_at_post is not None and self.body_detector is None:
            raise PydanticCustomError("asleep_needs_body_detector",
                                      "asleep_at_post needs body_detector (a person model)")
        return self

    @field_validator("pauses")
    @classmethod
    def _named(cls, value: dict[str, PauseStatus]) -> dict[str, PauseStatus]:
        if any(not str(k).strip() for k in value):
            raise PydanticCustomError("blank_pause_status",
                                      "pause status names must not be blank")
        return value

    def with_threshold(self, threshold_s: float | None) -> PresenceRules:
        """These rules with the allowed absence overridden for one run (`--absence-threshold`)."""
        if threshold_s is None:
            return self
        if threshold_s <= 0:
            raise PresenceRulesError(f"absence threshold must be positive, got {threshold_s}")
        return self.model_copy(update={
            "off_post": self.off_post.model_copy(update={"threshold_s": float(threshold_s)})})


def _where(loc: tuple[int | str, ...]) -> str:
    return " -> ".join(str(k) for k in loc) or "(top level)"


def load_presence_rules(path: Path | None = None) -> PresenceRules:
    """Read and validate a presence rules file.

    Raises:
      PresenceRulesError: unreadable, not YAML, or a key with a bad value (named in the message).
    """
    return load_yaml_model(path or DEFAULT_PRESENCE_RULES, PresenceRules, PresenceRulesError,
                           "presence rules")


class _PauseEntry(_Strict):
    window: str = Field(min_length=1)
    status: str = Field(min_length=1)
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> _PauseEntry:
        if self.start >= self.end:
            raise PydanticCustomError("start_not_before_end", "start {start} must be before "
                                      "end {end}", {"start": str(self.start), "end": str(self.end)})
        return self


def load_pauses(path: Path, rules: PresenceRules) -> tuple[DeclaredPause, ...]:
    """Read declared pauses (去向牌 records): a YAML list of window, status, start, end.

    Times without a zone are the center's wall clock (the rules' service_hours.timezone).

    Raises:
      PresenceRulesError: unreadable, malformed, or a status the rules do not define.
    """
    try:
        text = path.read_text(encoding="utf-8")
        raw: Any = yaml.safe_load(text)
    except OSError as e:
        raise PresenceRulesError(f"{path}: cannot read declared pauses: {e.strerror}") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise _pauses_error(path, f"not valid YAML: {e}", [Problem(
            loc=(), path="", line=mark.line + 1 if mark else None, type="yaml_syntax",
            message=str(getattr(e, "problem", None) or e),
            context={"column": mark.column + 1} if mark else {})]) from e
    if raw is None:
        return ()
    if not isinstance(raw, list):
        message = "expected a list of pauses (window, status, start, end)"
        raise _pauses_error(path, message, [Problem(loc=(), path="", line=1, type="not_a_list",
                                                    message=message)])
    zone = rules.service_hours.zone
    out: list[DeclaredPause] = []
    problems: list[Problem] = []
    for k, item in enumerate(raw):
        try:
            entry = _PauseEntry.model_validate(item)
        except ValidationError as e:
            problems += [Problem(loc=(k, *err["loc"]), path=f"[{k}] -> {_where(err['loc'])}",
                                 line=line_of(text, (k, *err["loc"])), type=err["type"],
                                 message=err["msg"],
                                 context=err.get("ctx") or {}) for err in e.errors()]
            continue
        if entry.status not in rules.pauses:
            allowed = ", ".join(rules.pauses) or "none defined"
            problems.append(Problem(
                loc=(k, "status"), path=f"[{k}] -> status", line=line_of(text, (k, "status")),
                type="unknown_pause_status", context={"status": entry.status, "allowed": allowed},
                message=f"{entry.status!r} is not a declared-pause status of the presence rules "
                        f"({allowed})"))
            continue
        start, end = (t if t.tzinfo else t.replace(tzinfo=zone) for t in (entry.start, entry.end))
        out.append(DeclaredPause(entry.window, entry.status, start, end))
    if problems:
        raise _pauses_error(path, "invalid declared pauses", problems)
    return tuple(out)


def _pauses_error(path: Path, heading: str, problems: list[Problem]) -> PresenceRulesError:
    error = PresenceRulesError("\n".join([f"{path}: {heading}",
                                          *(f"  {p.path}: {p.message}" for p in problems
                                            if p.path)]))
    error.problems = tuple(problems)
    return error

"""Rules composed of operators, as data (issue 19 item 1): the quality-inspection products'
keyword, regular-expression, context, role, position and sentence-type conditions, nested with
all / any / not, judged over a session's turns.

A composed rule (`ComposedRule`, a list under `composed:` in rules/checks.yaml) is tried on each
transcribed utterance of the session as its anchor and fires once per anchor where its
condition tree holds. Text conditions (keywords, regex, phrase) look at the utterance they are
tested on; `near` tests its condition on the utterances around the anchor; the first text
condition that holds on the anchor gives the words the incident highlights. Phrases are matched
as Appendix B's are (etiquette.core.matching: by sound as well as by character), sentence types
read as the phrase rules' context reads them (etiquette.core.context).

Each condition node is one mapping with exactly one operator key and that operator's options,
so a mistake in the file is reported at its own key and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from etiquette.core.checks.base import CheckRule, SessionView, Turn
from etiquette.core.context import Surroundings, describe
from etiquette.core.matching import Pattern, find
from etiquette.core.records import HeardBy, Incident, IncidentKind, Speaker
from etiquette.core.rules import ContextCondition, Matching, SentenceType

# Each operator and the options that may go with it.
OPTIONS: dict[str, tuple[str, ...]] = {
    "all": (), "any": (), "not": (),
    "keywords": ("need",),
    "regex": ("unless",),
    "phrase": ("min_score",),
    "speaker": (),
    "position": ("seconds",),
    "sentence": (),
    "near": ("before", "after", "of", "anchor"),
}
Role = Literal["staff", "citizen", "unknown", "any"]
_ROLE_NAMES = {"staff": "工作人员", "citizen": "群众", "unknown": "未能确定的说话人",
               "any": "任何一方"}
_SCOPE_NAMES = {"same": "", "other": "对方", "any": "双方"}
_COUNT = {1: "一", 2: "两", 3: "三"}
_SENTENCE_BREAK = re.compile(r"[。.！!？?；;]")


def _as_tuple(v: Any) -> Any:
    return (v,) if isinstance(v, str) else v


def _compiles(expression: str | None) -> str | None:
    if expression is not None:
        try:
            re.compile(expression)
        except re.error as e:
            raise PydanticCustomError("bad_regex", "'{regex}' is not a regular expression: "
                                      "{error}", {"regex": expression, "error": str(e)}) from e
    return expression


Expression = Annotated[str, Field(min_length=1), AfterValidator(_compiles)]


@dataclass(frozen=True)
class At:
    """Where a condition is tested: utterance `turn` of the session, with the words a text
    condition found in it so far (`span`)."""

    view: SessionView
    turn: int
    span: tuple[int, int] | None = None

    @property
    def utterance(self) -> Turn:
        return self.view.turns[self.turn]


@dataclass(frozen=True)
class Held:
    """A condition that holds: what held, in Chinese, and the words of the utterance it rests on."""

    said: str
    span: tuple[int, int] | None = None


class Condition(BaseModel):
    """One node of a composed rule's condition tree: one operator with its options."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    every: tuple[Condition, ...] | None = Field(None, alias="all", min_length=1)
    either: tuple[Condition, ...] | None = Field(None, alias="any", min_length=1)
    negated: Condition | None = Field(None, alias="not")
    keywords: tuple[Annotated[str, Field(min_length=1)], ...] | None = Field(None, min_length=1)
    need: Literal["any", "all", "none"] | Annotated[int, Field(ge=1)] | None = Field(
        None, description="keywords: any (default), all, none, or at least this many of them")
    regex: Expression | None = None
    unless: Expression | None = Field(
        None, description="regex: a match this expression also matches where it stands "
        "(overlapping it) does not count")
    phrase: tuple[Annotated[str, Field(min_length=1)], ...] | None = Field(None, min_length=1)
    min_score: float | None = Field(None, ge=0.3, le=1.0, description="phrase: the similarity "
                                    "a phrase needs (default: matching's default min_score)")
    speaker: Annotated[tuple[Role, ...], BeforeValidator(_as_tuple)] | None = Field(
        None, min_length=1)
    position: Literal["first", "last"] | None = None
    seconds: float | None = Field(None, gt=0, description="position: the session's first / "
                                  "last this many seconds")
    sentence: SentenceType | None = None
    near: Condition | None = None
    before: int | None = Field(None, ge=0, description="near: utterances before the anchor")
    after: int | None = Field(None, ge=0, description="near: utterances after the anchor")
    of: Literal["same", "other", "any"] | None = Field(
        None, description="near: whose utterances are counted: the anchor's speaker's (same, "
        "default), the other side's, or both")
    anchor: bool | None = Field(None, description="near: the anchor's own utterance counts too "
                                "(default true)")

    @model_validator(mode="before")
    @classmethod
    def _one_operator(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise PydanticCustomError("not_a_condition", "a condition is a mapping with one "
                                      "operator: {operators}", {"operators": ", ".join(OPTIONS)})
        options = {o for opts in OPTIONS.values() for o in opts}
        unknown = [str(k) for k in data if k not in OPTIONS and k not in options]
        if unknown:
            raise PydanticCustomError(
                "unknown_operator", "'{keys}' is not an operator or option; operators: "
                "{operators}", {"keys": ", ".join(unknown), "operators": ", ".join(OPTIONS)})
        operators = [k for k in data if k in OPTIONS]
        if len(operators) != 1:
            raise PydanticCustomError(
                "one_operator", "a condition has exactly one operator, not {count} ({keys}); "
                "nest them under all / any", {"count": len(operators),
                                              "keys": ", ".join(operators) or "none"})
        stray = [k for k in data if k not in OPTIONS and k not in OPTIONS[operators[0]]]
        if stray:
            raise PydanticCustomError(
                "option_of_another", "'{keys}' is not an option of {operator} (its options: "
                "{options})", {"keys": ", ".join(stray), "operator": operators[0],
                               "options": ", ".join(OPTIONS[operators[0]]) or "none"})
        return data

    @model_validator(mode="after")
    def _options_fit(self) -> Condition:
        if isinstance(self.need, int) and self.keywords and self.need > len(self.keywords):
            raise PydanticCustomError(
                "need_too_many", "need: {need} is more than the {count} keywords",
                {"need": self.need, "count": len(self.keywords)})
        if self.position is not None and self.seconds is None:
            raise PydanticCustomError("seconds_missing", "position needs seconds (the session's "
                                      "first / last how many seconds)")
        if self.near is not None and not (self.before or self.after or self.anchor is not False):
            raise PydanticCustomError("empty_window", "near: before, after or anchor must take "
                                      "in at least one utterance")
        return self

    @field_validator("speaker")
    @classmethod
    def _any_alone(cls, v: tuple[Role, ...] | None) -> tuple[Role, ...] | None:
        if v is not None and "any" in v and len(v) > 1:
            raise PydanticCustomError("any_alone", "speaker: any stands alone")
        return v

    @property
    def operator(self) -> str:
        return next(f.alias or name for name, f in type(self).model_fields.items()
                    if (f.alias or name) in OPTIONS and getattr(self, name) is not None)

    # --- judging -------------------------------------------------------------------------

    def test(self, at: At) -> Held | None:
        """Whether this condition holds at `at`, and on what."""
        return getattr(self, f"_test_{self.operator}")(at)  # type: ignore[no-any-return]

    def _test_all(self, at: At) -> Held | None:
        said, span = [], at.span
        for c in self.every or ():
            held = c.test(replace(at, span=span))
            if held is None:
                return None
            said.append(held.said)
            span = span or held.span
        return Held("，".join(said), span)

    def _test_any(self, at: At) -> Held | None:
        return next((h for c in self.either or () if (h := c.test(at)) is not None), None)

    def _test_not(self, at: At) -> Held | None:
        assert self.negated is not None
        return Held(self.negated.absent()) if self.negated.test(at) is None else None

    def _test_keywords(self, at: At) -> Held | None:
        words, text = self.keywords or (), at.utterance.text
        found = [w for w in words if w in text]
        need = self.need or "any"
        if need == "none":
            return None if found else Held(self.claim())
        wanted = need if isinstance(need, int) else 1 if need == "any" else len(words)
        if len(found) < wanted:
            return None
        first = min(found, key=text.find)
        start = text.find(first)
        return Held("说了" + "".join(f"「{w}」" for w in found), (start, start + len(first)))

    def _test_regex(self, at: At) -> Held | None:
        assert self.regex is not None
        text = at.utterance.text
        spared = [m.span() for m in re.finditer(self.unless, text)] if self.unless else []
        for m in re.finditer(self.regex, text):
            if m.end() > m.start() and not any(a < m.end() and m.start() < b for a, b in spared):
                return Held(f"说了「{m.group()}」", m.span())
        return None

    def _test_phrase(self, at: At) -> Held | None:
        score = self.min_score or Matching.model_fields["min_score"].default
        patterns = [Pattern("phrase", p, p, score) for p in self.phrase or ()]
        hits = find(at.utterance.text, patterns)
        if not hits:
            return None
        hit = max(hits, key=lambda h: h.score)
        like = ("" if hit.matched == hit.phrase
                else f"（近「{hit.phrase}」，相似度 {hit.score:.2f}）")
        return Held(f"说了「{hit.matched}」{like}", (hit.char_start, hit.char_end))

    def _test_speaker(self, at: At) -> Held | None:
        roles = self.speaker or ()
        said_by = at.utterance.speaker.value
        if "any" not in roles and said_by not in roles:
            return None
        return Held("说话人未能确定" if said_by == "unknown" else f"{_ROLE_NAMES[said_by]}说的")

    def _test_position(self, at: At) -> Held | None:
        session, t = at.view.session, at.utterance
        inside = (t.start_s - session.start_s if self.position == "first"
                  else session.end_s - t.end_s) <= (self.seconds or 0)
        return Held(self.claim()) if inside else None

    def _test_sentence(self, at: At) -> Held | None:
        assert self.sentence is not None
        t = at.utterance
        heard_by = t.transcript.heard_by if t.transcript is not None else HeardBy.UNKNOWN
        text = t.text
        # Without words found in it, the utterance is of the type if one of its sentences is.
        starts = ([at.span] if at.span else
                  [(a, a) for a in (0, *(m.end() for m in _SENTENCE_BREAK.finditer(text)))
                   if a < len(text)] or [(0, 0)])
        kind = self.sentence
        if any(Surroundings.of(text, a, b, heard_by).sentence_is(kind) for a, b in starts):
            return Held(self.claim())
        return None

    def _test_near(self, at: At) -> Held | None:
        assert self.near is not None
        for i in self._window(at):
            held = self.near.test(At(at.view, i))
            if held is not None:
                return Held(self._where() + held.said, held.span if i == at.turn else None)
        return None

    def _window(self, at: At) -> list[int]:
        """The utterances `near` looks at, the anchor's own first, then nearest first."""
        turns = at.view.turns
        side = _side(at.utterance.speaker)

        def counted(i: int) -> bool:
            if self.of == "any":
                return True
            return (turns[i].speaker in side) == (self.of != "other")

        before = [i for i in range(at.turn - 1, -1, -1) if counted(i)][:self.before or 0]
        after = [i for i in range(at.turn + 1, len(turns)) if counted(i)][:self.after or 0]
        nearest = sorted(before + after, key=lambda i: abs(i - at.turn))
        return ([at.turn] if self.anchor is not False else []) + nearest

    def may_anchor(self, speaker: Speaker) -> bool:
        """Whether an utterance of `speaker` may hold this condition (a speaker condition,
        alone or under all / any, may rule it out; other conditions are not asked)."""
        if self.operator == "speaker":
            return "any" in (self.speaker or ()) or speaker.value in (self.speaker or ())
        if self.operator == "all":
            return all(c.may_anchor(speaker) for c in self.every or ())
        if self.operator == "any":
            return any(c.may_anchor(speaker) for c in self.either or ())
        return True

    def looks_across(self) -> bool:
        """Whether the condition reads the other side's utterances (near, of other or any)."""
        if self.near is not None and self.of in ("other", "any"):
            return True
        children = (*(self.every or ()), *(self.either or ()), self.negated, self.near)
        return any(c.looks_across() for c in children if c is not None)

    # --- wording ---------------------------------------------------------------------------

    def _where(self) -> str:
        b, a = self.before or 0, self.after or 0
        count = {n: _COUNT.get(n, f" {n} ") for n in (a, b)}
        if a and b:
            span = f"前后{count[a]}句" if a == b else f"前{count[b]}句、后{count[a]}句"
        else:
            span = f"前{count[b]}句" if b else f"后{count[a]}句" if a else ""
        whose = _SCOPE_NAMES[self.of or "same"]
        own = "本句" if self.anchor is not False else ""
        if span:
            return f"{own}{'或' if own else ''}{whose}{span}内"
        return f"{own}中"

    def _words(self, items: tuple[str, ...] | None) -> str:
        return "「" + "/".join(items or ()) + "」"

    def claim(self) -> str:
        """What this condition says, in Chinese."""
        return self._wording()[0]

    def absent(self) -> str:
        """This condition not holding, in Chinese."""
        return self._wording()[1]

    def _wording(self) -> tuple[str, str]:
        """This condition holding and not holding, in Chinese: one place for each operator's
        two sayings, so that they cannot drift apart."""
        op = self.operator
        if op == "all":
            held = "，".join(c.claim() for c in self.every or ())
            return held, f"并非{held}"
        if op == "any":
            return ("或".join(c.claim() for c in self.either or ()),
                    "，也".join(c.absent() for c in self.either or ()))
        if op == "not":
            assert self.negated is not None
            return self.negated.absent(), self.negated.claim()
        if op == "keywords":
            need, words = self.need or "any", self._words(self.keywords)
            return {"any": (f"说了{words}", f"没有说{words}"),
                    "all": (f"都说了{words}", f"没有都说{words}"),
                    "none": (f"没有说{words}", f"说了{words}中的词")}.get(
                str(need), (f"说了{words}中至少 {need} 个", f"{words}说了不到 {need} 个"))
        if op == "regex":
            return f"说了与「{self.regex}」相符的话", f"没有与「{self.regex}」相符的话"
        if op == "phrase":
            words = self._words(self.phrase)
            return f"说了{words}", f"没有说{words}"
        if op == "speaker":
            roles = "或".join(_ROLE_NAMES[r] for r in self.speaker or ())
            return f"说话人为{roles}", f"说话人不是{roles}"
        if op == "position":
            held = (f"在服务开始 {self.seconds:g} 秒内" if self.position == "first"
                    else f"在服务结束前 {self.seconds:g} 秒内")
            return held, "不" + held
        if op == "sentence":
            held = "是" + describe(ContextCondition(sentence=self.sentence))
            return held, "不" + held
        assert self.near is not None
        return self._where() + self.near.claim(), self._where() + self.near.absent()


def _side(speaker: Speaker) -> frozenset[Speaker]:
    """The speakers counted as one side with `speaker`: on one microphone an utterance whose
    speaker could not be told may be the staff's."""
    if speaker == Speaker.CITIZEN:
        return frozenset({Speaker.CITIZEN})
    return frozenset({Speaker.STAFF, Speaker.UNKNOWN})


class ComposedRule(CheckRule):
    """A rule of rules/checks.yaml's `composed:` list: an incident of `kind` on every
    transcribed utterance where `when` holds."""

    kind: IncidentKind
    clause: str = Field("", description="where the rule comes from (附录B 二（六）)")
    when: Condition

    @property
    def reads_citizen(self) -> bool:
        """Whether the rule reads what the citizen said (its anchor may be the citizen's, or it
        looks at the other side): the citizen's speech must then be transcribed."""
        return self.when.may_anchor(Speaker.CITIZEN) or self.when.looks_across()

    def judge(self, view: SessionView) -> list[Incident]:
        found = []
        for i, turn in enumerate(view.turns):
            if not turn.text:
                continue
            held = self.when.test(At(view, i))
            if held is None:
                continue
            explanation = held.said + (f"（{self.clause}）" if self.clause else "")
            found.append(self.incident(view, turn.start_s, turn.end_s, explanation, turn=turn,
                                       hit=held.span, speaker=turn.speaker))
        return found


def _unique_ids(rules: tuple[ComposedRule, ...]) -> tuple[ComposedRule, ...]:
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise PydanticCustomError("duplicate_rule_id", "rule id '{rule_id}' is used twice",
                                      {"rule_id": rule.id})
        seen.add(rule.id)
    return rules


ComposedRules = Annotated[tuple[ComposedRule, ...], AfterValidator(_unique_ids)]

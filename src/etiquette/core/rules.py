"""Appendix B as data: load and validate the rules file a supervisor edits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from etiquette.core.records import HeardBy, IncidentKind, Severity, Speaker

DEFAULT_RULES = Path(__file__).resolve().parents[3] / "rules" / "appendix_b.yaml"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a YAML document a person edits, as data: a face that words it in
    another language (the supervision service's pages) or ties it to a form field reads this;
    the exception's message is its English wording."""

    loc: tuple[int | str, ...]  # key path: ("forbidden", 3, "min_score"); () for the whole text
    path: str  # the same, readable: "forbidden[3] (F2-1) -> min_score"
    line: int | None  # 1-based
    type: str  # pydantic's error type, a validator's own (duplicate_rule_id), or yaml_syntax
    message: str  # English
    context: Mapping[str, Any] = field(default_factory=dict)  # the error's values (ge, expected)


class DocumentError(ValueError):
    """A malformed YAML document; `problems` says what is wrong, one by one (empty when the
    document could not be read at all)."""

    problems: tuple[Problem, ...] = ()


class RulesError(DocumentError):
    """The rules file is malformed; the message names the file, rule and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpectedAt(StrEnum):
    SESSION_START = "session_start"
    SESSION_END = "session_end"
    ANYWHERE = "anywhere"


class Equivalent(_Strict):
    """One entry of the lexicon: words said in the region or colloquially for a word of the
    phrases (么子 for 什么). A phrase holding `means` is also looked for with each of `said` in
    its place, so a hit lies in the heard words as they were said."""

    means: str = Field(min_length=1, description="the word as the phrases write it (什么)")
    said: tuple[str, ...] = Field(min_length=1, description="what speakers say for it (么子)")

    @model_validator(mode="after")
    def _not_blank(self) -> Equivalent:
        if not self.means.strip() or any(not w.strip() for w in self.said):
            raise PydanticCustomError("blank_words", "{field}: words must not be blank",
                                      {"field": "equivalents"})
        return self


class Matching(_Strict):
    min_score: float = Field(0.82, ge=0.5, le=1.0,
                             description="default threshold of forbidden phrases")
    required_min_score: float = Field(0.72, ge=0.3, le=1.0,
                                      description="threshold of required phrases")
    exclusion_min_score: float = Field(0.85, ge=0.5, le=1.0, description="threshold of exclusions")
    acoustic_check_min_score: float | None = Field(
        0.6, ge=0.3, le=1.0, description="near misses from this score up are checked against the "
        "audio (None: never)")
    acoustic_check_max_loss: float = Field(
        3.0, ge=0, description="a near miss stands if the phrase is at most this many nats less "
        "likely than the transcript")
    required_check_min_score: float | None = Field(
        0.45, ge=0.3, le=1.0, description="a greeting or farewell the words do not show is looked "
        "for in the audio: near misses of at least two characters from this score up are checked "
        "as forbidden ones are (None: never)")
    readings: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="extra pinyin readings of characters, e.g. 著: [zhe]")
    equivalents: tuple[Equivalent, ...] = Field(
        (), description="the lexicon of colloquial and regional words (晓得 for 知道, 么子 for "
        "什么): each phrase is also looked for with them")
    unknown_speaker_margin: float = Field(
        0.06, ge=0, le=0.5, description="a forbidden phrase from a speaker who could not be told "
        "apart (one microphone) must score this much above its rule's threshold")
    join_pause_s: float = Field(
        1.5, ge=0, le=10, description="runs of two or three consecutive utterances of one "
        "speaker with at most this pause between each are also matched as one text (a phrase "
        "said with a pause inside)")

    @model_validator(mode="after")
    def _readings_are_pinyin(self) -> Matching:
        for char, readings in self.readings.items():
            plain = all(r.isascii() and r.isalpha() and r.islower() for r in readings)
            if len(char) != 1 or not plain:
                raise PydanticCustomError(
                    "readings_not_pinyin",
                    "readings: '{char}' must be one character with toneless pinyin",
                    {"char": char})
        return self


class SentenceType(StrEnum):
    QUESTION = "question"  # marked as one: ？ after the phrase, or a final 吗
    INDIRECT_QUESTION = "indirect_question"  # marked, or a question form after the phrase
    # a question form after the phrase inside its own clause: what is not known is said
    # (我不知道要带哪些材料), so the phrase is no answer to anyone
    EMBEDDED_QUESTION = "embedded_question"
    STATEMENT = "statement"  # neither


class Position(StrEnum):
    CLAUSE_START = "clause_start"
    CLAUSE_END = "clause_end"
    SENTENCE_START = "sentence_start"
    SENTENCE_END = "sentence_end"


# Pronouns a context condition may name as the subject before a phrase or the person after it.
PRONOUNS = ("您", "你", "你们", "我", "我们", "他", "她", "他们", "她们", "大家", "咱们", "别人")
NO_SUBJECT = "none"  # `subject: [none]`: no pronoun before the phrase in its clause
# `subject: [人]`: other people named by a noun (好多人, 家里人, 老人, 群众), not a pronoun
OTHERS = "人"
SUBJECTS = (*PRONOUNS, OTHERS, NO_SUBJECT)

Words = tuple[str, ...]


class ContextCondition(_Strict):
    """A language context of a hit; it holds when every term it sets holds (etiquette.core.context).

    Words are jieba's words of the hit's clause (the text between two punctuation marks)."""

    said: tuple[str, ...] | None = Field(
        None, min_length=1, description="the hit says one of these of the rule's phrases and "
        "variants, as the rules file writes them (the lexicon's words count as the word they "
        "stand for: 不晓得 says 不知道); never a hit of the rule's parts")
    sentence: SentenceType | None = Field(
        None, description="question: marked so (？ after the hit, final 吗); indirect_question: "
        "marked, or a question form after the hit (是否, A不A, 什么, 哪, 还是, VP没有…); "
        "embedded_question: a question form after the hit in its own clause "
        "(我不知道要带哪些材料); "
        "statement: neither")
    speaker: tuple[HeardBy, ...] | None = Field(
        None, min_length=1, description="how the speaker is known: microphone (their own), "
        "attributed (one microphone, decided from voice and words), unknown")
    subject: Words | None = Field(None, min_length=1, description="the last pronoun before the "
                                  "hit in its clause, or '人' for other people named by a noun "
                                  "(好多人, 家里人, 群众), is one of these ('none': neither)")
    addressee: Words | None = Field(None, min_length=1, description="the first pronoun after the "
                                    "hit in its clause is one of these")
    preceded_by: Words | None = Field(
        None, min_length=1, description="one of these words is before the hit in its clause")
    followed_by: Words | None = Field(
        None, min_length=1, description="one of these words is after the hit in its clause")
    next_word: Words | None = Field(None, min_length=1,
                                    description="the word right after the hit is one of these")
    clause_has: Words | None = Field(None, min_length=1, description="one of these words is "
                                     "anywhere in the hit's clause, the hit included")
    next_clause_has: Words | None = Field(
        None, min_length=1, description="one of these words is in the clause after the hit's "
        "(不知道能不能补，我帮您问一下: what the speaker goes on to do)")
    position: Position | None = Field(None, description="where the hit is in its clause/sentence")

    @model_validator(mode="after")
    def _meaningful(self) -> ContextCondition:
        if all(v is None for v in self.model_dump().values()):
            raise PydanticCustomError(
                "empty_condition", "a context condition needs at least one term: {terms}",
                {"terms": ", ".join(type(self).model_fields)})
        for name, allowed in (("subject", SUBJECTS), ("addressee", PRONOUNS)):
            if bad := [w for w in getattr(self, name) or () if w not in allowed]:
                raise PydanticCustomError(
                    "not_a_pronoun", "{field}: {words} is not one of {allowed}",
                    {"field": name, "words": ", ".join(bad), "allowed": ", ".join(allowed)})
        for name in ("preceded_by", "followed_by", "next_word", "clause_has"):
            if any(not w.strip() for w in getattr(self, name) or ()):
                raise PydanticCustomError("blank_words", "{field}: words must not be blank",
                                          {"field": name})
        return self


class ContextRules(_Strict):
    word_boundary: bool = Field(False, description="a hit must begin and end on word boundaries")
    unless: tuple[ContextCondition, ...] = Field(
        (), description="a hit in any of these contexts is no violation")
    only_if: tuple[ContextCondition, ...] = Field(
        (), description="if given, a hit counts only in one of these contexts")


class SessionRules(_Strict):
    greeting_within_s: float = Field(30.0, gt=0,
                                     description="greeting expected this soon after the start")
    farewell_within_s: float = Field(30.0, gt=0,
                                     description="farewell expected this close to the end")
    end_after_silence_s: float = Field(
        45.0, gt=0, description="live: a window quiet this long has finished its session")


RULE_ID = r"^[A-Za-z0-9_.-]+$"


class Group(_Strict):
    name: str = Field(min_length=1)
    severity: Severity
    deduction: float = Field(ge=0)
    instead: str | None = Field(
        None, pattern=RULE_ID, description="the required rule whose phrase to say in the "
        "situations where this group's phrases are said (self-training)")


class MissingIncident(_Strict):
    kind: IncidentKind
    severity: Severity
    deduction: float = Field(ge=0)


def _refuse_blank(words: tuple[str, ...], field: str) -> None:
    if any(not w.strip() for w in words):
        raise PydanticCustomError("blank_words", "{field}: words must not be blank",
                                  {"field": field})


class Part(_Strict):
    says: tuple[str, ...] = Field(min_length=1, description="the part and other words for it "
                                  "(填错了, 写错了); × matches any few characters")
    min_score: float | None = Field(None, ge=0.3, le=1.0, description="None: the rule's")

    @model_validator(mode="after")
    def _not_blank(self) -> Part:
        _refuse_blank(self.says, "says")
        return self


class Parts(_Strict):
    """A phrase of parts said apart (填错了，发动机号少了两位，快点改): it is heard where every
    part is, close together in one speaker's speech (one utterance, or a run of them short
    pauses apart, as `join_pause_s` joins them)."""

    items: tuple[Part, ...] = Field(min_length=2)
    within_clauses: int = Field(3, ge=1, le=10, description="from the first part to the last in "
                                "at most this many clauses")
    within_chars: int = Field(30, ge=2, le=200, description="and at most this many characters")
    any_order: bool = Field(False, description="the parts may come in any order (先等着，还没上班)")


class _PhraseRule(_Strict):
    id: str = Field(min_length=1, pattern=RULE_ID)
    name: str = Field(min_length=1)
    phrases: tuple[str, ...] = Field(min_length=1)
    variants: tuple[str, ...] = ()
    min_score: float | None = Field(None, ge=0.3, le=1.0)
    speakers: tuple[Speaker, ...] = (Speaker.STAFF, Speaker.UNKNOWN)
    parts: Parts | None = None

    @model_validator(mode="after")
    def _phrases_not_blank(self) -> _PhraseRule:
        for p in (*self.phrases, *self.variants):
            if not p.strip():
                raise PydanticCustomError("blank_phrase",
                                          "phrases and variants must not be blank")
        return self

    @property
    def canonical(self) -> str:
        return self.phrases[0]


class RequiredRule(_PhraseRule):
    clause: str = ""
    expected_at: ExpectedAt = ExpectedAt.ANYWHERE
    missing: MissingIncident | None = None
    staff_alone: tuple[str, ...] = Field((), description=(
        "words that alone are the phrase from the staff (a greeting said to the citizen: 你好，"
        "大叔，来，坐下慢慢讲), and from a voice not told apart on one microphone (it may be the "
        "staff's, and a missing phrase charges them); never from a voice told to be the citizen's"))

    @model_validator(mode="after")
    def _staff_alone_checked(self) -> RequiredRule:
        _refuse_blank(self.staff_alone, "staff_alone")
        if self.staff_alone and Speaker.STAFF not in self.speakers:
            raise PydanticCustomError("staff_alone_without_staff",
                                      "staff_alone: words the staff say alone need staff among "
                                      "the rule's speakers")
        return self

    @model_validator(mode="after")
    def _missing_needs_a_place(self) -> RequiredRule:
        if self.missing and self.expected_at == ExpectedAt.ANYWHERE:
            raise PydanticCustomError(
                "missing_needs_a_place",
                "a 'missing' incident needs expected_at session_start or session_end")
        return self


class ForbiddenRule(_PhraseRule):
    group: int
    severity: Severity | None = None  # None: the group's
    deduction: float | None = Field(None, ge=0)
    exclusions: tuple[str, ...] = ()
    context: ContextRules = ContextRules()
    instead: str | None = Field(None, pattern=RULE_ID, description="None: the group's")

    @model_validator(mode="after")
    def _said_is_a_phrase_of_the_rule(self) -> ForbiddenRule:
        forms = (*self.phrases, *self.variants)
        errors = [InitErrorDetails(
            type=PydanticCustomError(
                "not_a_phrase_of_the_rule",
                "{words} is not one of the rule's phrases or variants ({forms})",
                {"words": ", ".join(bad), "forms": ", ".join(forms)}),
            loc=("context", where, k, "said"), input=c.said)  # the line of `said` itself
            for where in ("unless", "only_if")
            for k, c in enumerate(getattr(self.context, where))
            if (bad := [w for w in c.said or () if w not in forms])]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


NO_RULE = "none"  # an example sentence that says none of the phrases read by meaning


class Example(_Strict):
    """One labelled sentence the meaning model learns from."""

    rule: str = Field(min_length=1, description="the id of a forbidden rule or of a required "
                      "rule with a missing incident (a greeting, a farewell), or 'none'")
    text: str = Field(min_length=1)
    source: str = Field("", description="where the sentence comes from (a held-out half)")


class ExampleSet(_Strict):
    examples: tuple[Example, ...] = Field(min_length=1)


class MeaningSettings(_Strict):
    """Forbidden phrases, greetings and farewells judged by meaning as well as by their listed
    wordings."""

    examples_file: str = Field(min_length=1, description="beside the rules file")
    min_probability: float = Field(0.5, gt=0, le=1.0, description="a flag needs at least this")
    min_chars: int = Field(4, ge=1, description="shorter texts are not read for meaning")
    unknown_speaker_min_probability: float = Field(
        0.7, gt=0, le=1.0, description="the same, where the speaker could not be told apart")
    one_microphone_veto_below: float = Field(
        0.0, ge=0, lt=1.0, description="on one microphone for both sides, a wording's hit the "
        "model gives less than this for its rule is no flag (the citizen's 我不知道要…)")


class RuleSet(_Strict):
    version: str
    source: str = ""
    matching: Matching = Matching()
    meaning: MeaningSettings | None = None
    # filled by the loader from meaning.examples_file
    examples: tuple[Example, ...] = ()
    session: SessionRules = SessionRules()
    groups: dict[int, Group]
    required: tuple[RequiredRule, ...] = ()
    forbidden: tuple[ForbiddenRule, ...] = ()

    @model_validator(mode="after")
    def _verify(self) -> RuleSet:
        seen: set[str] = set()
        for rule in (*self.required, *self.forbidden):
            if rule.id in seen:
                raise PydanticCustomError("duplicate_rule_id", "rule id '{rule_id}' is used twice",
                                          {"rule_id": rule.id})
            seen.add(rule.id)
        for i, rule in enumerate(self.forbidden):
            if rule.group not in self.groups:
                raise PydanticCustomError(
                    "undefined_group", "rule {rule_id}: group {group} is not defined under "
                    "'groups'", {"rule_id": rule.id, "group": rule.group, "index": i})
        # A model validator's error has no location of its own: the message carries the key path.
        required = [r.id for r in self.required]
        # (where in words, where as a key path, the id it names)
        refs = [(f"groups -> {number} -> instead", ("groups", number), group.instead)
                for number, group in self.groups.items()]
        refs += [(f"forbidden[{i}] ({rule.id}) -> instead", ("forbidden", i), rule.instead)
                 for i, rule in enumerate(self.forbidden)]
        for where, (section, key), instead in refs:
            if instead is not None and instead not in required:
                raise PydanticCustomError(
                    "unknown_instead", "{where}: '{instead}' is not the id of a rule under "
                    "'required' ({required})",
                    {"where": where, "instead": instead, "section": section, "key": key,
                     "required": ", ".join(required) or "none defined"})
        return self

    @property
    def judged_speakers(self) -> frozenset[Speaker]:
        """Whose speech any rule applies to: the only speech worth transcribing."""
        return frozenset(s for r in (*self.required, *self.forbidden) for s in r.speakers)

    def severity_of(self, rule: ForbiddenRule) -> Severity:
        return rule.severity or self.groups[rule.group].severity

    def deduction_of(self, rule: ForbiddenRule) -> float:
        return rule.deduction if rule.deduction is not None else self.groups[rule.group].deduction

    def wordings_only(self) -> RuleSet:
        """These rules judging by their phrases' own words: no meaning model, and no word that
        alone stands for a phrase from the staff (what a practice of the phrase is held to)."""
        plain = tuple(r.model_copy(update={"staff_alone": ()}) for r in self.required)
        return self.model_copy(update={"meaning": None, "required": plain})

    def instead_of(self, rule: ForbiddenRule) -> RequiredRule | None:
        """The required rule whose phrase the staff member should have said instead of `rule`'s
        (its own `instead`, else its group's); None where the rules name none."""
        rule_id = rule.instead or self.groups[rule.group].instead
        return next((r for r in self.required if r.id == rule_id), None) if rule_id else None


def _describe(raw: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """'forbidden[3] (F2-1) -> min_score' from a pydantic error location."""
    parts: list[str] = []
    node: Any = raw
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            node = node[key]
            rid = node.get("id") if isinstance(node, dict) else None
            parts[-1] += f"[{key}]" + (f" ({rid})" if rid else "")
        else:
            node = node.get(key) if isinstance(node, dict) else None
            parts.append(str(key))
    return " -> ".join(parts) or "(top level)"


def _line(tree: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The line (1-based) of the deepest YAML node on the error's key path."""
    node = tree
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The line (1-based) of the key path `loc` in the YAML `text` (None: not YAML)."""
    try:
        return _line(yaml.compose(text, Loader=yaml.SafeLoader), loc)
    except (yaml.YAMLError, RecursionError):
        return None


M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[M], error: type[ValueError], what: str) -> M:
    """Read a YAML file a person edits into `model`; every problem is an `error` naming the
    file, the key path (with rule ids where the list items have them) and its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise error(f"{path}: cannot read {what}: {e.strerror}") from e
    return parse_yaml_model(text, model, error, what, where=str(path))


def parse_yaml_model(text: str, model: type[M], error: type[ValueError], what: str,
                     where: str = "<text>") -> M:
    """`load_yaml_model` for YAML that is not a file (rules edited in the supervision service);
    `where` names it in the messages as the path does for a file."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise _error(error, f"{where}: not valid YAML: {e}", [Problem(
            loc=(), path="", line=mark.line + 1 if mark else None, type="yaml_syntax",
            message=str(getattr(e, "problem", None) or e),
            context={"column": mark.column + 1} if mark else {})]) from e
    if not isinstance(raw, dict):
        message = "expected a mapping at the top level"
        raise _error(error, f"{where}: {message}",
                     [Problem(loc=(), path="", line=1, type="not_a_mapping", message=message)])
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
        lines = [f"{where}: invalid {what}"]
        problems: list[Problem] = []
        locs = [tuple(err["loc"]) for err in e.errors()]
        for err in e.errors():
            loc = tuple(err["loc"])
            if any(len(other) > len(loc) and other[:len(loc)] == loc for other in locs):
                continue  # "the list is invalid" adds nothing to what is wrong inside it
            line = _line(tree, loc)
            at = f" (line {line})" if line else ""
            path = _describe(raw, loc)
            lines.append(f"  {path}{at}: {err['msg']}")
            problems.append(Problem(loc=loc, path=path, line=line, type=err["type"],
                                    message=err["msg"], context=err.get("ctx") or {}))
        raise _error(error, "\n".join(lines), problems) from e


E = TypeVar("E", bound=ValueError)


def _error(error: type[E], message: str, problems: list[Problem]) -> E:
    exc = error(message)
    if isinstance(exc, DocumentError):
        exc.problems = tuple(problems)
    return exc


def _with_examples(rules: RuleSet, folder: Path) -> RuleSet:
    """The rules with the example sentences their `meaning` names, each labelled with one of
    their forbidden rules, one of their required rules whose absence is an incident, or
    'none'."""
    if rules.meaning is None:
        return rules
    path = folder / rules.meaning.examples_file
    examples = load_yaml_model(path, ExampleSet, RulesError, "meaning examples").examples
    ids = {r.id for r in rules.forbidden} | {r.id for r in rules.required if r.missing}
    if bad := next(((i, e) for i, e in enumerate(examples)
                    if e.rule != NO_RULE and e.rule not in ids), None):
        i, e = bad
        line = line_of(path.read_text(encoding="utf-8"), ("examples", i))
        message = (f"examples[{i}] -> rule: '{e.rule}' is not the id of a forbidden rule, "
                   f"nor of a required rule with a missing incident, nor '{NO_RULE}'")
        raise _error(RulesError, f"{path}: invalid meaning examples\n  {message}"
                     + (f" (line {line})" if line else ""),
                     [Problem(loc=("examples", i, "rule"), path=f"examples[{i}] -> rule",
                              line=line, type="unknown_rule", message=message)])
    forbidden = {r.id for r in rules.forbidden}
    if not forbidden & {e.rule for e in examples} or NO_RULE not in {e.rule for e in examples}:
        message = f"needs examples of a forbidden rule and of '{NO_RULE}'"
        raise _error(RulesError, f"{path}: invalid meaning examples: {message}",
                     [Problem(loc=("examples",), path="examples", line=None,
                              type="too_few_rules", message=message)])
    return rules.model_copy(update={"examples": examples})


def load_rules(path: Path | None = None) -> RuleSet:
    path = path or DEFAULT_RULES
    return _with_examples(load_yaml_model(path, RuleSet, RulesError, "rules"), path.parent)


def parse_rules(text: str, where: str = "<text>", folder: Path = DEFAULT_RULES.parent
                ) -> RuleSet:
    """Rules from text (edited in the supervision service, fetched by live); the examples file
    their `meaning` names is read from `folder` (the bundled rules' by default)."""
    return _with_examples(parse_yaml_model(text, RuleSet, RulesError, "rules", where), folder)

"""rules/checks.yaml: the checks beyond phrase lists, as data a supervisor edits."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from etiquette.core.checks.base import CheckRule, SessionView
from etiquette.core.checks.language import NonMandarin
from etiquette.core.checks.operators import ComposedRules
from etiquette.core.checks.turns import Interruption, UnansweredQuestion
from etiquette.core.checks.voice import FastSpeech, RaisedVoice
from etiquette.core.records import Incident
from etiquette.core.rules import DocumentError, load_yaml_model

DEFAULT_CHECK_RULES = Path(__file__).resolve().parents[4] / "rules" / "checks.yaml"


class CheckRulesError(DocumentError):
    """rules/checks.yaml is malformed; the message names the file, check and field."""


class CheckRules(BaseModel):
    """Every check's section; a section left out of the file is that check off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = ""
    interruption: Interruption | None = None
    unanswered_question: UnansweredQuestion | None = None
    non_mandarin: NonMandarin | None = None
    fast_speech: FastSpeech | None = None
    raised_voice: RaisedVoice | None = None

    # Rules composed of operators (operators.py), each a check of its own.
    composed: ComposedRules = ()

    @property
    def reads_citizen(self) -> bool:
        """Whether a check reads every citizen utterance's words (a composed rule about what
        the citizen said): then all the citizen's speech is transcribed, not only what
        unanswered_question asks for."""
        return any(c.reads_citizen for c in self.composed if c.enabled)

    def checks(self) -> list[CheckRule]:
        found = [getattr(self, name) for name in type(self).model_fields]
        found = [c for f in found for c in (f if isinstance(f, tuple) else (f,))]
        return [c for c in found if isinstance(c, CheckRule) and c.enabled]


def judge_checks(rules: CheckRules, view: SessionView) -> list[Incident]:
    """Every enabled check's incidents in one session, in time order."""
    found = [i for check in rules.checks() for i in check.judge(view)]
    return sorted(found, key=lambda i: (i.offset_s, i.rule_id))


def load_check_rules(path: Path | None = None) -> CheckRules:
    return load_yaml_model(path or DEFAULT_CHECK_RULES, CheckRules, CheckRulesError, "check rules")

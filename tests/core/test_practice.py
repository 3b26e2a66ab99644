"""Staff practice, judged: the verdict on a practice transcript is the window matcher's, with
the phrase's words that were not heard named for the staff member."""

from __future__ import annotations

from etiquette.core.practice import judge_practice, missed_words
from etiquette.core.rules import RequiredRule, RuleSet

from factories.transcripts import said

GREETING = "您好，请问您需要办理什么业务"  # R-greeting, Appendix B 二（一）


def required(rules: RuleSet, rule_id: str) -> RequiredRule:
    return next(r for r in rules.required if r.id == rule_id)


def test_the_phrase_said_is_recognised_with_nothing_missed(rules: RuleSet) -> None:
    verdict = judge_practice(rules, required(rules, "R-greeting"), said(GREETING), 3.0)
    assert verdict.recognised and verdict.missed == ()
    assert verdict.phrase == GREETING and verdict.transcript == GREETING
    assert verdict.score >= rules.matching.required_min_score and GREETING in verdict.matched
    assert (verdict.rule_id, verdict.duration_s) == ("R-greeting", 3.0)


def test_another_phrase_is_not_recognised_and_the_missing_words_are_named(rules: RuleSet) -> None:
    verdict = judge_practice(rules, required(rules, "R-greeting"), said("请稍候，我马上为您办理"),
                             2.5)
    assert not verdict.recognised and verdict.score == 0.0 and verdict.matched == ""
    assert any("什么业务" in m for m in verdict.missed), verdict.missed


def test_slots_stand_for_any_words_and_are_never_missed() -> None:
    assert missed_words("请您出示××材料", "请您出示身份证材料") == ()
    assert missed_words("请您出示××材料", "请您出示") == ("材料",)
    assert missed_words("您好请问", "请问") == ("您好",)


def test_a_sentence_that_only_means_the_phrase_is_no_practice_of_it(
        rules: RuleSet, matcher) -> None:
    """同学你好，开证明吗 is a greeting at the window (by meaning), but the staff member practises
    the standard phrase: its words are what is judged."""
    heard = said("同学你好，开证明吗")
    assert "R-greeting" in [r.id for r, _ in matcher.required(heard)]
    verdict = judge_practice(rules, required(rules, "R-greeting"), heard, 2.0)
    assert not verdict.recognised and verdict.score == 0.0

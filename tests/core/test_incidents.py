"""Incidents from hits: a forbidden-phrase incident points at the words it is about."""

from __future__ import annotations

from etiquette.core.incidents import forbidden_incident
from etiquette.core.matching import PhraseMatcher
from etiquette.core.rules import RuleSet

from factories.transcripts import said


def test_a_forbidden_phrase_incident_carries_the_span_of_the_matched_words(
        rules: RuleSet, matcher: PhraseMatcher) -> None:
    transcript = said("这个我也不只道，你问别人去吧")
    found, _ = matcher.forbidden(transcript)
    incidents = [forbidden_incident(rules, rule, hit, transcript) for rule, hit in found]
    assert {i.rule_id for i in incidents} == {"F1-1", "F1-2"}
    for inc, (_, hit) in zip(incidents, found, strict=True):
        assert inc.transcript == transcript.text
        assert inc.transcript[inc.hit_start:inc.hit_end] == hit.matched
        assert f"「{hit.matched}」" in inc.explanation
    by_rule = {i.rule_id: i for i in incidents}
    assert (by_rule["F1-1"].hit_start, by_rule["F1-1"].hit_end) == (4, 7)  # 不只道
    json = by_rule["F1-2"].to_json()
    assert json["transcript"][json["hit_start"]:json["hit_end"]] in ("问别人去", "你问别人去")

"""Self-training from an incident: a staff member's forbidden-phrase incident shows, next to the
transcript, the standard phrase of Appendix B the rules say to use in its place (`instead`, the
rule's own or its group's) and links to practising exactly that phrase; reviewers see the phrase
too; the rules API carries it. No model is loaded: the page is built from the rules in force."""

from __future__ import annotations

import re

from factories.service import incident, make_incident, post_incident
from service.conftest import LiveService

WAIT = "请稍候，我马上为您办理"  # R-wait, Appendix B 二（四）
SORRY_REFUSE = "对不起，根据规定，我们不能为您办理这项业务，请您谅解"  # R-sorry-refuse, 二（六）


def element_text(html: str, element_id: str) -> str | None:
    """The text (tags dropped) of the element with this id, or None where the page has none."""
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(2)).strip() if found else None


def test_a_forbidden_phrase_incident_shows_the_phrase_to_say_instead(
        sqlite_service: LiveService) -> None:
    live = sqlite_service
    staff, supervisor = live.client("staff1"), live.client("supervisor")

    # 「不知道」(F1-1) names R-wait itself, overriding its group's (推诿搪塞 → R-greeting).
    iid = make_incident(live)  # at staff1's window
    page = staff.get(f"/incidents/{iid}")
    assert page.status_code == 200, page.text
    assert element_text(page.text, "instead") == f"应使用的规范用语：「{WAIT}」"
    assert element_text(page.text, "transcript") == "这个我也不只道，你问别人去吧"  # beside it
    assert 'href="/practice#R-wait"' in page.text
    practice = staff.get("/practice")
    assert practice.status_code == 200 and 'id="R-wait"' in practice.text  # the link's target
    assert WAIT in practice.text

    # 「你懂，还是我懂」(F4-2) has no `instead` of its own: its group's (态度蛮横 → R-sorry-refuse).
    body = incident(rule_id="F4-2", rule_name="禁用语：你懂，还是我懂", phrase="你懂，还是我懂",
                    transcript="你懂，还是我懂", hit_start=0, hit_end=7, severity="critical",
                    deduction=3.0, explanation="「你懂，还是我懂」相似度 1.00")
    assert post_incident(live.pipeline(), body).status_code == 201
    page = staff.get(f"/incidents/{body['id']}")
    assert element_text(page.text, "instead") == f"应使用的规范用语：「{SORRY_REFUSE}」"
    assert 'href="/practice#R-sorry-refuse"' in page.text

    # A reviewer sees what the staff member should have said, without the practice link.
    review = supervisor.get(f"/incidents/{iid}")
    assert review.status_code == 200
    assert element_text(review.text, "instead") == f"应使用的规范用语：「{WAIT}」"
    assert 'id="practice-link"' not in review.text

    # The rules API, where the rule's text is read, carries it (added fields only).
    rules = {r["id"]: r for r in supervisor.get("/api/v1/rules").json()["data"]}
    assert (rules["F1-1"]["instead"], rules["F1-1"]["instead_phrase"]) == ("R-wait", WAIT)
    assert (rules["F4-2"]["instead"], rules["F4-2"]["instead_phrase"]) == ("R-sorry-refuse",
                                                                           SORRY_REFUSE)
    assert rules["R-greeting"]["instead"] is None and rules["R-greeting"]["instead_phrase"] is None

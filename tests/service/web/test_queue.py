"""The review queue in a real browser: landing on 待审核 with the menu's counts, the appeals
inbox, bulk dismissal with one reason and its undo, the undo on the incident page, search by a
word of the transcript, and a new incident announced on the open list without a reload."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from factories.service import incident, make_incident, post_incident
from service.conftest import LiveService
from service.web.conftest import logged_in_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def a_day_of_its_own() -> datetime:
    return datetime(2021, 1, 1, 10, tzinfo=UTC) + timedelta(days=random.randrange(2000))


def chinese_word(n: int = 4) -> str:
    return "".join(chr(0x4E00 + random.randrange(0x5000, 0x51A5)) for _ in range(n))


def post(live: LiveService, **over: object) -> str:
    body = incident(**over)
    assert post_incident(live.pipeline(), body).status_code == 201
    return str(body["id"])


def test_land_on_the_queue_with_its_count_and_open_the_appeals_inbox(
        browser: Browser, sqlite_service: LiveService) -> None:
    live = sqlite_service
    appealed = make_incident(live, status="appealed")
    counts = live.client("supervisor").get("/api/v1/incidents/counts").json()
    page, violations = logged_in_page(browser, live, "supervisor")
    try:
        assert page.url.endswith("/incidents?status=pending")
        assert page.locator("h1").inner_text().startswith("待审核")
        assert page.locator("#pending-count").inner_text() == str(counts["pending"])
        assert page.locator("#appeals-count").inner_text() == str(counts["appealed"])

        page.click("#nav-appeals")
        page.wait_for_url("**/appeals")
        top = page.locator("#appeal-list tbody tr").first  # the latest appeal first
        assert top.get_attribute("data-id") == appealed
        assert "当时是在转述群众的话" in top.inner_text()
        assert not violations
    finally:
        page.close()
    # Staff have no appeals to decide: no inbox in their menu, their own pending count.
    staff = live.client("staff1").get("/incidents?status=pending")
    own = live.client("staff1").get("/api/v1/incidents/counts").json()
    assert 'id="nav-appeals"' not in staff.text
    assert f'<span class="count" id="pending-count">{own["pending"]}</span>' in staff.text
    assert live.client("staff1").get("/appeals").status_code == 403


def test_bulk_dismiss_with_one_reason_then_undo(browser: Browser,
                                                sqlite_service: LiveService) -> None:
    live = sqlite_service
    day = a_day_of_its_own()
    ids = [post(live, at_dt=day + timedelta(minutes=m)) for m in range(3)]
    page, violations = logged_in_page(browser, live, "supervisor")
    try:
        page.goto(f"{live.base_url}/incidents?status=pending&date_from={day.date()}"
                  f"&date_to={day.date()}")
        for iid in ids[:2]:
            page.check(f"input[name=ids][value='{iid}']")
        assert page.locator("#bulk-count").inner_text() == "2"
        page.click("#bulk-dismiss")  # without a reason: the form asks for one first
        assert page.url.endswith(f"date_to={day.date()}")
        page.fill("#bulk-reason", "测试录音，非真实服务")
        page.click("#bulk-dismiss")
        page.wait_for_url("**/incidents/bulk")
        assert page.locator("#bulk-summary").inner_text() == "已驳回 2 条事件。"
        sup = live.client("supervisor")
        for iid in ids[:2]:
            got = sup.get(f"/api/v1/incidents/{iid}").json()
            assert (got["status"], got["review_reason"]) == ("dismissed", "测试录音，非真实服务")
        assert sup.get(f"/api/v1/incidents/{ids[2]}").json()["status"] == "pending"

        page.click("#undo")
        page.wait_for_url("**/incidents/undo")
        assert page.locator("#bulk-summary").inner_text() == "已撤销 2 条审核决定，事件回到待审核。"
        for iid in ids[:2]:
            assert sup.get(f"/api/v1/incidents/{iid}").json()["status"] == "pending"
        page.click("#back-link")
        assert page.locator("#incident-list tbody tr[data-id]").count() == 3

        # One incident: confirmed, then undone from its page.
        page.click(f"tr[data-id='{ids[0]}'] a")
        with page.expect_navigation():
            page.click("#confirm")
        page.goto(f"{live.base_url}/incidents/{ids[0]}")
        page.click("#undo")
        assert page.locator("#undone").is_visible()
        assert page.locator("#status").inner_text() == "待审核"
        assert not violations
    finally:
        page.close()


def test_search_by_a_word_of_the_transcript(browser: Browser,
                                            sqlite_service: LiveService) -> None:
    live = sqlite_service
    word = chinese_word()
    hit = post(live, transcript=f"这个{word}不归我们管，你问别人去吧")
    post(live, transcript="您好，请问您办理什么业务")
    page, violations = logged_in_page(browser, live, "supervisor")
    try:
        page.goto(f"{live.base_url}/incidents")
        page.fill("#search", word)
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*q=.*"))
        rows = page.locator("#incident-list tbody tr[data-id]")
        assert rows.count() == 1 and rows.first.get_attribute("data-id") == hit
        assert page.input_value("#search") == word
        # Sorting keeps the search.
        page.click("#sort-severity")
        assert page.locator("#incident-list tbody tr[data-id]").count() == 1
        assert "▼" in page.locator("#sort-severity").inner_text()
        assert not violations
    finally:
        page.close()


def test_a_new_incident_is_announced_on_the_open_list(browser: Browser,
                                                      sqlite_service: LiveService) -> None:
    live = sqlite_service
    page, violations = logged_in_page(browser, live, "supervisor")
    try:
        pending = int(page.locator("#pending-count").inner_text())
        assert page.locator("#new-incidents").is_hidden()
        arrived = post(live, window_id="w-b")
        page.locator("#new-incidents").wait_for(state="visible", timeout=15_000)
        assert page.locator("#new-incidents").inner_text() == "1 条新事件，点击刷新"
        page.wait_for_function(
            f"() => document.getElementById('pending-count').textContent === '{pending + 1}'",
            timeout=15_000)
        page.click("#new-incidents-link")
        page.locator(f"tr[data-id='{arrived}']").wait_for()
        assert page.locator("#new-incidents").is_hidden()
        assert not violations
    finally:
        page.close()

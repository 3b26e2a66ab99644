"""服务记录 in a real browser: from an incident to its session's timeline (both channels' rows,
the incident's marker linking back), the words said, the checks and the ticket; the list by
window and day (issue 19 item 3); the ratings that rate a session and the complaints that found
it, on its page (item 4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from factories.service import (
    a_morning,
    center_with_windows,
    incident,
    post_incident,
    post_session,
    rating,
    session_record,
)
from service.conftest import LiveService
from service.web.conftest import logged_in_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def test_an_incident_links_to_its_session_whose_timeline_shows_both_sides_and_the_incident(
        browser: Browser, sqlite_service: LiveService) -> None:
    live = sqlite_service
    record = session_record(window_id="w-a")
    assert record.start_at is not None
    said = incident(window_id="w-a", offset_s=14.0, end_s=15.0,
                    at_dt=datetime.fromisoformat(record.start_at) + timedelta(seconds=11))
    assert post_incident(live.pipeline(), said).status_code == 201
    record = replace(record, incident_ids=(said["id"],))
    assert live.pipeline().post("/api/v1/sessions", json=record.to_json()).status_code == 201

    page, violations = logged_in_page(browser, live, "supervisor")
    try:
        page.goto(f"{live.base_url}/incidents/{said['id']}")
        page.click("#session-link")
        page.wait_for_url(f"**/sessions/{record.id}")
        assert page.locator("#row-staff rect.bar").count() == 2
        assert page.locator("#row-citizen rect.bar.untranscribed").count() == 1
        assert page.locator("#row-incidents a.marker").count() == 1
        words = page.locator("#utterances").inner_text()
        assert "您好，请问办理什么业务？" in words and "未转写" in words
        assert page.locator("#ticket").inner_text() == "A012"
        assert "王芳" in page.locator("#staff").inner_text()
        assert "9.5 秒" in page.locator("#talk").inner_text()
        checks = page.locator("#checks").inner_text()
        assert "送别用语" in checks and page.locator("#checks tr.check-failed").count() == 1
        assert page.locator("#checks tr.check-passed").count() == 2
        page.screenshot(path="/tmp/p5_session.png", full_page=True)

        page.locator("#row-incidents a.marker").click()  # the marker leads to the incident
        page.wait_for_url(f"**/incidents/{said['id']}")

        day = datetime.fromisoformat(record.start_at).astimezone(
            ZoneInfo(live.settings.display_timezone)).date()
        page.goto(f"{live.base_url}/sessions")
        page.fill("input[name=window]", "01")
        page.fill("input[name=day]", day.isoformat())
        page.click("#session-filters button[type=submit]")
        page.wait_for_selector(f"tr[data-session='{record.id}']")
        row = page.locator(f"tr[data-session='{record.id}']").inner_text()
        assert "A012" in row and "送别用语" in row
        page.screenshot(path="/tmp/p5_sessions.png", full_page=True)
        assert violations == []
    finally:
        page.close()


def test_a_sessions_page_shows_its_ratings_and_the_complaints_that_found_it(
        browser: Browser, sqlite_service: LiveService) -> None:
    live = sqlite_service
    _, (window,), key = center_with_windows(live, "01")
    device, start = live.pipeline(key), a_morning()
    served = post_session(device, window["code"], start, "B101")  # 10:00–10:05
    later = post_session(device, window["code"], start + timedelta(hours=2), "B150")
    # The citizen rates after leaving, by ticket; another rating is the later citizen's.
    rated = rating(window["code"], start + timedelta(minutes=7), ticket="B101",
                   level="very_dissatisfied", comment="等了很久，态度也不好")
    other = rating(window["code"], start + timedelta(hours=2, minutes=1), level="satisfied")
    for body in (rated, other):
        assert device.post("/api/v1/ratings", json=body).status_code == 201
    sup = live.client("supervisor")
    complained = sup.post("/api/v1/complaints", json={
        "window_pk": window["id"], "channel": "phone", "at": (start + timedelta(minutes=3))
        .isoformat(), "text": "工作人员态度生硬"})
    assert complained.status_code == 201, complained.text
    complaint_id = complained.json()["id"]

    page, violations = logged_in_page(browser, live, "supervisor")
    try:
        page.goto(f"{live.base_url}/sessions/{served}")
        shown = page.locator("#session-ratings tbody tr")
        assert shown.count() == 1
        assert shown.get_attribute("data-id") == rated["id"]
        row = shown.inner_text()
        assert "非常不满意" in row and "等了很久，态度也不好" in row
        assert (start + timedelta(minutes=7)).astimezone(ZoneInfo(
            live.settings.display_timezone)).strftime("%Y-%m-%d %H:%M:%S") in row
        link = page.locator("#session-complaints a")
        assert link.count() == 1 and "电话" in page.locator("#session-complaints").inner_text()
        page.screenshot(path="/tmp/p5_session_feedback.png", full_page=True)
        link.click()
        page.wait_for_url(f"**/complaints/{complaint_id}")
        # The later session, two hours on: its own rating, no complaint.
        page.goto(f"{live.base_url}/sessions/{later}")
        assert page.locator("#session-ratings tbody tr").get_attribute("data-id") == other["id"]
        assert page.locator("#session-complaints").count() == 0
        assert violations == []
    finally:
        page.close()

"""服务记录 in a real browser: from an incident to its session's timeline (both channels' rows,
the incident's marker linking back), the words said, the checks and the ticket; the list by
window and day (issue 19 item 3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from factories.service import incident, post_incident, session_record
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

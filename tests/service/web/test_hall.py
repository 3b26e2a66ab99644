"""大厅态势 in a real browser: a window's tile turns green with its first heartbeat and red with
心跳中断 once the beats stop, on the open page (server-sent events, no reload)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factories.service import center_with_windows, window_beat
from service.conftest import LiveService
from service.web.conftest import logged_in_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def test_a_tile_turns_green_with_a_beat_and_red_when_the_beats_stop(
        browser: Browser, sqlite_service: LiveService) -> None:
    live = sqlite_service
    center, (w1, w2), key = center_with_windows(live, "01", "02")
    page, violations = logged_in_page(browser, live, "supervisor")
    try:
        page.click("#nav-hall")
        page.wait_for_url("**/hall")
        tile = f"[data-center='{center['code']}'] [data-window='{w1['code']}']"
        page.wait_for_selector(f"{tile}[data-status='offline']", timeout=20000)
        assert "未接入" in page.locator(tile).inner_text()
        page.evaluate("() => { window.hallPageMark = 1; }")  # gone if the page reloads

        # One beat of a site beating every second: stale after hall_stale_beats (3) seconds.
        r = live.pipeline(key).post("/api/v1/heartbeats", json={
            "interval_s": 1, "windows": {w1["code"]: window_beat()}})
        assert r.status_code == 200 and r.json()["accepted"] == [w1["code"]], r.text
        page.wait_for_selector(f"{tile}[data-status='ok']", timeout=20000)
        green = page.locator(tile).inner_text()
        assert all(s in green for s in ("01 号窗口", "正常", "在座", "-32.5 dBFS", "4.8 帧/秒",
                                        "服务中")), green

        page.wait_for_selector(f"{tile}[data-status='alert']", timeout=20000)
        assert "心跳中断" in page.locator(tile).inner_text()
        other = page.locator(f"[data-window='{w2['code']}']")
        assert other.get_attribute("data-status") == "offline"
        assert page.evaluate("() => window.hallPageMark") == 1
        assert violations == []
    finally:
        page.close()


def test_the_hall_is_not_for_staff(sqlite_service: LiveService) -> None:
    staff = sqlite_service.client("staff1")
    assert staff.get("/hall").status_code == 403
    assert "/hall" not in staff.get("/practice").text  # no menu entry either

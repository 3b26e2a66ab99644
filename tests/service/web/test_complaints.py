"""投诉处理 and 好差评 in a real browser: a complaint registered on the page finds the session
at its window around its time, is given a handler and answered, with its history; one past its
deadline is marked 逾期 in the list; ratings that match no session say so; the report gives
each window's 差评率 beside its incidents."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from factories.service import a_morning, center_with_windows, post_session, rating
from service.conftest import LiveService
from service.web.conftest import logged_in_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ZONE = ZoneInfo("Asia/Shanghai")


def test_a_complaint_is_registered_matched_handled_and_answered(
        browser: Browser, sqlite_service: LiveService) -> None:
    live = sqlite_service
    center, (window,), key = center_with_windows(live, "01")
    start = a_morning()
    served = post_session(live.pipeline(key), window["code"], start, "A031")
    page, violations = logged_in_page(browser, live, "supervisor")
    try:
        page.click("#nav-complaints")
        page.wait_for_url("**/complaints")
        form = page.locator("#complaint-form")
        form.locator("select[name=channel]").select_option("phone")
        form.locator("select[name=window_pk]").select_option(str(window["id"]))
        form.locator("input[name=at]").fill(
            (start + timedelta(minutes=2)).astimezone(ZONE).strftime("%Y-%m-%dT%H:%M"))
        form.locator("textarea[name=text]").fill("工作人员没听我说完就打断，态度生硬")
        page.click("#complaint-save")
        page.wait_for_selector("#complaint-saved")
        assert page.locator("#complaint-status").inner_text() == "待处理"
        # The session at its window then, linked to its page (clip, transcript, incidents).
        link = page.locator(f"#complaint-sessions tr[data-session='{served}'] a")
        assert link.get_attribute("href") == f"/sessions/{served}"
        assert "A031" in page.locator("#complaint-sessions").inner_text()
        page.screenshot(path="/tmp/p6/complaint_registered.png", full_page=True)

        page.locator("#assign-form select[name=handler_id]").select_option(
            str(live.ids["supervisor"]))
        page.click("#assign-save")
        page.wait_for_selector("#complaint-saved:has-text('已指定处理人')")
        assert page.locator("#complaint-status").inner_text() == "处理中"
        assert page.locator("#complaint-handler").inner_text() == "supervisor"

        page.locator("#reply-form textarea[name=reply]").fill("已调取录音核实，已向您致歉。")
        page.click("#reply-save")
        page.wait_for_selector("#complaint-saved:has-text('已答复')")
        assert page.locator("#complaint-status").inner_text() == "已答复"
        assert "已调取录音核实" in page.locator("#complaint-reply").inner_text()
        assert page.locator("#reply-form").count() == 0  # answered once
        history = page.locator("#complaint-history").inner_text()
        assert all(s in history for s in ("登记投诉", "指定投诉处理人", "处理人：supervisor",
                                          "答复投诉")), history
        page.screenshot(path="/tmp/p6/complaint_answered.png", full_page=True)

        # Received nine days ago by letter, registered late: past its deadline, unanswered.
        at = start - timedelta(days=8)
        late = live.client("supervisor").post("/api/v1/complaints", json={
            "window_pk": window["id"], "channel": "online", "at": at.isoformat(),
            "text": "多次来办都让我回去等通知", "deadline": (at + timedelta(days=5)).isoformat()})
        assert late.status_code == 201, late.text
        page.goto(f"{live.base_url}/complaints")
        row = page.locator(f"#complaint-list tr[data-id='{late.json()['id']}']")
        assert "overdue" in (row.get_attribute("class") or "")
        assert row.locator(".complaint-status").inner_text() == "逾期"
        page.select_option("select[name=status]", "overdue")
        page.click("form.filters button")
        page.wait_for_url("**/complaints?status=overdue")
        ids = page.locator("#complaint-list tr[data-id]").evaluate_all(
            "rows => rows.map(r => r.dataset.id)")
        assert str(late.json()["id"]) in ids and len(ids) >= 1
        page.screenshot(path="/tmp/p6/complaints_overdue.png", full_page=True)
        assert violations == []
    finally:
        page.close()


def test_ratings_and_the_reports_poor_rate(browser: Browser,
                                           sqlite_service: LiveService) -> None:
    live = sqlite_service
    center, (window,), key = center_with_windows(live, "01")
    device, start = live.pipeline(key), a_morning()
    served = post_session(device, window["code"], start, "A001")
    levels = ["very_satisfied"] * 6 + ["dissatisfied", "very_dissatisfied", "dissatisfied"]
    for i, level in enumerate(levels):  # during the session: attached to it
        assert device.post("/api/v1/ratings", json=rating(
            window["code"], start + timedelta(seconds=20 * i), level=level)).status_code == 201
    alone = rating(window["code"], start + timedelta(hours=2), level="very_dissatisfied",
                   comment="没人理我")
    assert device.post("/api/v1/ratings", json=alone).json()["session_id"] is None
    period = start.astimezone(ZONE).strftime("%Y-%m")
    page, violations = logged_in_page(browser, live, "supervisor")
    try:
        page.click("#nav-ratings")
        page.wait_for_url("**/ratings")
        page.goto(f"{live.base_url}/ratings?period={period}")
        assert page.locator(f"#rating-list tr[data-id='{alone['id']}'] .unattached"
                            ).inner_text() == "未关联服务记录"
        assert page.locator(f"#rating-list a[href='/sessions/{served}']").count() == len(levels)
        assert "非常不满意" in page.locator("#rating-list").inner_text()
        page.screenshot(path="/tmp/p6/ratings.png", full_page=True)

        page.goto(f"{live.base_url}/reports?period={period}&center_id={center['id']}")
        row = page.locator(f"#window-ranking tr[data-window='{window['code']}']")
        cells = row.locator("td").all_inner_texts()
        # 10 ratings, 4 of them 差评, no incident: 40 %, 评价与监测不一致.
        assert cells[11] == "10" and cells[12].startswith("40%"), cells
        assert "评价与监测不一致" in cells[12]
        assert "差评率 = （不满意 + 非常不满意）÷ 全部评价" in page.content()
        page.screenshot(path="/tmp/p6/report_poor_rate.png", full_page=True)
        assert violations == []
    finally:
        page.close()

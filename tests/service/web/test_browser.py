"""The workbench in a real browser (Debian's chromium, headless, driven by Playwright):
log in, open an incident, play its clip, confirm it, see it leave the queue."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from factories.service import PASSWORD, incident, post_incident, wav_bytes
from service.conftest import LiveService
from service.web.conftest import log_in, logged_in_page, watch_csp

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def test_review_an_incident_in_the_workbench(browser: Browser, sqlite_service: LiveService) -> None:
    live = sqlite_service
    window = f"wb-{uuid.uuid4().hex[:6]}"
    first = incident(window_id=window)
    # The queue is newest first: the first incident, then the second, a minute older.
    second = incident(window_id=window, offset_s=30.0, end_s=31.0,
                      at_dt=datetime.fromisoformat(first["at"]) - timedelta(minutes=1))
    for body in (first, second):
        r = post_incident(live.pipeline(), body,
                          files={"clip": ("c.wav", wav_bytes(3.0), "audio/wav")})
        assert r.status_code == 201
    page = browser.new_page()
    violations = watch_csp(page)
    try:
        queue = f"{live.base_url}/incidents?status=pending&window_id={window}"
        page.goto(queue)
        assert "/login" in page.url  # not logged in: to the login page first
        page.fill("input[name=username]", "supervisor")
        page.fill("input[name=password]", "wrong password")
        page.click("button[type=submit]")
        assert page.locator(".error").inner_text() == "用户名或密码错误"
        page.fill("input[name=username]", "supervisor")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/incidents**")
        page.goto(queue)
        rows = page.locator("#incident-list tbody tr[data-id]")
        assert rows.count() == 2
        page.click(f"tr[data-id='{first['id']}'] a")
        page.wait_for_url(f"**/incidents/{first['id']}**")
        assert page.locator("#transcript mark").inner_text() == "不只道"
        assert "不知道" in page.locator(".rule").inner_text()  # the rule's Appendix B phrase

        # The clip loads, has a duration, and plays.
        page.wait_for_function("() => { const a = document.getElementById('clip');"
                               " return a && a.readyState >= 1 && a.duration > 0; }", timeout=20000)
        duration = page.evaluate("() => document.getElementById('clip').duration")
        assert abs(duration - 3.0) < 0.1
        page.evaluate("() => document.getElementById('clip').play()")
        page.wait_for_function("() => document.getElementById('clip').currentTime > 0",
                               timeout=20000)
        assert page.evaluate("() => document.getElementById('clip').error") is None

        # Confirm with the keyboard shortcut: on to the next incident of the queue.
        page.evaluate("() => document.getElementById('clip').pause()")
        page.keyboard.press("c")
        page.wait_for_url(f"**/incidents/{second['id']}**")
        assert "上一条事件已处理" in page.content()
        # Dismiss needs a reason: the form will not submit without one.
        page.keyboard.press("d")
        page.keyboard.type("识别有误，实际说的是“不清楚的地方我帮您问”")
        page.click("#dismiss")
        page.wait_for_url("**/incidents?**")
        assert page.locator("#incident-list tbody tr[data-id]").count() == 0
        assert "已移出待审核队列" in page.content()
        page.goto(queue)
        assert page.locator("#incident-list tbody tr[data-id]").count() == 0

        api = live.client("supervisor")
        assert api.get(f"/api/v1/incidents/{first['id']}").json()["status"] == "confirmed"
        got = api.get(f"/api/v1/incidents/{second['id']}").json()
        assert got["status"] == "dismissed" and got["review_reason"].startswith("识别有误")
        assert not violations
    finally:
        page.close()


def test_staff_see_their_own_incident_and_can_appeal_it(browser: Browser,
                                                        sqlite_service: LiveService) -> None:
    live = sqlite_service
    body = incident(window_id="w-a")
    assert post_incident(live.pipeline(), body).status_code == 201
    assert live.client("supervisor").post(f"/api/v1/incidents/{body['id']}/review",
                                          json={"action": "confirm"}).status_code == 200
    page = browser.new_page()
    try:
        log_in(page, live, "staff1")
        page.goto(f"{live.base_url}/incidents/{body['id']}")
        assert page.locator("#confirm").count() == 0  # staff do not review
        page.fill("form[action$='/appeal'] input[name=reason]", "当时在复述群众的问题")
        page.click("#appeal")
        page.wait_for_url(f"**/incidents/{body['id']}**")
        assert page.locator("#status").inner_text() == "申诉中"
        other = incident(window_id="w-b")
        assert post_incident(live.pipeline(), other).status_code == 201
        response = page.goto(f"{live.base_url}/incidents/{other['id']}")
        assert response is not None and response.status == 404
    finally:
        page.close()


def test_an_admin_edits_the_rules_and_a_bad_edit_is_refused(browser: Browser,
                                                            sqlite_service: LiveService) -> None:
    live = sqlite_service
    admin = live.client("admin")
    original = admin.get("/api/v1/rules/versions/current").json()
    page = browser.new_page()
    try:
        log_in(page, live, "admin")
        page.click("#nav-rules")
        page.wait_for_url("**/rules")
        text = page.input_value("#rules-yaml")
        assert text == original["yaml"]
        first_row = page.locator("#rules-history tbody tr").first
        assert first_row.get_attribute("data-id") == str(original["id"])

        # A rule's phrase edited and saved: a new version, in force, at the top of the history.
        page.fill("#rules-yaml", text.replace("phrases: [问别人去]", "phrases: [你问别人去吧]"))
        page.fill("#rules-comment", "F1-2 用语按现场录音调整")
        page.click("#rules-save")
        page.wait_for_url(f"**/rules?saved={original['id'] + 1}")
        assert (page.locator("#rules-saved").inner_text()
                == f"已保存为第 {original['id'] + 1} 版，立即生效。查看本次改动")
        top = page.locator("#rules-history tbody tr").first
        assert top.get_attribute("data-id") == str(original["id"] + 1)
        assert "F1-2 用语按现场录音调整" in top.inner_text() and "user:admin" in top.inner_text()
        assert "phrases: [你问别人去吧]" in page.input_value("#rules-yaml")
        fetched = live.pipeline().get("/api/v1/rules/current").text
        assert "phrases: [你问别人去吧]" in fetched and "\r" not in fetched

        # A bad edit: the error names the key and its line in Chinese, the admin's text stays,
        # no version is made.
        page.fill("#rules-yaml", page.input_value("#rules-yaml").replace("min_score: 0.82",
                                                                         "min_score: 7"))
        page.click("#rules-save")
        line = page.input_value("#rules-yaml").split("\n").index("  min_score: 7") + 1
        assert (f"第 {line} 行 · 匹配设置 › 最低相似度（min_score）：应不大于 1.0"
                in page.locator("#rules-error").inner_text())
        assert "min_score: 7" in page.input_value("#rules-yaml")
        assert page.locator("#rules-history tbody tr").count() == original["id"] + 1
        assert admin.get("/api/v1/rules/versions").json()["count"] == original["id"] + 1
    finally:
        page.close()
        r = admin.post("/api/v1/rules/versions",
                       json={"yaml": original["yaml"], "comment": "测试后还原"})
        assert r.status_code == 201, r.text


def test_only_admins_see_the_rules_page(browser: Browser, sqlite_service: LiveService) -> None:
    page = browser.new_page()
    try:
        log_in(page, sqlite_service, "supervisor")
        assert page.locator("#nav-rules").count() == 0
        response = page.goto(f"{sqlite_service.base_url}/rules")
        assert response is not None and response.status == 403
    finally:
        page.close()


def test_a_critical_incident_pops_up_on_a_supervisors_workbench(
        browser: Browser, sqlite_service: LiveService) -> None:
    live = sqlite_service
    page = browser.new_page()
    try:
        log_in(page, live, "supervisor")
        assert page.locator("#alerts-toggle").is_checked()
        page.wait_for_function("() => sessionStorage.getItem('etiquette-alerts-since') !== null",
                               timeout=10000)  # the stream is open
        body = incident(rule_id="F4-1", rule_name="禁用语：你去投诉我啊", phrase="你去投诉我啊",
                        severity="critical", deduction=3.0, transcript="你去投诉我啊",
                        hit_start=0, hit_end=6)
        assert post_incident(live.pipeline(), body).status_code == 201
        toast = page.locator(f".toast a[href='/incidents/{body['id']}']")
        toast.wait_for(timeout=15000)
        assert "严重" in toast.inner_text() and "01 号窗口" in toast.inner_text()
        toast.click()
        page.wait_for_url(f"**/incidents/{body['id']}**")
        assert page.locator(f".toast a[href='/incidents/{body['id']}']").count() == 0  # shown once
        # Turned off, the next one does not show.
        page.uncheck("#alerts-toggle")
        other = {**body, "id": str(uuid.uuid4())}
        assert post_incident(live.pipeline(), other).status_code == 201
        page.wait_for_timeout(3000)
        assert page.locator(f".toast a[href='/incidents/{other['id']}']").count() == 0
    finally:
        page.evaluate("() => localStorage.removeItem('etiquette-alerts')")
        page.close()


def test_the_report_page_prints_without_the_workbench_around_it(
        browser: Browser, sqlite_service: LiveService) -> None:
    live = sqlite_service
    page, violations = logged_in_page(browser, live, "auditor")
    try:
        page.click("#nav-reports")
        page.wait_for_url("**/reports**")
        assert page.locator("#window-ranking").is_visible()
        assert page.locator("#chart-ranking").is_visible()
        assert page.locator("header.top").is_visible() and page.locator("#report-form").is_visible()
        page.emulate_media(media="print")
        assert not page.locator("header.top").is_visible()
        assert not page.locator("#report-form").is_visible()
        assert page.locator("#window-ranking").is_visible()
        assert page.pdf(format="A4")[:4] == b"%PDF"
        # The print button's handler comes from workbench.js (the CSP refuses an onclick).
        printed = page.evaluate("() => { let n = 0; window.print = () => { n += 1; };"
                                " document.getElementById('print-report').click(); return n; }")
        assert printed == 1
        assert not violations
    finally:
        page.close()


def test_the_content_security_policy_stops_an_injected_script(
        browser: Browser, sqlite_service: LiveService) -> None:
    """Were markup ever to slip past the template escaping, an inline script in it would not
    run, and no other site may frame the workbench."""
    page, violations = logged_in_page(browser, sqlite_service, "supervisor")
    try:
        ran = page.evaluate("""() => {
            window.injected = false;
            const div = document.createElement('div');
            div.innerHTML = '<img src=x onerror="window.injected = true">';
            document.body.appendChild(div);
            const s = document.createElement('script');
            s.textContent = 'window.injected = true';
            document.body.appendChild(s);
            return new Promise(done => setTimeout(() => done(window.injected), 500));
        }""")
        assert ran is False
        assert violations  # each refused, and reported
        framed = browser.new_page()
        try:
            framed.set_content(f'<iframe id="f" src="{sqlite_service.base_url}/login"></iframe>')
            framed.wait_for_timeout(1000)
            frame = framed.frame_locator("#f")
            assert frame.locator("input[name=username]").count() == 0  # refused to be framed
        finally:
            framed.close()
    finally:
        page.close()

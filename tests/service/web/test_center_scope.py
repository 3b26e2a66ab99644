"""用户管理 limits a supervisor to a center, who then sees only its incidents; error pages in
Chinese only; 接入密钥 shows when a key was last used."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx

from factories.service import center_with_windows, incident, post_incident
from service.conftest import LiveService
from service.web.conftest import log_in, logged_in_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser

STRONG = "竹林深处-Lantern-4821"


def test_an_admin_limits_a_supervisor_to_a_center(browser: Browser,
                                                  sqlite_service: LiveService) -> None:
    live = sqlite_service
    (a, (wa,), key_a), (_, (wb,), key_b) = (center_with_windows(live, "01"),
                                            center_with_windows(live, "01"))
    tag = uuid.uuid4().hex[:6]
    mine, other = (incident(window_id=wa["code"], transcript=f"限定{tag}不知道"),
                   incident(window_id=wb["code"], transcript=f"限定{tag}不知道"))
    assert post_incident(live.pipeline(key_a), mine).status_code == 201
    assert post_incident(live.pipeline(key_b), other).status_code == 201
    name = f"c{tag}"
    page, violations = logged_in_page(browser, live, "admin")
    try:
        page.goto(f"{live.base_url}/users")
        page.fill("#user-form input[name=username]", name)
        page.select_option("#user-form select[name=role]", "admin")
        page.select_option("#user-form select[name=center_ids]", [str(a["id"])])
        page.fill("#user-form input[name=password]", STRONG)
        page.click("#user-save")
        # An admin is never limited: said beside the centers, what was chosen kept.
        assert "只有监督员和审计员可以限定中心" in page.locator("#error-center_ids").inner_text()
        assert page.eval_on_selector("#user-form select[name=center_ids]",
                                     "s => [...s.selectedOptions].map(o => o.value)") == [
            str(a["id"])]
        page.select_option("#user-form select[name=role]", "supervisor")
        page.fill("#user-form input[name=password]", STRONG)
        page.click("#user-save")
        assert f"已创建用户「{name}」" in page.locator("#user-created").inner_text()
        row = page.locator(f"#user-list tr[data-username='{name}']")
        assert row.locator(".user-centers").inner_text() == a["name"]
        page.screenshot(path="/tmp/center-scope-users.png", full_page=True)

        supervisor = browser.new_page()
        log_in(supervisor, live, name, STRONG)
        supervisor.goto(f"{live.base_url}/incidents?q=限定{tag}")
        assert supervisor.locator("#incident-list tbody tr[data-id]").evaluate_all(
            "rows => rows.map(r => r.dataset.id)") == [mine["id"]]
        # The center filter offers only their center.
        assert supervisor.locator("select[name=center_id] option[value]:not([value=''])"
                                  ).all_inner_texts() == [a["name"]]
        # Another center's incident does not exist for them; the page says so in Chinese only.
        answer = supervisor.goto(f"{live.base_url}/incidents/{other['id']}")
        assert answer is not None and answer.status == 404
        text = supervisor.locator(".error-page").inner_text()
        assert "事件不存在" in text and "(" not in text and "incident" not in text
        supervisor.screenshot(path="/tmp/center-scope-404.png", full_page=True)

        # Lifted on the user's page: every center from the next request on.
        page.click(f"#user-list tr[data-username='{name}'] a")
        page.select_option("#user-edit select[name=center_ids]", [])
        page.click("#user-edit button[type=submit]")
        assert "已保存" in page.locator("#user-saved").inner_text()
        supervisor.goto(f"{live.base_url}/incidents?q=限定{tag}")
        assert supervisor.locator("#incident-list tbody tr[data-id]").count() == 2
        supervisor.close()
        assert not violations
    finally:
        page.close()


def test_error_pages_show_only_the_chinese(sqlite_service: LiveService) -> None:
    live = sqlite_service
    forbidden = live.client("staff1").get("/users")
    assert forbidden.status_code == 403
    assert "无权执行此操作" in forbidden.text and "forbidden" not in forbidden.text
    missing = live.client("supervisor").get("/no-such-page")
    assert missing.status_code == 404
    assert "页面或记录不存在" in missing.text and "Not Found" not in missing.text
    # The API keeps both.
    assert live.client("staff1").get("/api/v1/users").json() == {
        "detail": "无权执行此操作 (forbidden)"}


def test_the_keys_page_shows_when_each_key_was_last_used(sqlite_service: LiveService) -> None:
    live = sqlite_service
    admin = live.client("admin")
    name = f"used-{uuid.uuid4().hex[:6]}"
    created = admin.post("/api/v1/api-keys", json={"name": name}).json()

    def shown() -> str:
        text = admin.get("/api-keys").text
        row = text[text.index(f'data-name="{name}"'):]
        return row[row.index('class="key-used">') + 17:row.index("</td>", row.index("key-used"))]

    assert shown() == "从未使用"
    assert httpx.get(f"{live.base_url}/api/v1/rules/current",
                     headers={"X-API-Key": created["key"]}).status_code == 200
    used = next(k for k in admin.get("/api/v1/api-keys", params={"limit": 500}).json()["data"]
                if k["id"] == created["id"])["last_used_at"]
    zone = ZoneInfo(live.settings.display_timezone)
    assert shown() == datetime.fromisoformat(used).astimezone(zone).strftime("%Y-%m-%d %H:%M")

"""The admin pages (用户管理, 基础数据, 接入密钥, 表扬记录): each for the roles the API allows,
read-only where the API lets a role only read, and their main flows in a real browser; error
pages that keep the menu."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import httpx

from factories.service import incident, post_incident
from service.conftest import LiveService
from service.web.conftest import log_in, logged_in_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# page → (the roles that may open it, the roles that may also change what it shows)
PAGES = {
    "/users": ({"admin", "auditor"}, {"admin"}),
    "/master": ({"admin", "supervisor", "auditor"}, {"admin"}),
    "/api-keys": ({"admin", "auditor"}, {"admin"}),
    "/commendations": ({"admin", "supervisor", "auditor"}, {"admin", "supervisor"}),
}
FORMS = {"/users": "user-form", "/master": "staff-form", "/api-keys": "key-form",
         "/commendations": "commendation-form"}


def uniq() -> str:
    return uuid.uuid4().hex[:6]


def test_each_admin_page_opens_for_the_roles_the_api_allows(sqlite_service: LiveService) -> None:
    live = sqlite_service
    for path, (readers, writers) in PAGES.items():
        assert httpx.get(f"{live.base_url}{path}").status_code == 303  # to the login page
        for who in ("admin", "supervisor", "auditor", "staff1"):
            page = live.client(who).get(path)
            if who not in readers:
                assert page.status_code == 403, (path, who)
                assert "无权执行此操作" in page.text
                assert "退出" in page.text, "the 403 page keeps the logged-in user's menu"
                continue
            assert page.status_code == 200, (path, who, page.text[:300])
            has_form = f'id="{FORMS[path]}"' in page.text
            assert has_form == (who in writers), (path, who)


def test_the_menu_links_only_the_admin_pages_a_role_may_open(sqlite_service: LiveService) -> None:
    for who, links in (("admin", {"/commendations", "/master", "/users", "/api-keys"}),
                       ("supervisor", {"/commendations", "/master"}),
                       ("auditor", {"/commendations", "/master", "/users", "/api-keys"}),
                       ("staff1", set())):
        text = sqlite_service.client(who).get("/commendations").text  # 403 for staff: its menu
        assert {p for p in PAGES if f'href="{p}"' in text} == links, who


def test_error_pages_keep_the_menu_of_whoever_is_logged_in(sqlite_service: LiveService) -> None:
    live = sqlite_service
    missing = live.client("supervisor").get("/no-such-page")
    assert missing.status_code == 404
    assert 'href="/incidents?status=pending">待审核' in missing.text and "退出" in missing.text
    anonymous = httpx.get(f"{live.base_url}/no-such-page")
    assert anonymous.status_code == 404 and "退出" not in anonymous.text
    stale = httpx.get(f"{live.base_url}/no-such-page", cookies={"etiquette_session": "x" * 500})
    assert stale.status_code == 404 and "退出" not in stale.text  # a bad session: no menu


def test_create_a_user_who_then_logs_in_and_disable_them(browser: Browser,
                                                         sqlite_service: LiveService) -> None:
    live = sqlite_service
    name = f"u{uniq()}"
    page, violations = logged_in_page(browser, live, "admin")
    try:
        page.click("#nav-admin summary")
        page.click("#nav-users")
        page.wait_for_url("**/users")
        page.fill("#user-form input[name=username]", name)
        page.fill("#user-form input[name=display_name]", "赵敏")
        page.select_option("#user-form select[name=role]", "supervisor")
        page.fill("#user-form input[name=password]", "password1234")
        page.click("#user-save")
        # The password policy's reason, in Chinese, beside the password; what was typed stays.
        assert "密码太容易被猜到" in page.locator("#error-password").inner_text()
        assert page.input_value("#user-form input[name=username]") == name
        page.fill("#user-form input[name=password]", "")  # generated, shown once
        page.click("#user-save")
        assert f"已创建用户「{name}」" in page.locator("#user-created").inner_text()
        password = page.locator("#user-password").inner_text()
        assert page.locator(f"#user-list tr[data-username='{name}']").count() == 1

        other = browser.new_page()
        log_in(other, live, name, password)
        assert "赵敏（监督员）" in other.locator(".who").inner_text()

        page.click(f"#user-list tr[data-username='{name}'] a")
        page.once("dialog", lambda d: d.accept())
        page.click("#user-active button")
        assert "账号已停用" in page.locator("#user-saved").inner_text()
        other.reload()
        assert "/login" in other.url  # logged out at once
        other.close()
        assert not violations
    finally:
        page.close()


def test_add_a_window_and_a_staff_member_seated_at_it(browser: Browser,
                                                      sqlite_service: LiveService) -> None:
    live = sqlite_service
    tag = uniq()
    page, violations = logged_in_page(browser, live, "admin")
    try:
        page.goto(f"{live.base_url}/master")
        page.fill("#center-form input[name=code]", f"c-{tag}")
        page.fill("#center-form input[name=name]", f"测试中心{tag}")
        page.click("#center-form button")
        assert "已保存服务中心" in page.locator("#master-saved").inner_text()
        page.select_option("#window-form select[name=center_id]", label=f"测试中心{tag}")
        page.fill("#window-form input[name=code]", f"w-{tag}")
        page.fill("#window-form input[name=number]", "08")
        page.fill("#window-form input[name=department]", "公安局")
        page.click("#window-form button")
        assert "已保存窗口" in page.locator("#master-saved").inner_text()
        window_row = page.locator(f"#window-list tr[data-code='w-{tag}']")
        assert "公安局" in window_row.inner_text()

        page.fill("#staff-form input[name=employee_no]", f"E{tag}")
        page.fill("#staff-form input[name=name]", "孙丽")
        page.select_option("#staff-form select[name=window_pk]",
                           label=f"测试中心{tag} 08 号窗口（w-{tag}）")
        page.click("#staff-form button")
        staff_row = page.locator(f"#staff-list tr[data-employee-no='E{tag}']")
        assert f"测试中心{tag} 08 号窗口" in staff_row.inner_text()
        assert "孙丽" in page.locator(f"#window-list tr[data-code='w-{tag}']").inner_text()

        # The same 工号 again: refused beside the field, in Chinese.
        page.fill("#staff-form input[name=employee_no]", f"E{tag}")
        page.fill("#staff-form input[name=name]", "孙丽")
        page.click("#staff-form button")
        assert "工号已被使用" in page.locator("#error-employee_no").inner_text()
        assert not violations
    finally:
        page.close()


def test_a_key_is_shown_once_and_refused_once_revoked(browser: Browser,
                                                      sqlite_service: LiveService) -> None:
    live = sqlite_service
    name = f"现场{uniq()}"
    page, violations = logged_in_page(browser, live, "admin")
    try:
        page.goto(f"{live.base_url}/api-keys")
        page.fill("#key-form input[name=name]", name)
        page.click("#key-save")
        assert "唯一一次显示完整密钥" in page.locator("#key-created").inner_text()
        key = page.locator("#key-secret").inner_text()
        assert key.startswith("etq_")
        body = incident(window_id=f"k-{uniq()}")
        assert post_incident(live.pipeline(key), body).status_code == 201

        page.goto(f"{live.base_url}/api-keys")
        assert key not in page.content()  # never again
        row = page.locator(f"#key-list tr[data-name='{name}']")
        assert "有效" in row.inner_text()
        page.once("dialog", lambda d: d.accept())
        row.locator("button").click()
        page.wait_for_url("**/api-keys?revoked=true")
        assert "已吊销" in page.locator(f"#key-list tr[data-name='{name}']").inner_text()
        refused = post_incident(live.pipeline(key), incident(window_id=body["window_id"]))
        assert refused.status_code == 401
        assert not violations
    finally:
        page.close()


def test_a_supervisor_records_a_commendation(browser: Browser,
                                            sqlite_service: LiveService) -> None:
    live = sqlite_service
    admin = live.client("admin")
    tag = uniq()
    center = admin.post("/api/v1/centers", json={"code": f"cc-{tag}", "name": f"表扬中心{tag}"})
    window = admin.post("/api/v1/windows", json={"center_id": center.json()["id"],
                                                  "code": f"cw-{tag}", "number": "09"})
    assert window.status_code == 201, window.text
    zone = ZoneInfo(live.settings.display_timezone)
    page, violations = logged_in_page(browser, live, "supervisor")
    try:
        page.click("#nav-commendations")
        page.wait_for_url("**/commendations")
        page.select_option("#commendation-form select[name=window_pk]",
                           label=f"表扬中心{tag} 09 号窗口")
        future = datetime.now(zone) + timedelta(days=3)
        page.fill("#commendation-form input[name=at]", future.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#commendation-form input[name=reason]", "群众来电表扬耐心解答")
        page.click("#commendation-save")
        assert "不晚于明天" in page.locator("#error-at").inner_text()
        at = datetime.now(zone) - timedelta(hours=1)
        page.fill("#commendation-form input[name=at]", at.strftime("%Y-%m-%dT%H:%M"))
        page.click("#commendation-save")
        page.wait_for_url("**saved=added")
        assert "已记录表扬" in page.locator("#commendation-saved").inner_text()
        row = page.locator("#commendation-list tr", has_text=f"表扬中心{tag}")
        assert "群众来电表扬耐心解答" in row.inner_text()
        assert at.strftime("%Y-%m-%d %H:%M") in row.inner_text()  # the display zone's time
        assert not violations
    finally:
        page.close()


def test_import_master_data_and_move_a_staff_member_between_windows(
        sqlite_service: LiveService) -> None:
    live = sqlite_service
    admin = live.client("admin")
    tag = uniq()
    yaml = (f"centers:\n  - code: i-{tag}\n    name: 导入中心{tag}\n    windows:\n"
            f"      - {{code: iw1-{tag}, number: '1'}}\n      - {{code: iw2-{tag}, number: '2'}}\n"
            f"staff:\n  - {{employee_no: I{tag}, name: 周杰, center: i-{tag}}}\n")
    imported = admin.post("/master/import", data={"csrf_token": admin.csrf},
                          files={"file": ("m.yaml", yaml.encode(), "text/yaml")})
    assert imported.status_code == 200, imported.text[:300]
    assert "新增或更新服务中心 1 个、窗口 2 个、工作人员 1 名" in imported.text
    bad = admin.post("/master/import", data={"csrf_token": admin.csrf},
                     files={"file": ("m.yaml", b"centers: [", "text/yaml")})
    assert bad.status_code == 422 and "不是有效的 YAML 文件" in bad.text

    staff_id = next(s["id"] for s in admin.get("/api/v1/staff", params={"limit": 500}).json()[
        "data"] if s["employee_no"] == f"I{tag}")
    windows = {w["code"]: w["id"]
               for w in admin.get("/api/v1/windows", params={"limit": 500}).json()["data"]}
    form = {"csrf_token": admin.csrf, "employee_no": f"I{tag}", "name": "周杰", "active": "1"}
    for code in (f"iw1-{tag}", f"iw2-{tag}"):
        moved = admin.post(f"/master/staff/{staff_id}", data={**form, "window_pk": windows[code]})
        assert moved.status_code == 303, moved.text[:300]
    # A window someone else staffs (王芳 at w-a) refuses, and the person stays where they are.
    taken = admin.post(f"/master/staff/{staff_id}", data={**form, "window_pk": windows["w-a"]})
    assert taken.status_code == 409 and "已有其他工作人员在岗" in taken.text
    mine = sorted((a for a in admin.get("/api/v1/assignments", params={"limit": 500}).json()[
        "data"] if a["staff_id"] == staff_id), key=lambda a: a["id"])
    assert [(a["window_pk"], a["end_at"] is None) for a in mine] == [
        (windows[f"iw1-{tag}"], False), (windows[f"iw2-{tag}"], True)]


def test_a_typed_password_is_held_to_the_policy(sqlite_service: LiveService) -> None:
    admin = sqlite_service.client("admin")
    weak = admin.post(f"/users/{sqlite_service.ids['staff2']}/password",
                      data={"csrf_token": admin.csrf, "password": "password1234"})
    assert weak.status_code == 422 and "密码太容易被猜到" in weak.text
    assert 'id="error-password"' in weak.text
    assert sqlite_service.client("staff2").get("/api/v1/auth/me").status_code == 200

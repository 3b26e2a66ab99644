"""The rule editor in the browser: a rule's phrase changed in its form is a new version in the
history; the change shown between two versions; a bad value refused beside its field; the
scoring scheme's versions compared and its errors in Chinese. The service is shared by the
whole suite: the rules and the scheme are saved back as they were at the end."""

from __future__ import annotations

from playwright.sync_api import Browser

from service.conftest import LiveService
from service.web.conftest import logged_in_page


def test_an_admin_edits_a_rule_in_its_form_and_sees_the_change(
        browser: Browser, sqlite_service: LiveService) -> None:
    live = sqlite_service
    admin = live.client("admin")
    original = admin.get("/api/v1/rules/versions/current").json()
    page, csp = logged_in_page(browser, live, "admin")
    try:
        page.goto(f"{live.base_url}/rules")
        row = page.locator("#rules-list tr[data-rule='F1-2']")
        assert "禁用语：问别人去" in row.inner_text() and "第1类 推诿搪塞" in row.inner_text()
        row.get_by_role("link", name="修改").click()
        page.wait_for_url("**/rules/rule/F1-2")
        assert page.input_value("#field-phrases") == "问别人去"
        assert page.locator("#field-staff_alone").count() == 0  # a forbidden rule's form
        assert page.locator("#rule-parts").inner_text().startswith("分段说出也算")

        # A bad value: refused beside its field, in Chinese; what was typed stays; nothing saved.
        page.fill("#field-min_score", "很高")
        page.fill("#field-deduction", "-2")
        page.click("#rule-save")
        assert page.locator("#error-min_score").inner_text() == "应为数字"
        assert page.locator("#error-deduction").inner_text() == "应不小于 0.0"
        assert ("禁用语 F1-2「禁用语：问别人去」 › 最低相似度（min_score）：应为数字"
                in page.locator("#rule-error").inner_text())
        assert page.input_value("#field-min_score") == "很高"
        assert admin.get("/api/v1/rules/versions").json()["count"] == original["id"]

        # The phrase changed: a new version at the top of the history, in force at once.
        page.fill("#field-min_score", "")
        page.fill("#field-deduction", "")
        page.fill("#field-phrases", "问别人去吧")
        page.fill("#rule-comment", "F1-2 按现场录音调整")
        page.click("#rule-save")
        saved = original["id"] + 1
        page.wait_for_url(f"**/rules?saved={saved}")
        top = page.locator("#rules-history tbody tr").first
        assert top.get_attribute("data-id") == str(saved)
        assert "F1-2 按现场录音调整" in top.inner_text()
        assert "问别人去吧" in page.locator("#rules-list tr[data-rule='F1-2']").inner_text()
        assert "phrases: [问别人去吧]" in live.pipeline().get("/api/v1/rules/current").text

        # A greeting's words the staff say alone, one a line, and its two parts shown.
        page.goto(f"{live.base_url}/rules/rule/R-greeting")
        assert "你好" in page.input_value("#field-staff_alone").split("\n")
        assert "先后说出：① 您好、你好" in page.locator("#rule-parts").inner_text()
        page.go_back()

        # The change between the two versions, side by side, the changed characters marked.
        page.click("#rules-saved-diff")
        page.wait_for_url(f"**/rules/diff?to={saved}")
        assert f"旧：第 {original['id']} 版" in page.locator("#diff-old").inner_text()
        new_heading = page.locator("#diff-new").inner_text()
        assert f"新：第 {saved} 版" in new_heading and "user:admin" in new_heading
        assert "F1-2 按现场录音调整" in new_heading
        changed = page.locator("#version-diff tr.replace")
        assert changed.count() == 1
        assert "phrases: [问别人去]" in changed.locator("td.code").nth(0).inner_text()
        assert changed.locator("td.code").nth(1).locator("mark").inner_text() == "吧"
        page.screenshot(path="/tmp/rules_diff.png", full_page=True)
        assert csp == []
    finally:
        page.close()
        r = admin.post("/api/v1/rules/versions",
                       json={"yaml": original["yaml"], "comment": "测试后还原"})
        assert r.status_code == 201, r.text


def test_the_scoring_schemes_versions_compared_and_its_errors_in_chinese(
        browser: Browser, sqlite_service: LiveService) -> None:
    live = sqlite_service
    admin = live.client("admin")
    page, csp = logged_in_page(browser, live, "admin")
    try:
        page.goto(f"{live.base_url}/scoring")
        text = page.input_value("#scoring-yaml")
        count = admin.get("/api/v1/scoring/versions").json()["count"]
        page.fill("#scoring-yaml", text.replace("  top_n: 3", "  top_n: 三"))
        page.click("#scoring-save")
        line = text.split("\n").index("  top_n: 3") + 1
        assert (f"第 {line} 行 · 红旗窗口评选 › 名额（top_n）：应为整数"
                in page.locator("#scoring-error").inner_text())
        assert admin.get("/api/v1/scoring/versions").json()["count"] == count

        # A comment added (the scheme scores the same): the diff shows the line it added.
        page.fill("#scoring-yaml", text + "\n# 浏览器测试：对比版本\n")
        page.click("#scoring-save")
        page.wait_for_url("**/scoring?saved=*")
        page.get_by_role("link", name="查看本次改动").click()
        page.wait_for_url("**/scoring/diff?to=*")
        inserted = page.locator("#version-diff tr.insert").last.locator("td.code").nth(1)
        assert inserted.inner_text() == "# 浏览器测试：对比版本"
        assert page.locator("#diff-new").inner_text().startswith(f"新：第 {count + 1} 版")
        page.screenshot(path="/tmp/scoring_diff.png", full_page=True)
        assert csp == []
    finally:
        page.close()

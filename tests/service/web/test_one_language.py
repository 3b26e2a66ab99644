"""What people read is in the center's time zone (Asia/Shanghai) and in Chinese: the CSV
export, the audit log, an incident's 处理记录 and title, each kind's page, and the toast."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from factories.service import incident, jpeg_bytes, make_incident, post_incident
from service.conftest import LiveService
from service.web.conftest import log_in, watch_csp

if TYPE_CHECKING:
    from playwright.sync_api import Browser

TAG = re.compile(r"<[^>]+>")
CODES = ("pending", "confirmed", "dismissed", "forbidden_phrase", "off_post", "major",
         "incident.", "{'", '{"')


def visible_text(html: str) -> str:
    """A page's text as a reader sees it (codes may stay in attributes, not in the text)."""
    body = html.split("<main>", 1)[-1].split("</main>", 1)[0]
    return TAG.sub(" ", body)


def test_the_csv_export_and_its_dates_are_in_the_centers_time_and_in_chinese(
        sqlite_service: LiveService) -> None:
    live = sqlite_service
    body = incident(at_dt=datetime(2024, 2, 29, 18, 30, 5, tzinfo=UTC))  # 03-01 02:30 there
    assert post_incident(live.pipeline(), body).status_code == 201
    supervisor = live.client("supervisor")
    assert supervisor.post(f"/api/v1/incidents/{body['id']}/review",
                           json={"action": "dismiss", "reason": "转述群众原话"}).status_code == 200

    # Its day is the center's: 03-01 there, though 02-29 in UTC.
    r = supervisor.get("/api/v1/incidents/export.csv",
                       params={"date_from": "2024-03-01", "date_to": "2024-03-01"})
    assert r.status_code == 200
    assert body["id"] not in supervisor.get("/api/v1/incidents/export.csv", params={
        "date_from": "2024-02-29", "date_to": "2024-02-29"}).text
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    header, row = rows[0], next(x for x in rows[1:] if x[0] == body["id"])
    got = dict(zip(header, row, strict=True))
    assert got["时间（Asia/Shanghai）"] == "2024-03-01 02:30:05"
    assert (got["类型"], got["严重程度"], got["状态"]) == ("禁用语", "较重", "已驳回")
    assert not set(row) & {"forbidden_phrase", "major", "dismissed", "pending"}


def test_the_audit_log_and_the_history_read_as_sentences(sqlite_service: LiveService) -> None:
    live = sqlite_service
    body = incident()
    assert post_incident(live.pipeline(), body).status_code == 201
    supervisor = live.client("supervisor")
    iid = body["id"]
    assert supervisor.post(f"/api/v1/incidents/{iid}/review",
                           json={"action": "dismiss", "reason": "群众在转述"}).status_code == 200
    assert supervisor.post(f"/api/v1/incidents/{iid}/review",
                           json={"action": "reopen", "reason": "需复核录音"}).status_code == 200

    audit = live.client("auditor").get("/audit", params={"action": "incident.dismiss"})
    assert audit.status_code == 200
    text = visible_text(audit.text)
    assert "驳回" in text and "审核意见：群众在转述" in text and f"事件 {iid}" in text
    assert not [c for c in CODES if c in text], text[:2000]

    page = supervisor.get(f"/incidents/{iid}")
    history = page.text.split('id="history"', 1)[1].split("</ol>", 1)[0]
    lines = [re.sub(r"\s+", " ", TAG.sub("", li)).strip() for li in history.split("<li>")[1:]]
    when = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}"
    assert any(re.fullmatch(f"{when} supervisor 驳回：审核意见：群众在转述", x)
               for x in lines), lines
    assert any(re.fullmatch(f"{when} supervisor 重新审核：审核意见：群众在转述 → 需复核录音", x)
               for x in lines), lines
    # the pipeline by its key's name (the schema run may have replaced the seeded key)
    assert any(re.fullmatch(f"{when} 流水线 \\S+ 接收事件：证据：录音片段", x)
               for x in lines), lines
    assert not [c for c in CODES if c in " ".join(lines)], lines


def test_the_audit_log_names_staff_centers_windows_and_users(
        sqlite_service: LiveService) -> None:
    """Master data and users the entries hold by id are shown by name (a staff member with
    their 工号), in the changes and as the entry's object."""
    live = sqlite_service
    admin, tag = live.client("admin"), uuid.uuid4().hex[:6]
    center = admin.post("/api/v1/centers", json={"code": f"a{tag}", "name": f"审计中心{tag}"})
    assert center.status_code == 201, center.text
    cid = center.json()["id"]
    window = admin.post("/api/v1/windows", json={"center_id": cid, "code": f"a{tag}-1",
                                                 "number": "07", "department": "公安局"})
    staff = admin.post("/api/v1/staff", json={"employee_no": f"A{tag}", "name": f"审计员工{tag}",
                                              "center_id": cid})
    assert window.status_code == 201 and staff.status_code == 201, (window.text, staff.text)
    wid, sid = window.json()["id"], staff.json()["id"]
    assigned = admin.post("/api/v1/assignments", json={
        "staff_id": sid, "window_pk": wid, "start_at": "2024-01-01T00:00:00Z"})
    assert assigned.status_code == 201, assigned.text
    user = admin.post("/api/v1/users", json={
        "username": f"u{tag}", "display_name": f"审计账号{tag}", "password": f"Pw-{tag}-long-9x",
        "role": "staff", "staff_id": sid})
    assert user.status_code == 201, user.text
    assert admin.patch(f"/api/v1/users/{user.json()['id']}",
                       json={"active": False}).status_code == 200

    def rows(action: str) -> list[str]:
        page = live.client("auditor").get("/audit", params={"action": action})
        assert page.status_code == 200
        table = page.text.split('id="audit-log"', 1)[1].split("</table>", 1)[0]
        return [re.sub(r"\s+", " ", TAG.sub(" ", tr)).strip() for tr in table.split("<tr>")[2:]]

    line = next(r for r in rows("assignment.create") if f"审计员工{tag}" in r)
    assert f"工作人员：审计员工{tag}（A{tag}）" in line
    assert f"窗口：审计中心{tag} 07 号窗口" in line
    line = next(r for r in rows("window.create") if f"审计中心{tag}" in r)
    assert f"审计中心{tag} 07 号窗口" in line and f"中心：审计中心{tag}" in line
    line = next(r for r in rows("staff.create") if f"A{tag}" in r)
    assert f"工作人员 审计员工{tag}（A{tag}）" in line and f"中心：审计中心{tag}" in line
    line = next(r for r in rows("user.create") if f"u{tag}" in r)
    assert f"工作人员：审计员工{tag}（A{tag}）" in line
    line = next(r for r in rows("user.update") if f"审计账号{tag}" in r)
    assert f"用户 审计账号{tag}" in line and "启用：是 → 否" in line
    for action in ("assignment.create", "window.create", "staff.create", "user.create"):
        for r in (r for r in rows(action) if tag in r):  # this test's (others may name a center 0)
            # an id where a name belongs (工作人员：2, 用户 3); a window's own number is a name
            # (南昌市政务服务中心 01 号窗口)
            assert not re.search(r"(工作人员|中心|窗口|用户)[：\s]\d+\b(?! 号窗口)", r), r


def test_each_kind_shows_its_own_facts_under_a_title_without_repetition(
        sqlite_service: LiveService) -> None:
    live = sqlite_service
    phrase = incident()  # rule 「禁用语：不知道」
    absence = incident(kind="off_post", rule_id="P-off-post", rule_name="离岗", phrase=None,
                       transcript="", window_id="w-b", offset_s=600.0, end_s=1800.0,
                       at_dt=datetime(2024, 3, 4, 1, 10, tzinfo=UTC),
                       explanation="座位自 09:10:00 起无人，09:30:00 返回")
    assert post_incident(live.pipeline(), phrase).status_code == 201
    assert post_incident(live.pipeline(), absence, files={
        "empty_seat": ("s.jpg", jpeg_bytes(90), "image/jpeg")}).status_code == 201
    supervisor = live.client("supervisor")

    spoken = supervisor.get(f"/incidents/{phrase['id']}").text
    assert "<title>禁用语：不知道 ·" in spoken and "禁用语：禁用语" not in spoken
    assert "转写文本" in spoken and "<mark>不只道</mark>" in spoken and "相似度" in spoken
    assert "录音位置" in spoken

    seat = supervisor.get(f"/incidents/{absence['id']}").text
    assert "<title>离岗 ·" in seat and "离岗：离岗" not in seat
    assert "离座时段" in seat and "09:10:00–09:30:00，共 20 分" in seat  # in Asia/Shanghai
    assert "座位自 09:10:00 起无人" in seat and "空座画面" in seat
    for meaningless in ("转写文本", "相似度", "录音位置", "说话人", "去练习"):
        assert meaningless not in seat, meaningless

    appealed = make_incident(live, status="appealed")
    inbox = supervisor.get("/appeals").text
    assert f"/incidents/{appealed}" in inbox and "禁用语：不知道" in inbox
    assert "禁用语：禁用语" not in inbox and "禁用语 · 禁用语" not in inbox


def test_the_toast_tells_the_time_in_the_centers_zone(browser: Browser,
                                                      sqlite_service: LiveService) -> None:
    live = sqlite_service
    # The browser's own zone is another one: the toast must not use it.
    context = browser.new_context(timezone_id="America/New_York")
    page = context.new_page()
    violations = watch_csp(page)
    try:
        log_in(page, live, "supervisor")
        page.wait_for_function("() => sessionStorage.getItem('etiquette-alerts-since') !== null",
                               timeout=10000)  # the stream is open
        body = incident(rule_id="F4-1", rule_name="禁用语：你去投诉我啊", phrase="你去投诉我啊",
                        severity="critical", deduction=3.0, transcript="你去投诉我啊",
                        hit_start=0, hit_end=6, id=str(uuid.uuid4()),
                        at_dt=datetime(2024, 3, 5, 2, 3, 4, tzinfo=UTC))
        assert post_incident(live.pipeline(), body).status_code == 201
        toast = page.locator(".toast", has=page.locator(f"a[href='/incidents/{body['id']}']"))
        toast.wait_for(timeout=15000)
        assert "禁用语：你去投诉我啊（10:03:04）" in toast.inner_text()
        assert "禁用语：禁用语" not in toast.inner_text()
        page.screenshot(path="/tmp/p5-toast.png")
        assert violations == []
    finally:
        context.close()

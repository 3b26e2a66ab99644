"""Monthly scoring in the service: a constructed month scored by hand, over HTTP, on SQLite
and PostgreSQL; the scheme kept as versions with the month each takes effect from, so that a
scheme change never rescores a month already over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from etiquette.core.scoring import DEFAULT_SCHEME
from etiquette.service.models import AuditEntry

from factories.report_data import OFF_POST, ScoredCenter, add, march_2025, report, scores
from service.conftest import LiveService


@pytest.fixture(scope="module")
def march(service: LiveService) -> ScoredCenter:
    return march_2025(service)


@pytest.fixture
def restore_scheme(api: LiveService) -> Iterator[str]:
    """The scheme in force before the test, saved again (for this month on) after it."""
    admin = api.client("admin")
    before = admin.get("/api/v1/scoring/in-force").json()["yaml"]
    yield before
    if admin.get("/api/v1/scoring/in-force").json()["yaml"] != before:
        r = admin.post("/api/v1/scoring/versions", json={"yaml": before, "comment": "测试后还原"})
        assert r.status_code == 201, r.text


def test_a_constructed_month_scored_by_hand(api: LiveService, march: ScoredCenter) -> None:
    rep = report(api, march)
    assert rep["period"] == "2025-03" and rep["label"] == "2025年3月"
    assert rep["previous_period"] == "2025-02"
    # A: F1-1 2 + 2 + 3 (the 3rd ×1.5), off_post 3; pending and dismissed do not count.
    assert scores(rep) == {"市场监督管理局": 90, "人社局": 97, "公安局": 100, "税务局": 98}
    by_dept = {w["department"]: w for w in rep["windows"]}
    a, b, c, d = (by_dept[x] for x in ("市场监督管理局", "人社局", "公安局", "税务局"))
    assert (a["counted"], a["deducted"]) == (4, 10)
    assert [w["rank"] for w in rep["windows"]] == [1, 2, 3, 4]
    assert [w["number"] for w in rep["windows"]] == ["03", "04", "02", "01"]
    # Against February: A lost one F1-1 there (98); the others were untouched (100).
    assert (a["previous_score"], a["change"]) == (98, -8)
    assert (c["previous_score"], c["change"]) == (100, 0)
    # Red flags: at least 95 and no critical incident, top 3: C and D; B's critical bars it.
    assert [w["number"] for w in rep["red_flags"]] == ["03", "04"]
    assert b["red_flag"] is False and b["disqualified_by"] == "critical"
    assert "得分不低于 95 分" in rep["red_flag_rule"] and "前 3 名" in rep["red_flag_rule"]
    # Staff are scored as their windows here (each staffed one window all month).
    assert [(s["name"], s["score"], s["rank"]) for s in rep["staff"]] == [
        ("孙浩然", 100, 1), ("李雨桐", 98, 2), ("钱思琪", 97, 3), ("赵明远", 90, 4)]
    # Counts: the month in local time (4/1 00:30 is April; 3/31 23:30 is March).
    assert (rep["incidents"], rep["counted"], rep["pending"], rep["unattributed"]) == (8, 6, 1, 0)
    kinds = {k["key"]: (k["counted"], k["total"], k["points"]) for k in rep["by_kind"]}
    assert kinds == {"forbidden_phrase": (5, 7, 12), "off_post": (1, 1, 3)}
    rules = {k["key"]: (k["counted"], k["total"], k["points"]) for k in rep["by_rule"]}
    assert rules == {"F1-1": (3, 5, 7), "P-off-post": (1, 1, 3), "F4-1": (1, 1, 3),
                     "F2-1": (1, 1, 2)}
    assert [(w["name"], w["counted"], w["total"]) for w in rep["by_time"]] == [
        ("3/1–3/2", 0, 0), ("3/3–3/9", 1, 1), ("3/10–3/16", 3, 3), ("3/17–3/23", 0, 2),
        ("3/24–3/30", 1, 1), ("3/31", 1, 1)]
    assert rep["schemes"] == [{"month": "2025-03", "version_id": 1, "version": "2026-11"}]


def test_a_quarter_is_the_mean_of_its_months(api: LiveService, march: ScoredCenter) -> None:
    rep = report(api, march, "2025-Q1")
    # A: January 100, February 98, March 90 → 96; B: 100, 100, 97 → 99.
    assert scores(rep)["市场监督管理局"] == 96 and scores(rep)["人社局"] == 99
    assert [s["month"] for s in rep["schemes"]] == ["2025-01", "2025-02", "2025-03"]
    # B's critical incident in March bars it from the quarter's red flags too (99 would have
    # made it); A's mean of 96 clears the 95 that its March alone did not.
    assert [w["department"] for w in rep["red_flags"]] == ["公安局", "税务局", "市场监督管理局"]
    year = report(api, march, "2025")
    assert [t["name"] for t in year["by_time"]][:3] == ["2025年1月", "2025年2月", "2025年3月"]
    assert year["by_time"][3]["total"] == 1  # the incident of 4/1 00:30 local


def test_version_1_is_the_bundled_scheme_seeded_at_the_first_start(api: LiveService) -> None:
    first = api.client("auditor").get("/api/v1/scoring/versions/1").json()
    assert first["yaml"] == DEFAULT_SCHEME.read_text(encoding="utf-8")
    assert first["effective_from"] == "2000-01" and first["created_by"] == "system:start-up"
    with api.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "scoring.version",
                                                   AuditEntry.target_id == "1")).one()
    assert entry.after is not None and entry.after["effective_from"] == "2000-01"


def test_a_scheme_change_does_not_rescore_an_old_month(api: LiveService, march: ScoredCenter,
                                                       restore_scheme: str) -> None:
    admin = api.client("admin")
    before = report(api, march)
    stricter = restore_scheme.replace("    off_post: 3 ", "    off_post: 10 ")
    assert stricter != restore_scheme
    current = admin.get("/api/v1/scoring/in-force").json()
    r = admin.post("/api/v1/scoring/versions", json={"yaml": stricter, "comment": "离岗加重",
                                                     "based_on": current["id"]})
    assert r.status_code == 201, r.text
    saved = r.json()
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")  # the service's zone
    assert saved["id"] == current["id"] + 1 and saved["created_by"] == "user:admin"
    assert saved["effective_from"] == month  # by default, from the current month

    # March 2025 keeps its scheme and its scores.
    after = report(api, march)
    assert after["windows"] == before["windows"] and after["schemes"] == before["schemes"]
    assert api.client("supervisor").get("/api/v1/scoring/in-force",
                                        params={"month": "2025-03"}).json()["id"] == 1
    # This month follows the new scheme: an off_post costs 10 now.
    in_force_now = api.client("supervisor").get("/api/v1/scoring/in-force").json()
    assert in_force_now["id"] == saved["id"]
    assert in_force_now["effective_from"] == saved["effective_from"]
    now = datetime.now(UTC) - timedelta(minutes=1)
    add(api, march, "now_off", "c", now.isoformat(), **OFF_POST)
    current_rep = report(api, march, month)
    assert scores(current_rep)["公安局"] == 90
    assert current_rep["schemes"] == [
        {"month": month, "version_id": saved["id"], "version": "2026-11"}]

    # A version cannot reach back into a month already over: 422, nothing saved.
    for past in ("2025-03", _previous(month)):
        r = admin.post("/api/v1/scoring/versions",
                       json={"yaml": stricter.replace("base: 100", "base: 120"),
                             "effective_from": past})
        assert r.status_code == 422 and "不能追溯" in r.json()["detail"], r.text
    assert admin.get("/api/v1/scoring/versions").json()["data"][0]["id"] == saved["id"]
    # A version effective next month leaves this month as it is.
    nxt = _next(month)
    r = admin.post("/api/v1/scoring/versions", json={"yaml": restore_scheme, "effective_from": nxt})
    assert r.status_code == 201, r.text
    assert scores(report(api, march, month))["公安局"] == 90


def test_a_bad_scheme_names_key_and_line_and_saves_nothing(api: LiveService,
                                                           restore_scheme: str) -> None:
    admin = api.client("admin")
    count = admin.get("/api/v1/scoring/versions").json()["count"]
    bad = restore_scheme.replace("  top_n: 3", "  top_n: zero")
    r = admin.post("/api/v1/scoring/versions", json={"yaml": bad})
    assert r.status_code == 422
    line = bad.split("\n").index("  top_n: zero") + 1
    assert (f"第 {line} 行 · 红旗窗口评选 › 名额（top_n）：应为整数" in r.json()["detail"]), r.text
    stale = admin.post("/api/v1/scoring/versions", json={"yaml": restore_scheme + "\n# x\n",
                                                         "based_on": 999_999})
    assert stale.status_code == 409
    assert admin.get("/api/v1/scoring/versions").json()["count"] == count


def _previous(month: str) -> str:
    y, m = map(int, month.split("-"))
    return f"{y - (m == 1)}-{(m - 2) % 12 + 1:02d}"


def _next(month: str) -> str:
    y, m = map(int, month.split("-"))
    return f"{y + m // 12}-{m % 12 + 1:02d}"


def test_the_scoring_page(api: LiveService, restore_scheme: str) -> None:
    """Readers see the scheme in force and its history; only admins get the form, which refuses
    a month already over and keeps what was typed."""
    page = api.client("supervisor").get("/scoring")
    assert page.status_code == 200 and 'id="scoring-history"' in page.text
    assert 'action="/scoring"' not in page.text and "red_flag:" in page.text
    admin = api.client("admin")
    assert 'id="scoring-save"' in admin.get("/scoring").text
    typed = restore_scheme + "\n# 正在修改\n"
    r = admin.post("/scoring", data={"yaml": typed, "effective_from": "2025-03",
                                     "csrf_token": admin.csrf, "comment": "追溯"})
    assert r.status_code == 422 and "不能追溯" in r.text and "# 正在修改" in r.text
    assert api.client("staff1").get("/scoring").status_code == 403


def test_commendations_add_bonus_points_up_to_the_cap(api: LiveService,
                                                      march: ScoredCenter) -> None:
    """The bundled scheme: 1 point a commendation, at most 3 a month; May 2025 of the test
    center."""
    sup = api.client("supervisor")
    pk = {w["department"]: w["window_pk"] for w in report(api, march, "2025-05")["windows"]}
    a, c = pk["市场监督管理局"], pk["公安局"]
    ids = []
    for day in (6, 7, 8, 9):
        r = sup.post("/api/v1/commendations", json={"window_pk": a, "reason": "群众送锦旗",
                                                     "at": f"2025-05-{day:02d}T10:00:00+08:00"})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    assert r.json()["staff_name"] == "赵明远"  # whoever staffed the window then
    # A commendation of C naming D's person: the bonus goes to that person, the window's to C.
    r = sup.post("/api/v1/commendations", json={"window_pk": c, "staff_id": march.staff["d"],
                                                 "reason": "媒体报道",
                                                 "at": "2025-05-31T23:00:00+08:00"})
    assert r.status_code == 201 and r.json()["staff_name"] == "李雨桐"
    rep = report(api, march, "2025-05")
    assert scores(rep)["市场监督管理局"] == 103 and scores(rep)["公安局"] == 101
    assert rep["commendations"] == 5
    people = {s["name"]: (s["score"], s["bonus"]) for s in rep["staff"]}
    assert people["赵明远"] == (103, 3) and people["李雨桐"] == (101, 1)
    assert people["孙浩然"] == (100, 0)
    listed = api.client("auditor").get("/api/v1/commendations",
                                       params={"period": "2025-05", "center_id": march.id}).json()
    assert listed["count"] == 5 and listed["data"][0]["reason"] == "群众送锦旗"

    # Withdrawn: still three left (the cap); one more withdrawn: 102. Both audited.
    assert sup.delete(f"/api/v1/commendations/{ids[0]}").status_code == 204
    assert scores(report(api, march, "2025-05"))["市场监督管理局"] == 103
    assert sup.delete(f"/api/v1/commendations/{ids[1]}").status_code == 204
    assert scores(report(api, march, "2025-05"))["市场监督管理局"] == 102
    assert sup.delete(f"/api/v1/commendations/{ids[1]}").status_code == 404
    with api.sessions() as s:
        actions = s.scalars(select(AuditEntry.action).where(
            AuditEntry.target_type == "commendation", AuditEntry.target_id == str(ids[1]))).all()
    assert sorted(actions) == ["commendation.create", "commendation.delete"]

    assert sup.post("/api/v1/commendations",
                    json={"window_pk": 999_999, "reason": "x",
                          "at": "2025-05-06T10:00:00+08:00"}).status_code == 422
    assert api.client("staff1").post("/api/v1/commendations", json={
        "window_pk": a, "reason": "自己表扬自己",
        "at": "2025-05-06T10:00:00+08:00"}).status_code == 403

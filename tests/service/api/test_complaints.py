"""Complaints over HTTP: registered with the sessions at their window around their time,
given a handler, answered, overdue when not answered in time; every step audited; read by
auditors and, those about themselves, by staff; by a supervisor limited to centers, only
theirs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from factories.service import (
    PASSWORD,
    Api,
    a_morning,
    center_with_windows,
    post_session,
    rating,
)
from service.conftest import LiveService


def complaint(window_pk: int, at: datetime, **over: Any) -> dict[str, Any]:
    return {"window_pk": window_pk, "channel": "phone", "at": at.isoformat(),
            "text": "工作人员态度生硬，没听我说完就打断", "contact": "138****0000", **over}


def test_a_complaint_is_registered_handled_and_answered(api: LiveService) -> None:
    _, windows, key = center_with_windows(api, "01")
    start = a_morning()
    near = post_session(api.pipeline(key), windows[0]["code"], start, "A031")
    far = post_session(api.pipeline(key), windows[0]["code"], start + timedelta(minutes=20),
                       "A040")
    post_session(api.pipeline(key), windows[0]["code"], start + timedelta(hours=3), "A090")
    sup = api.client("supervisor")
    r = sup.post("/api/v1/complaints", json=complaint(windows[0]["id"],
                                                      start + timedelta(minutes=2)))
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["status"], made["status_name"], made["channel_name"]) == ("pending", "待处理",
                                                                          "电话")
    # Answer within complaint_reply_days (5) of registering it.
    deadline = datetime.fromisoformat(made["deadline"])
    assert timedelta(days=4.9) < deadline - datetime.now(UTC) <= timedelta(days=5)
    # The sessions at its window within half an hour either side, the nearest first.
    assert [s["id"] for s in made["sessions"]] == [near, far]
    assert made["sessions"][0]["url"] == f"/sessions/{near}"

    handler = api.ids["supervisor"]
    assert sup.post(f"/api/v1/complaints/{made['id']}/assign",
                    json={"handler_id": api.ids["staff1"]}).status_code == 422
    assigned = sup.post(f"/api/v1/complaints/{made['id']}/assign", json={"handler_id": handler})
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["status"], assigned.json()["handler_id"]) == ("handling", handler)
    answered = sup.post(f"/api/v1/complaints/{made['id']}/reply",
                        json={"reply": "已调取录音核实，对工作人员进行了批评教育，并向您致歉。"})
    assert answered.status_code == 200 and answered.json()["status_name"] == "已答复"
    assert sup.post(f"/api/v1/complaints/{made['id']}/reply",
                    json={"reply": "再答一次"}).status_code == 409

    audit = api.client("admin").get("/api/v1/audit", params={"target_type": "complaint",
                                                             "target_id": str(made["id"])})
    actions = [e["action"] for e in audit.json()["data"]]
    assert sorted(actions) == ["complaint.assign", "complaint.create", "complaint.reply"]


def test_a_complaint_unanswered_by_its_deadline_is_overdue(api: LiveService) -> None:
    _, windows, _ = center_with_windows(api, "01")
    sup = api.client("supervisor")
    at = datetime.now(UTC) - timedelta(days=9)
    # Received by letter nine days ago and registered today: its deadline is past.
    late = sup.post("/api/v1/complaints", json=complaint(
        windows[0]["id"], at, channel="online", deadline=(at + timedelta(days=5)).isoformat()))
    assert late.status_code == 201 and late.json()["status_name"] == "逾期"
    assert late.json()["overdue"] and late.json()["sessions"] == []
    on_time = sup.post("/api/v1/complaints", json=complaint(windows[0]["id"], at))
    overdue = sup.get("/api/v1/complaints", params={"status": "overdue"}).json()["data"]
    ids = {c["id"] for c in overdue}
    assert late.json()["id"] in ids and on_time.json()["id"] not in ids
    # Answered, it is overdue no longer.
    sup.post(f"/api/v1/complaints/{late.json()['id']}/reply", json={"reply": "已处理"})
    assert sup.get(f"/api/v1/complaints/{late.json()['id']}").json()["status"] == "answered"
    bad = sup.post("/api/v1/complaints", json=complaint(
        windows[0]["id"], at, deadline=(at - timedelta(days=1)).isoformat()))
    assert bad.status_code == 422 and "deadline" in bad.text
    assert sup.post("/api/v1/complaints", json=complaint(
        windows[0]["id"], at, channel="fax")).status_code == 422


def test_staff_see_only_complaints_about_themselves(api: LiveService) -> None:
    sup = api.client("supervisor")
    at = datetime.now(UTC) - timedelta(hours=3)
    listed = api.client("admin").get("/api/v1/windows").json()["data"]
    windows = {w["code"]: w["id"] for w in listed}
    mine = sup.post("/api/v1/complaints", json=complaint(windows["w-a"], at)).json()
    theirs = sup.post("/api/v1/complaints", json=complaint(windows["w-b"], at)).json()
    assert (mine["staff_name"], theirs["staff_name"]) == ("王芳", "李强")
    staff = api.client("staff1")
    seen = {c["id"] for c in staff.get("/api/v1/complaints").json()["data"]}
    assert mine["id"] in seen and theirs["id"] not in seen
    assert staff.get(f"/api/v1/complaints/{theirs['id']}").status_code == 404
    assert staff.get(f"/api/v1/complaints/{mine['id']}").json()["contact"] is None
    assert staff.post(f"/api/v1/complaints/{mine['id']}/reply",
                      json={"reply": "我来答复"}).status_code == 403
    # The pages alike: their own to read, without the handling forms or the contact.
    page = staff.get(f"/complaints/{mine['id']}")
    assert page.status_code == 200 and "态度生硬" in page.text
    assert "assign-form" not in page.text and "138****0000" not in page.text
    assert staff.get(f"/complaints/{theirs['id']}").status_code == 404
    # Auditors read every center's, and change nothing.
    auditor = api.client("auditor")
    assert auditor.get(f"/api/v1/complaints/{theirs['id']}").status_code == 200
    assert auditor.post("/api/v1/complaints",
                        json=complaint(windows["w-a"], at)).status_code == 403


def test_a_supervisor_of_one_center_handles_only_its_complaints(api: LiveService) -> None:
    _, (mine,), key = center_with_windows(api, "01")
    _, (other,), other_key = center_with_windows(api, "01")
    name = f"scope-{uuid.uuid4().hex[:8]}"
    user = api.client("admin").post("/api/v1/users", json={
        "username": name, "password": PASSWORD, "role": "supervisor",
        "center_ids": [mine["center_id"]]})
    assert user.status_code == 201, user.text
    limited = Api(api.base_url)
    assert limited.login(name, PASSWORD).status_code == 200
    at = datetime.now(UTC) - timedelta(hours=2)
    theirs = api.client("supervisor").post("/api/v1/complaints",
                                           json=complaint(other["id"], at)).json()
    assert limited.get(f"/api/v1/complaints/{theirs['id']}").status_code == 404
    assert limited.post("/api/v1/complaints", json=complaint(other["id"], at)).status_code == 422
    own = limited.post("/api/v1/complaints", json=complaint(mine["id"], at))
    assert own.status_code == 201
    # A handler must see the complaint's center: this supervisor may not take another's.
    assert api.client("supervisor").post(f"/api/v1/complaints/{theirs['id']}/assign", json={
        "handler_id": user.json()["id"]}).status_code == 422
    seen = {c["id"] for c in limited.get("/api/v1/complaints").json()["data"]}
    assert own.json()["id"] in seen and theirs["id"] not in seen
    # Ratings alike.
    for code, device in ((mine["code"], key), (other["code"], other_key)):
        r = api.pipeline(device).post("/api/v1/ratings", json=rating(code, at))
        assert r.status_code == 201, r.text
    windows = {r["window_pk"] for r in limited.get("/api/v1/ratings").json()["data"]}
    assert mine["id"] in windows and other["id"] not in windows

"""The review workflow, its audit trail, filters, pagination and the CSV export."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from etiquette.service.models import AuditEntry, Incident

from factories.service import incident, make_incident, post_incident
from service.conftest import LiveService


def audit_of(api: LiveService, iid: str) -> list[AuditEntry]:
    with api.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.target_id == iid)
                              .order_by(AuditEntry.id)))


def test_confirm_then_appeal_then_decide_each_step_audited(api: LiveService) -> None:
    iid = make_incident(api)
    sup, staff = api.client("supervisor"), api.client("staff1")
    r = sup.post(f"/api/v1/incidents/{iid}/review",
                 json={"action": "confirm", "reason": "录音清楚"})
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    r = staff.post(f"/api/v1/incidents/{iid}/appeal", json={"reason": "我在转述群众的话"})
    assert r.status_code == 200 and r.json()["status"] == "appealed"
    again = staff.post(f"/api/v1/incidents/{iid}/appeal", json={"reason": "再次申诉"})
    assert again.status_code == 409
    r = sup.post(f"/api/v1/incidents/{iid}/appeal/decision",
                 json={"decision": "accepted", "reason": "复听确认为转述"})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["appeal_decision"]) == ("dismissed", "accepted")
    entries = audit_of(api, iid)
    assert [e.action for e in entries] == ["incident.ingest", "incident.confirm", "incident.appeal",
                                          "incident.decide_appeal"]
    confirm, appeal, decide = entries[1:]
    assert confirm.actor == "user:supervisor" and confirm.user_id == api.ids["supervisor"]
    assert confirm.before == {"status": "pending", "review_reason": None, "reviewed_by": None,
                              "reviewed_at": None}
    assert confirm.after["status"] == "confirmed" and confirm.after["review_reason"] == "录音清楚"
    assert appeal.actor == "user:staff1" and appeal.after["appeal_reason"] == "我在转述群众的话"
    assert decide.before["status"] == "appealed" and decide.after["status"] == "dismissed"
    # The history endpoint shows the same trail to supervisors.
    history = sup.get(f"/api/v1/incidents/{iid}/history").json()
    assert [h["action"] for h in history["data"]][::-1] == [e.action for e in entries]


def test_rejected_appeal_confirms_again_and_stays_decided(api: LiveService) -> None:
    iid = make_incident(api, status="appealed")
    sup = api.client("supervisor")
    r = sup.post(f"/api/v1/incidents/{iid}/appeal/decision",
                 json={"decision": "rejected", "reason": "x"})
    assert r.json()["status"] == "confirmed"
    assert sup.post(f"/api/v1/incidents/{iid}/review", json={"action": "reopen"}).status_code == 409
    assert api.client("staff1").post(f"/api/v1/incidents/{iid}/appeal",
                                     json={"reason": "again"}).status_code == 409


def test_invalid_transitions_are_409(api: LiveService) -> None:
    sup = api.client("supervisor")
    iid = make_incident(api, status="confirmed")
    confirm = {"action": "confirm"}
    assert sup.post(f"/api/v1/incidents/{iid}/review", json=confirm).status_code == 409
    assert sup.post(f"/api/v1/incidents/{iid}/review",
                    json={"action": "dismiss", "reason": "r"}).status_code == 409
    assert sup.post(f"/api/v1/incidents/{iid}/appeal/decision",
                    json={"decision": "accepted", "reason": "r"}).status_code == 409
    pending = make_incident(api)
    reopen = {"action": "reopen"}
    assert sup.post(f"/api/v1/incidents/{pending}/review", json=reopen).status_code == 409
    assert api.client("staff1").post(f"/api/v1/incidents/{pending}/appeal",
                                     json={"reason": "r"}).status_code == 409
    # Reopen a confirmed one: pending again, reviewer cleared.
    r = sup.post(f"/api/v1/incidents/{iid}/review", json={"action": "reopen", "reason": "误点"})
    assert r.status_code == 200
    assert r.json()["status"] == "pending" and r.json()["reviewed_at"] is None


def test_dismiss_needs_a_reason_and_bodies_are_validated(api: LiveService) -> None:
    sup = api.client("supervisor")
    iid = make_incident(api)
    for body in ({"action": "dismiss"}, {"action": "dismiss", "reason": "   "},
                 {"action": "delete"},
                 {"action": "confirm", "extra": 1}, {"action": "confirm", "reason": "字" * 2001}):
        assert sup.post(f"/api/v1/incidents/{iid}/review", json=body).status_code == 422, body
    assert sup.post(f"/api/v1/incidents/{iid}/review", content=b"not json",
                    headers={"content-type": "application/json"}).status_code == 422
    assert sup.post(f"/api/v1/incidents/{uuid.uuid4()}/review",
                    json={"action": "confirm"}).status_code == 404
    assert api.client("staff1").post(f"/api/v1/incidents/{iid}/appeal", json={}).status_code == 422


def test_appeal_window_closes(api: LiveService) -> None:
    iid = make_incident(api, status="confirmed")
    days = api.settings.appeal_window_days
    with api.sessions() as s:
        s.execute(update(Incident).where(Incident.id == iid).values(
            reviewed_at=datetime.now(UTC) - timedelta(days=days + 1)))
        s.commit()
    r = api.client("staff1").post(f"/api/v1/incidents/{iid}/appeal", json={"reason": "迟到的申诉"})
    assert r.status_code == 409 and "appeal window" in r.json()["detail"]


def test_unsafe_requests_need_the_csrf_token(api: LiveService) -> None:
    sup = api.client("supervisor")
    iid = make_incident(api)
    r = sup.post(f"/api/v1/incidents/{iid}/review", json={"action": "confirm"},
                 headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    cookies = sup.cookies
    from factories.service import Api

    # The cookie alone, as a cross-site form sends it.
    with Api(api.base_url, cookies=cookies) as bare:
        r = bare.post(f"/api/v1/incidents/{iid}/review", json={"action": "confirm"})
        assert r.status_code == 403
    assert sup.get(f"/api/v1/incidents/{iid}").json()["status"] == "pending"


def test_filters_and_pagination(api: LiveService) -> None:
    sup = api.client("supervisor")
    window = f"wf-{uuid.uuid4().hex[:6]}"
    base = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    ids = []
    for k in range(7):
        body = incident(window_id=window, at_dt=base + timedelta(days=k),
                        rule_id="F2-1" if k % 2 else "F1-1",
                        kind="missing_greeting" if k == 6 else "forbidden_phrase")
        assert post_incident(api.pipeline(), body).status_code == 201
        ids.append(body["id"])
    sup.post(f"/api/v1/incidents/{ids[0]}/review", json={"action": "confirm"})

    def q(**params: object) -> dict:
        r = sup.get("/api/v1/incidents", params={"window_id": window, **params})
        assert r.status_code == 200, r.text
        return r.json()

    assert q()["count"] == 7
    assert [i["id"] for i in q()["data"]] == ids[::-1]  # newest first
    assert [i["id"] for i in q(oldest_first=True, limit=3, offset=3)["data"]] == ids[3:6]
    assert q(rule_id="F2-1")["count"] == 3
    assert q(kind="missing_greeting")["count"] == 1
    assert q(status="confirmed")["count"] == 1 and q(status="pending")["count"] == 6
    assert q(date_from="2026-03-11", date_to="2026-03-12")["count"] == 2  # whole days
    assert q(date_from="2026-03-11T02:00:00Z", date_to="2026-03-12T02:00:00Z")["count"] == 1
    assert q(center_id=api.ids["center"])["count"] == 7
    assert q(staff_id=api.ids["T001"])["count"] == 0  # unknown window: nobody attributed
    for bad in ({"status": "lost"}, {"kind": "x"}, {"limit": 0}, {"limit": 201}, {"offset": -1},
                {"date_from": "yesterday"}, {"date_from": "2026-03-11T02:00:00"},
                {"rule_id": "F1-1'--"}, {"center_id": 0}):
        assert sup.get("/api/v1/incidents", params=bad).status_code == 422, bad


def test_staff_see_only_their_own_incidents(api: LiveService) -> None:
    own, other = make_incident(api), make_incident(api, "staff2")
    listed = {i["id"] for i in api.client("staff1").get("/api/v1/incidents",
                                                        params={"limit": 200}).json()["data"]}
    assert own in listed and other not in listed
    every = api.client("staff1").get("/api/v1/incidents", params={"limit": 200}).json()
    assert all(i["staff"] and i["staff"]["employee_no"] == "T001" for i in every["data"])
    # Filtering by someone else does not widen the view.
    r = api.client("staff1").get("/api/v1/incidents", params={"staff_id": api.ids["T002"]})
    assert r.json()["count"] == 0


def read_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_csv_export_follows_filters_and_visibility(api: LiveService) -> None:
    own, other = make_incident(api), make_incident(api, "staff2")
    r = api.client("supervisor").get("/api/v1/incidents/export.csv", params={"window_id": "w-a"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = read_csv(r.text)
    assert own in {row["id"] for row in rows} and other not in {row["id"] for row in rows}
    row = next(row for row in rows if row["id"] == own)
    assert ((row["姓名"], row["工号"], row["窗口号"], row["状态"])
            == ("王芳", "T001", "01", "待审核"))
    assert "source" not in row and "recordings/" not in r.text  # no file paths in exports
    staff_rows = read_csv(api.client("staff1").get("/api/v1/incidents/export.csv").text)
    assert {row["工号"] for row in staff_rows} == {"T001"}


def test_csv_cells_cannot_become_formulas(api: LiveService) -> None:
    body = incident(transcript="=HYPERLINK(\"http://x\")不知道", window_id="w-a")
    assert post_incident(api.pipeline(), body).status_code == 201
    rows = read_csv(api.client("supervisor").get("/api/v1/incidents/export.csv",
                                                  params={"window_id": "w-a"}).text)
    row = next(r for r in rows if r["id"] == body["id"])
    assert row["转写"].startswith("'=")

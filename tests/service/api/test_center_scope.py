"""Users limited to centers: a supervisor or auditor given centers sees only theirs, in every
reader of incidents (list, search, counts, CSV, one incident, review, history, evidence), the
hall, reports, commendations and alerts; another center's incident is 'not found'. Admins and
staff are never limited. Pipeline keys record when they were last used, to the minute."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

from etiquette.service.core.db import utcnow
from etiquette.service.services import alerts, scoring

from factories.service import PASSWORD, Api, center_with_windows, incident, post_incident
from service.conftest import LiveService


def _user(live: LiveService, role: str, center_ids: list[int]) -> tuple[dict[str, Any], Api]:
    """A new user of `role` limited to `center_ids`, and a client logged in as them."""
    name = f"scope-{uuid.uuid4().hex[:8]}"
    r = live.client("admin").post("/api/v1/users", json={
        "username": name, "password": PASSWORD, "role": role, "center_ids": center_ids})
    assert r.status_code == 201, r.text
    client = Api(live.base_url)
    assert client.login(name, PASSWORD).status_code == 200
    return r.json(), client


def test_a_supervisor_limited_to_a_center_sees_only_its_incidents(api: LiveService) -> None:
    (a, (wa,), key_a), (b, (wb,), key_b) = (center_with_windows(api, "01"),
                                            center_with_windows(api, "01"))
    tag = uuid.uuid4().hex[:6]
    since = utcnow() - timedelta(seconds=1)
    mine = incident(window_id=wa["code"], transcript=f"范围{tag}我不知道", severity="critical")
    other = incident(window_id=wb["code"], transcript=f"范围{tag}我不知道", severity="critical")
    for body, key in ((mine, key_a), (other, key_b)):
        assert post_incident(api.pipeline(key), body).status_code == 201
    user, sup = _user(api, "supervisor", [a["id"]])
    assert user["center_ids"] == [a["id"]]
    everyone = api.client("supervisor")  # no centers: the province

    def ids(client: Api, **params: Any) -> list[str]:
        r = client.get("/api/v1/incidents", params={"q": f"范围{tag}", **params})
        assert r.status_code == 200, r.text
        return sorted(i["id"] for i in r.json()["data"])

    assert ids(sup) == [mine["id"]]
    assert ids(everyone) == sorted([mine["id"], other["id"]])
    assert ids(sup, center_id=b["id"]) == []  # filtering for another center finds nothing
    assert ids(sup, window_id="01") == [mine["id"]]

    counts = sup.get("/api/v1/incidents/counts", params={"q": f"范围{tag}",
                                                         "since": since.isoformat()}).json()
    assert counts["new"] == 1 and counts["pending"] == 1  # a center of its own: one pending
    assert everyone.get("/api/v1/incidents/counts", params={
        "q": f"范围{tag}", "since": since.isoformat()}).json()["new"] == 2

    export = sup.get("/api/v1/incidents/export.csv", params={"q": f"范围{tag}"})
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert [r[0] for r in rows[1:]] == [mine["id"]]

    # Another center's incident does not exist for them, whatever they try.
    oid = other["id"]
    for r in (sup.get(f"/api/v1/incidents/{oid}"),
              sup.get(f"/api/v1/incidents/{oid}/history"),
              sup.get(f"/api/v1/incidents/{oid}/evidence/clip"),
              sup.post(f"/api/v1/incidents/{oid}/review", json={"action": "confirm"})):
        assert r.status_code == 404, r.text
        assert r.json()["detail"].startswith("事件不存在")
    bulk = sup.post("/api/v1/incidents/bulk-review", json={
        "ids": [mine["id"], oid], "action": "dismiss", "reason": "范围测试"}).json()
    assert [(o["id"], o["ok"], o["status"]) for o in bulk["data"]] == [
        (mine["id"], True, "dismissed"), (oid, False, None)]
    assert everyone.get(f"/api/v1/incidents/{oid}").json()["status"] == "pending"

    # The hall: only their center's tiles.
    hall = sup.get("/api/v1/hall").json()
    assert [c["id"] for c in hall["centers"]] == [a["id"]]
    assert {b["id"], a["id"]} <= {c["id"] for c in everyone.get("/api/v1/hall").json()["centers"]}

    # Reports: their center's windows only; another center's report is not found.
    month = str(scoring.current_month(api.settings))
    report = sup.get(f"/api/v1/reports/{month}")
    assert report.status_code == 200, report.text
    assert report.json()["center"] == a["name"]
    assert {w["center"] for w in report.json()["windows"]} == {a["name"]}
    assert sup.get(f"/api/v1/reports/{month}", params={"center_id": b["id"]}).status_code == 404
    assert sup.get(f"/api/v1/reports/{month}/export", params={
        "format": "csv", "center_id": b["id"]}).status_code == 404

    # Commendations: not for another center's window.
    r = sup.post("/api/v1/commendations", json={
        "window_pk": wb["id"], "at": utcnow().isoformat(), "reason": "群众来信表扬"})
    assert r.status_code == 422, r.text

    # Alerts: only their centers' incidents.
    with api.sessions() as session:
        found = alerts.recent(session, since, ["critical"], frozenset({a["id"]}))
    assert mine["id"] in {i.id for i in found} and oid not in {i.id for i in found}

    # Every center again once the limit is lifted, from the next request on.
    r = api.client("admin").patch(f"/api/v1/users/{user['id']}", json={"center_ids": []})
    assert r.status_code == 200 and r.json()["center_ids"] == []
    assert ids(sup) == sorted([mine["id"], other["id"]])
    sup.close()


def test_an_auditor_may_be_limited_but_not_an_admin_or_staff(api: LiveService) -> None:
    (a, _, _) = center_with_windows(api, "01")
    admin = api.client("admin")
    _, auditor = _user(api, "auditor", [a["id"]])
    assert [c["id"] for c in auditor.get("/api/v1/hall").json()["centers"]] == [a["id"]]
    auditor.close()

    name = f"scope-{uuid.uuid4().hex[:8]}"
    r = admin.post("/api/v1/users", json={"username": name, "password": PASSWORD,
                                          "role": "admin", "center_ids": [a["id"]]})
    assert r.status_code == 422 and r.json()["detail"].startswith("只有监督员和审计员可以限定中心")
    r = admin.post("/api/v1/users", json={"username": name, "password": PASSWORD,
                                          "role": "supervisor", "center_ids": [999_999]})
    assert r.status_code == 422 and r.json()["detail"].startswith("所选中心不存在")
    user, _ = _user(api, "supervisor", [a["id"]])
    # A limited supervisor made an admin must be given up their centers first.
    r = admin.patch(f"/api/v1/users/{user['id']}", json={"role": "admin"})
    assert r.status_code == 422, r.text
    r = admin.patch(f"/api/v1/users/{user['id']}", json={"role": "admin", "center_ids": []})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert admin.get(f"/api/v1/users/{user['id']}").json()["center_ids"] == []


def test_an_auditor_limited_to_a_center_reads_only_its_part_of_the_audit_log(
        api: LiveService) -> None:
    """Its incidents' entries, not another center's, nor the province's own (users, keys,
    master data); the audit page alike. An auditor of the province reads them all."""
    (a, (wa,), key_a), (_, (wb,), key_b) = (center_with_windows(api, "01"),
                                            center_with_windows(api, "01"))
    mine, other = incident(window_id=wa["code"]), incident(window_id=wb["code"])
    for body, key in ((mine, key_a), (other, key_b)):
        assert post_incident(api.pipeline(key), body).status_code == 201
    user, auditor = _user(api, "auditor", [a["id"]])

    def targets(client: Api) -> set[tuple[str, str]]:
        r = client.get("/api/v1/audit", params={"limit": 500})
        assert r.status_code == 200, r.text
        return {(e["target_type"], e["target_id"]) for e in r.json()["data"]}

    seen = targets(auditor)
    assert ("incident", mine["id"]) in seen
    assert ("incident", other["id"]) not in seen
    assert ("user", str(user["id"])) not in seen  # its own creation: the province's
    assert {kind for kind, _ in seen} <= {"incident", "session", "rating", "complaint",
                                          "commendation"}
    everything = targets(api.client("auditor"))
    assert {("incident", mine["id"]), ("incident", other["id"]),
            ("user", str(user["id"]))} <= everything
    r = auditor.get("/api/v1/audit", params={"target_type": "incident", "target_id": other["id"]})
    assert r.status_code == 200 and r.json()["count"] == 0  # asked for by name: still nothing

    page = auditor.get("/audit")
    assert page.status_code == 200
    assert mine["id"] in page.text and other["id"] not in page.text
    assert "仅显示所辖中心" in page.text
    assert "仅显示所辖中心" not in api.client("auditor").get("/audit").text
    auditor.close()


def test_an_auditor_limited_to_a_center_reads_only_its_users_and_keys(api: LiveService) -> None:
    """Users: the staff working there and the supervisors and auditors limited to it; keys:
    its sites'. Admins, users of the province and of other centers are 'not found'."""
    (a, _, _), (b, _, _) = center_with_windows(api, "01"), center_with_windows(api, "01")
    colleague, _ = _user(api, "supervisor", [a["id"], b["id"]])
    stranger, _ = _user(api, "supervisor", [b["id"]])
    user, auditor = _user(api, "auditor", [a["id"]])

    listed = auditor.get("/api/v1/users", params={"limit": 500}).json()["data"]
    assert {u["id"] for u in listed} >= {user["id"], colleague["id"]}
    assert all(set(u["center_ids"]) & {a["id"]} for u in listed)  # no staff works at a
    for hidden in (stranger["id"], api.ids["admin"], api.ids["supervisor"]):
        assert auditor.get(f"/api/v1/users/{hidden}").status_code == 404
    assert auditor.get(f"/api/v1/users/{colleague['id']}").status_code == 200
    everyone = {u["id"] for u in api.client("auditor").get(
        "/api/v1/users", params={"limit": 500}).json()["data"]}
    assert {stranger["id"], api.ids["admin"], api.ids["staff1"]} <= everyone

    keys = auditor.get("/api/v1/api-keys").json()["data"]
    assert [k["center_id"] for k in keys] == [a["id"]]
    assert {k["center_id"] for k in api.client("auditor").get("/api/v1/api-keys").json()[
        "data"]} >= {a["id"], b["id"], api.ids["center"]}
    users_page, keys_page = auditor.get("/users"), auditor.get("/api-keys")
    assert users_page.status_code == 200 and keys_page.status_code == 200
    assert colleague["username"] in users_page.text
    assert stranger["username"] not in users_page.text
    assert a["name"] in keys_page.text and b["name"] not in keys_page.text
    auditor.close()


def test_a_key_records_its_last_use_to_the_minute(api: LiveService) -> None:
    admin = api.client("admin")
    created = admin.post("/api/v1/api-keys", json={"name": f"use-{uuid.uuid4().hex[:6]}"}).json()

    def last_used() -> str | None:
        keys = admin.get("/api/v1/api-keys", params={"limit": 500}).json()["data"]
        return next(k for k in keys if k["id"] == created["id"])["last_used_at"]

    assert last_used() is None
    site = api.pipeline(created["key"])
    assert site.get("/api/v1/rules/current").status_code == 200
    first = last_used()
    assert first is not None
    assert site.get("/api/v1/rules/current").status_code == 200
    assert last_used() == first  # not written again within the minute

"""Service sessions as records (issue 19 item 3): a pipeline posts one (its key's center only),
stored once with the staff on duty then; its incidents link to it whichever comes first; it is
read as incidents are (a center's supervisors, staff their own)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from etiquette.core.session_records import SessionRecord

from factories.service import (
    PASSWORD,
    Api,
    at_once,
    center_with_windows,
    incident,
    post_incident,
)
from factories.service import session_record as record
from service.conftest import LiveService


def at(r: SessionRecord, offset_s: float) -> datetime:
    assert r.start_at is not None
    return datetime.fromisoformat(r.start_at) + timedelta(seconds=offset_s - r.offset_s)


def test_a_session_is_stored_once_with_its_staff_ticket_checks_and_incidents(
        api: LiveService) -> None:
    pipeline, sup = api.pipeline(), api.client("supervisor")
    # A time of its own: other tests' sessions and incidents at w-a in the shared service (two
    # hours ago by default) would otherwise be linked with these.
    r = record(start=datetime.now(UTC) - timedelta(days=1, minutes=uuid.uuid4().int % 600))
    # One incident arrives before the session (linked by its window and time when the session
    # comes), one is named by the session, one comes after (linked at its own ingest), one is
    # another window's at the same time (never linked).
    before = incident(window_id="w-a", at_dt=at(r, 20))
    named = incident(window_id="w-a", kind="missing_farewell", rule_id="R-farewell",
                     rule_name="送别用语", phrase=None, transcript="", hit_start=None,
                     hit_end=None, at_dt=None, offset_s=33.0, end_s=63.0)
    elsewhere = incident(window_id="w-b", at_dt=at(r, 20))
    for body in (before, named, elsewhere):
        assert post_incident(pipeline, body, clip=body is not named).status_code == 201
    r = replace(r, incident_ids=(named["id"],))

    posted = pipeline.post("/api/v1/sessions", json=r.to_json())
    assert posted.status_code == 201, posted.text
    assert posted.json() == {"id": r.id, "created": True, "incidents": 2}
    after = incident(window_id="w-a", at_dt=at(r, 40))
    assert post_incident(pipeline, after).status_code == 201

    again = pipeline.post("/api/v1/sessions", json=r.to_json())  # a retry: stored once
    assert (again.status_code, again.json()["created"]) == (200, False)
    changed = pipeline.post("/api/v1/sessions", json={**r.to_json(), "ticket": "B001"})
    assert changed.status_code == 409

    got = sup.get(f"/api/v1/sessions/{r.id}")
    assert got.status_code == 200, got.text
    s = got.json()
    assert s["staff"]["name"] == "王芳" and s["window_number"] == "01"
    assert (s["ticket"], s["staff_talk_s"], s["citizen_talk_s"]) == ("A012", 9.5, 4.0)
    assert s["failed"] == ["送别用语"]
    assert [c["state"] for c in s["checks"]] == ["passed", "failed", "passed"]
    assert [(t["speaker"], t["text"]) for t in s["turns"]][:2] == [
        ("staff", "您好，请问办理什么业务？"), ("citizen", None)]
    assert sorted(i["id"] for i in s["incident_list"]) == sorted(
        [before["id"], named["id"], after["id"]])
    linked = sup.get(f"/api/v1/incidents/{after['id']}").json()
    assert linked["session_id"] == r.id
    assert sup.get(f"/api/v1/incidents/{elsewhere['id']}").json()["session_id"] is None

    listed = sup.get("/api/v1/sessions", params={"window_id": "01"}).json()
    mine = next(x for x in listed["data"] if x["id"] == r.id)
    assert mine["incidents"] == 3 and mine["ticket"] == "A012"


def test_concurrent_retries_of_one_session_store_one_and_other_content_is_refused_in_chinese(
        api: LiveService) -> None:
    """An outbox's retry racing its original is answered as a retry, not a failure; the same id
    with other content is refused, saying so to the site's staff in Chinese."""
    r = record(start=datetime.now(UTC) - timedelta(days=2, minutes=uuid.uuid4().int % 600))
    codes = at_once(api, lambda client: client.post("/api/v1/sessions", json=r.to_json()), 6)
    assert codes == [200] * 5 + [201]
    changed = api.pipeline().post("/api/v1/sessions", json={**r.to_json(), "ticket": "B001"})
    assert changed.status_code == 409
    assert f"会话 {r.id} 已以不同内容保存" in changed.json()["detail"]
    assert api.client("supervisor").get(f"/api/v1/sessions/{r.id}").json()["ticket"] == "A012"


def test_a_session_is_refused_without_a_key_from_another_centers_key_and_malformed(
        api: LiveService) -> None:
    body = record().to_json()
    assert api.client(None).post("/api/v1/sessions", json=body).status_code == 401
    assert api.client("supervisor").post("/api/v1/sessions", json=body).status_code == 401
    _, _, other_key = center_with_windows(api, "01")
    refused = api.pipeline(other_key).post("/api/v1/sessions", json=body)  # w-a is not its center's
    assert refused.status_code == 403, refused.text
    for bad in ({**body, "end_at": "2020-01-01T00:00:00+00:00"},  # ends before it starts
                {**body, "start_at": "2026-01-01T08:00:00"},  # no zone
                {k: v for k, v in body.items() if k != "window_id"},
                {**body, "turns": [{"speaker": "staff", "start_s": 5, "end_s": 2, "text": ""}]},
                {**body, "kind": "forbidden_phrase"}):
        r = api.pipeline().post("/api/v1/sessions", json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert api.client("supervisor").get(f"/api/v1/sessions/{body['id']}").status_code == 404


def test_sessions_are_read_as_incidents_are(api: LiveService) -> None:
    (center, (window,), key) = center_with_windows(api, "07")
    theirs = record(window_id=window["code"])
    ours = record(window_id="w-a")
    assert api.pipeline(key).post("/api/v1/sessions", json=theirs.to_json()).status_code == 201
    assert api.pipeline().post("/api/v1/sessions", json=ours.to_json()).status_code == 201

    name = f"scope-{uuid.uuid4().hex[:8]}"
    made = api.client("admin").post("/api/v1/users", json={
        "username": name, "password": PASSWORD, "role": "supervisor", "center_ids": [center["id"]]})
    assert made.status_code == 201, made.text
    limited = Api(api.base_url)
    assert limited.login(name, PASSWORD).status_code == 200
    assert [s["id"] for s in limited.get("/api/v1/sessions").json()["data"]] == [theirs.id]
    assert limited.get(f"/api/v1/sessions/{ours.id}").status_code == 404

    staff1, staff2 = api.client("staff1"), api.client("staff2")  # staff1 serves w-a
    assert staff1.get(f"/api/v1/sessions/{ours.id}").status_code == 200
    assert staff2.get(f"/api/v1/sessions/{ours.id}").status_code == 404
    assert ours.id not in {s["id"] for s in staff2.get("/api/v1/sessions").json()["data"]}

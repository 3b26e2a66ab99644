"""大厅态势 over the API: live sites' heartbeats in (their key, their center), the hall out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from etiquette.service.core.db import utcnow
from etiquette.service.services import hall
from etiquette.service.services.access import SYSTEM_CLI

from factories.service import center_with_windows, incident, post_incident, window_beat
from service.conftest import LiveService


def tiles(live: LiveService, center_id: int) -> dict[str, dict[str, Any]]:
    r = live.client("supervisor").get("/api/v1/hall")
    assert r.status_code == 200, r.text
    center = next(c for c in r.json()["centers"] if c["id"] == center_id)
    return {w["number"]: w for w in center["windows"]}


def test_a_sites_beats_make_its_windows_tiles(api: LiveService) -> None:
    center, (w1, w2, w3), key = center_with_windows(api, "01", "02", "03")
    site = api.pipeline(key)
    away = window_beat(camera={"seat": "absent", "fps": 5.0}, session_open=False)
    r = site.post("/api/v1/heartbeats", json={"interval_s": 5, "windows": {
        w1["code"]: window_beat(), w2["code"]: away}})
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": [w1["code"], w2["code"]], "unknown": [], "refused": []}
    today = incident(window_id=w1["code"], at_dt=utcnow() - timedelta(seconds=5))
    assert post_incident(api.pipeline(key), today).status_code == 201

    shown = tiles(api, center["id"])
    assert shown["01"]["status"] == "ok" and shown["01"]["reasons"] == []
    assert shown["01"]["seat_name"] == "在座" and shown["01"]["session_open"] is True
    assert shown["01"]["audio"]["level_dbfs"] == -32.5 and shown["01"]["camera"]["fps"] == 4.8
    assert shown["01"]["today"] == {"forbidden_phrase": 1} and shown["01"]["today_total"] == 1
    assert shown["01"]["last_incident"]["url"] == f"/incidents/{today['id']}"
    assert shown["02"]["seat_name"] == "离座" and shown["02"]["session_open"] is False
    assert shown["03"]["status"] == "offline" and shown["03"]["reasons"] == ["未接入"]
    assert shown["03"]["last_beat_at"] is None
    counts = next(c for c in api.client("auditor").get("/api/v1/hall").json()["centers"]
                  if c["id"] == center["id"])["counts"]
    assert counts == {"ok": 2, "warn": 0, "alert": 0, "offline": 1}

    # Inputs down: red, the reason in Chinese; a degraded one amber.
    r = site.post("/api/v1/heartbeats", json={"interval_s": 5, "windows": {
        w1["code"]: window_beat(audio={"state": "down", "level_dbfs": -120.0, "stream_s": 130.0},
                                camera={"seat": "unknown", "fps": 0.0}),
        w2["code"]: window_beat(problems={"camera": "degraded"})}})
    assert r.status_code == 200, r.text
    shown = tiles(api, center["id"])
    assert shown["01"]["status"] == "alert"
    assert shown["01"]["reasons"] == ["麦克风断开", "摄像头无画面"]
    assert shown["02"]["status"] == "warn" and shown["02"]["reasons"] == ["摄像头画面受损"]
    # The seat changed (absent → present): its time counts afresh.
    assert shown["02"]["seat_name"] == "在座" and shown["02"]["seat_for_s"] < 5


def test_a_window_whose_beats_stop_turns_red_with_the_reason(api: LiveService) -> None:
    """Staleness is judged when the hall is read, against the site's own interval."""
    center, (w1,), key = center_with_windows(api, "01")
    assert api.pipeline(key).post("/api/v1/heartbeats", json={
        "interval_s": 5, "windows": {w1["code"]: window_beat()}}).status_code == 200
    with api.sessions() as session:
        def tile(after_s: float) -> Any:
            built = hall.build(session=session, settings=api.settings, principal=SYSTEM_CLI,
                               now=utcnow() + timedelta(seconds=after_s))
            (c,) = [c for c in built.centers if c.id == center["id"]]
            return c.windows[0]

        fresh = tile(0)
        assert fresh.status == "ok" and not fresh.stale
        late = tile(api.settings.hall_stale_beats * 5 + 1)
        assert late.status == "alert" and late.stale and late.reasons == ["心跳中断"]
        assert late.beat_age_s is not None and late.beat_age_s > 15


def test_only_a_pipeline_key_beats_and_only_for_its_own_centers_windows(api: LiveService) -> None:
    _, (ours,), key = center_with_windows(api, "01")
    _, (theirs,), _ = center_with_windows(api, "01")
    body = {"interval_s": 5, "windows": {ours["code"]: window_beat()}}
    assert api.client(None).post("/api/v1/heartbeats", json=body).status_code == 401
    assert api.pipeline("etq_nope_nope").post("/api/v1/heartbeats", json=body).status_code == 401
    for user in ("admin", "supervisor", "staff1"):
        assert api.client(user).post("/api/v1/heartbeats", json=body).status_code == 403, user

    r = api.pipeline(key).post("/api/v1/heartbeats", json={"interval_s": 5, "windows": {
        ours["code"]: window_beat(), theirs["code"]: window_beat(),
        "no-such-window": window_beat()}})
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": [ours["code"]], "unknown": ["no-such-window"],
                        "refused": [theirs["code"]]}
    with api.sessions() as session:
        built = hall.build(session=session, settings=api.settings, principal=SYSTEM_CLI)
    statuses = {w.code: w.status for c in built.centers for w in c.windows}
    assert statuses[ours["code"]] == "ok" and statuses[theirs["code"]] == "offline"


def test_a_body_that_is_no_heartbeat_is_refused(api: LiveService) -> None:
    _, (w1,), key = center_with_windows(api, "01")
    site = api.pipeline(key)
    for body in ({"windows": {w1["code"]: window_beat()}},  # no interval
                 {"interval_s": 0, "windows": {}},
                 {"interval_s": 5, "windows": {w1["code"]: window_beat(
                     camera={"seat": "asleep", "fps": 5})}},
                 {"interval_s": 5, "windows": {w1["code"]: window_beat(
                     audio={"state": "ok", "level_dbfs": "loud", "stream_s": 1})}},
                 {"interval_s": 5, "windows": {w1["code"]: {**window_beat(), "extra": 1}}},
                 {"interval_s": 5, "windows": {"a/b": window_beat()}}):
        r = site.post("/api/v1/heartbeats", json=body)
        assert r.status_code == 422, (body, r.text)


def test_the_hall_is_for_supervisors_admins_and_auditors(api: LiveService) -> None:
    assert api.client(None).get("/api/v1/hall").status_code == 401
    assert api.client("staff1").get("/api/v1/hall").status_code == 403
    assert api.pipeline().get("/api/v1/hall").status_code == 401
    for user in ("admin", "supervisor", "auditor"):
        assert api.client(user).get("/api/v1/hall").status_code == 200, user

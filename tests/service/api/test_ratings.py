"""好差评 over HTTP: the hall's evaluation device posts ratings with its center's key; each is
stored once and attached to the session it rates (by ticket, else by time), or kept
unattached; the monthly report sets each window's 差评 rate beside its incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from factories.service import a_morning, center_with_windows, post_session, rating
from service.conftest import LiveService


def test_a_rating_needs_its_centers_key(api: LiveService) -> None:
    _, windows, key = center_with_windows(api, "01")
    _, other_windows, _ = center_with_windows(api, "01")
    body = rating(windows[0]["code"], datetime.now(UTC) - timedelta(minutes=5))
    assert api.client(None).post("/api/v1/ratings", json=body).status_code == 401
    # A logged-in supervisor is no evaluation device.
    assert api.client("supervisor").post("/api/v1/ratings", json=body).status_code == 401
    assert api.pipeline("etq_nothing_here").post("/api/v1/ratings", json=body).status_code == 401
    device = api.pipeline(key)
    refused = device.post("/api/v1/ratings", json={**body, "window_id": other_windows[0]["code"]})
    assert refused.status_code == 403 and "不属于本密钥的中心" in refused.json()["detail"]
    assert device.post("/api/v1/ratings", json=body).status_code == 201
    listed = api.client("supervisor").get("/api/v1/ratings",
                                          params={"window_pk": other_windows[0]["id"]}).json()
    assert listed["count"] == 0  # the refused rating was not kept


def test_bad_ratings_are_refused_naming_the_field(api: LiveService) -> None:
    _, windows, key = center_with_windows(api, "01")
    device, code = api.pipeline(key), windows[0]["code"]
    now = datetime.now(UTC)
    for bad, field in ((rating(code, now, level="good"), "level"),
                       (rating(code, now, level="满意"), "level"),
                       (rating(code, now.replace(tzinfo=None)), "at"),
                       (rating(code, now + timedelta(days=3)), "at"),
                       (rating(code, now, ticket="A 01"), "ticket")):
        r = device.post("/api/v1/ratings", json=bad)
        assert r.status_code == 422, bad
        assert field in r.text
    unknown = device.post("/api/v1/ratings", json=rating("no-such-window", now))
    assert unknown.status_code == 422 and "没有编码为 no-such-window 的窗口" in unknown.text


def test_a_retried_rating_is_stored_once(api: LiveService) -> None:
    _, windows, key = center_with_windows(api, "01")
    device = api.pipeline(key)
    body = rating(windows[0]["code"], datetime.now(UTC) - timedelta(minutes=1),
                  level="very_dissatisfied", comment="等了很久", ticket="B007")
    first = device.post("/api/v1/ratings", json=body)
    again = device.post("/api/v1/ratings", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["created"] and not again.json()["created"]
    changed = device.post("/api/v1/ratings", json={**body, "level": "satisfied"})
    assert changed.status_code == 409
    listed = api.client("auditor").get("/api/v1/ratings",
                                       params={"window_pk": windows[0]["id"]}).json()
    assert listed["count"] == 1
    shown = listed["data"][0]
    assert (shown["level"], shown["level_name"], shown["comment"]) == (
        "very_dissatisfied", "非常不满意", "等了很久")


def test_a_rating_attaches_to_its_session_by_ticket_else_by_time(api: LiveService) -> None:
    _, windows, key = center_with_windows(api, "01")
    device, code = api.pipeline(key), windows[0]["code"]
    start = a_morning()
    first = post_session(device, code, start, "A001")  # 10:00–10:05
    second = post_session(device, code, start + timedelta(minutes=6), "A002")  # 10:06–10:11

    def rated(at: datetime, **over: Any) -> str | None:
        r = device.post("/api/v1/ratings", json=rating(code, at, **over))
        assert r.status_code == 201, r.text
        return r.json()["session_id"]  # type: ignore[no-any-return]

    # By ticket: the first citizen rates late, after the second was served.
    assert rated(start + timedelta(minutes=12), ticket="A001") == first
    # By time: the session that holds the rating's time, or the last one ended before it.
    assert rated(start + timedelta(minutes=3)) == first
    assert rated(start + timedelta(minutes=8)) == second
    assert rated(start + timedelta(minutes=14)) == second
    # A ticket no session had: not the session of another ticket that ended last.
    assert rated(start + timedelta(minutes=12), ticket="C300") is None
    # Nothing at the window long before or long after.
    assert rated(start - timedelta(hours=1)) is None
    assert rated(start + timedelta(hours=3)) is None


def test_an_unattached_rating_is_listed_so_until_its_session_arrives(api: LiveService) -> None:
    _, windows, key = center_with_windows(api, "01")
    device, code = api.pipeline(key), windows[0]["code"]
    start = a_morning()
    body = rating(code, start + timedelta(minutes=4), ticket="D010", level="dissatisfied")
    assert device.post("/api/v1/ratings", json=body).json()["session_id"] is None
    reader = api.client("supervisor")
    unattached = reader.get("/api/v1/ratings", params={"window_pk": windows[0]["id"],
                                                       "attached": "false"}).json()
    assert [r["id"] for r in unattached["data"]] == [body["id"]]
    assert unattached["data"][0]["session_id"] is None
    # The session's record comes in after the rating (live posts it when it is judged).
    later = post_session(device, code, start, "D010")
    listed = reader.get("/api/v1/ratings", params={"window_pk": windows[0]["id"]}).json()
    assert listed["data"][0]["session_id"] == later


def test_a_rating_moves_to_its_own_session_when_that_arrives_after_it(api: LiveService) -> None:
    _, windows, key = center_with_windows(api, "01")
    device, code = api.pipeline(key), windows[0]["code"]
    start = a_morning()
    first = post_session(device, code, start, "E001")  # 10:00–10:05
    # The second citizen (10:06–10:11) rates at 10:10, before live judged and sent the session:
    # without a ticket the rating rates the previous citizen's session, ended within the gap.
    early = rating(code, start + timedelta(minutes=10), level="very_dissatisfied")
    assert device.post("/api/v1/ratings", json=early).json()["session_id"] == first
    # The first citizen rates by ticket just as late: that rating stays where its ticket is.
    by_ticket = rating(code, start + timedelta(minutes=10, seconds=30), ticket="E001")
    assert device.post("/api/v1/ratings", json=by_ticket).json()["session_id"] == first
    second = post_session(device, code, start + timedelta(minutes=6), "E002")

    def attached() -> dict[str, str | None]:
        listed = api.client("supervisor").get("/api/v1/ratings",
                                              params={"window_pk": windows[0]["id"]}).json()
        return {r["id"]: r["session_id"] for r in listed["data"]}

    assert attached() == {early["id"]: second, by_ticket["id"]: first}
    # A session that ended earlier than the one a rating is attached to takes nothing from it.
    post_session(device, code, start - timedelta(minutes=30), "E000")
    assert attached() == {early["id"]: second, by_ticket["id"]: first}

    # The move is audited as the other actions are: by the pipeline whose session moved it,
    # from which session to which, and told in Chinese on the audit page.
    def moves(rating_id: str) -> list[dict[str, Any]]:
        log = api.client("auditor").get("/api/v1/audit", params={
            "target_type": "rating", "target_id": rating_id, "action": "rating.reattach"})
        assert log.status_code == 200, log.text
        return list(log.json()["data"])

    (moved,) = moves(early["id"])
    assert moved["actor"].startswith("pipeline:")
    assert (moved["before"], moved["after"]) == ({"session_id": first}, {"session_id": second})
    assert moves(by_ticket["id"]) == []
    page = api.client("auditor").get("/audit", params={"action": "rating.reattach"})
    assert page.status_code == 200
    assert "评价关联到其所评的服务记录" in page.text
    assert f"服务记录：{first} → {second}" in page.text


def test_a_rating_attached_when_its_session_comes_later_is_audited(api: LiveService) -> None:
    _, windows, key = center_with_windows(api, "01")
    device, code = api.pipeline(key), windows[0]["code"]
    start = a_morning()
    body = rating(code, start + timedelta(minutes=4), ticket="F010")
    assert device.post("/api/v1/ratings", json=body).json()["session_id"] is None
    session_id = post_session(device, code, start, "F010")
    log = api.client("auditor").get("/api/v1/audit", params={
        "target_type": "rating", "target_id": body["id"], "action": "rating.reattach"}).json()
    (entry,) = log["data"]
    assert entry["actor"].startswith("pipeline:")
    assert (entry["before"], entry["after"]) == ({"session_id": None}, {"session_id": session_id})


def test_the_report_gives_each_windows_poor_rate_beside_its_incidents(api: LiveService) -> None:
    center, windows, key = center_with_windows(api, "01", "02")
    device = api.pipeline(key)
    at = a_morning()
    # Window 01: 10 ratings, 3 差评, no incident: 评价与监测不一致. Window 02: 4 ratings, 1 差评.
    levels = {windows[0]["code"]: ["very_satisfied"] * 5 + ["fairly_satisfied"] * 2
              + ["dissatisfied"] * 2 + ["very_dissatisfied"],
              windows[1]["code"]: ["satisfied"] * 3 + ["dissatisfied"]}
    for code, chosen in levels.items():
        for i, level in enumerate(chosen):
            r = device.post("/api/v1/ratings",
                            json=rating(code, at + timedelta(minutes=i), level=level))
            assert r.status_code == 201, r.text
    period = at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    report = api.client("supervisor").get(f"/api/v1/reports/{period}",
                                          params={"center_id": center["id"]}).json()
    rows = {r["number"]: r for r in report["windows"]}
    assert (rows["01"]["ratings"], rows["01"]["poor"], rows["01"]["poor_rate"]) == (10, 3, 0.3)
    assert rows["01"]["counted"] == 0 and rows["01"]["disagrees"]
    assert (rows["02"]["ratings"], rows["02"]["poor"], rows["02"]["poor_rate"]) == (4, 1, 0.25)
    assert not rows["02"]["disagrees"]  # too few ratings to set against the incidents
    assert report["ratings"] == 14 and "差评率" in report["agreement_rule"]
    csv = api.client("supervisor").get(f"/api/v1/reports/{period}/export",
                                       params={"center_id": center["id"], "format": "csv"}).text
    header, *lines = csv.lstrip("\ufeff").splitlines()
    assert "差评率" in header and "评价与监测" in header
    assert any(line.startswith("1,") and "30%" in line and "不一致" in line for line in lines)

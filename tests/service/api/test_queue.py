"""The review queue over the API, on SQLite and PostgreSQL: sort orders, full-text search
(transcript, staff, window; Chinese, short and long), the window by its shown number, bulk review
with a mixed batch, undo of one's own decision within its window, the queue's counts."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from etiquette.service.models import Incident

from factories.service import incident, post_incident
from service.conftest import LiveService


def a_day_of_its_own() -> datetime:
    """A day no other test's incidents fall on (the service is shared by the whole run)."""
    return datetime(2021, 1, 1, 10, tzinfo=UTC) + timedelta(days=random.randrange(2000))


def chinese_word(n: int = 4) -> str:
    """A run of rare CJK characters no transcript of another test holds."""
    return "".join(chr(0x4E00 + random.randrange(0x5000, 0x51A5)) for _ in range(n))


def post(api: LiveService, **over: Any) -> str:
    body = incident(**over)
    assert post_incident(api.pipeline(), body).status_code == 201
    return str(body["id"])


def ids_of(api: LiveService, who: str = "supervisor", **params: Any) -> list[str]:
    r = api.client(who).get("/api/v1/incidents", params=params)
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["data"]]


def test_newest_first_by_default_and_sorted_by_severity_or_window(api: LiveService) -> None:
    day = a_day_of_its_own()
    old_major = post(api, at_dt=day, severity="major", window_id="w-b")
    mid_critical = post(api, at_dt=day + timedelta(hours=1), severity="critical")
    new_minor = post(api, at_dt=day + timedelta(hours=2), severity="minor", window_id="w-b")
    that_day = {"date_from": day.date().isoformat(), "date_to": day.date().isoformat()}

    assert ids_of(api, **that_day) == [new_minor, mid_critical, old_major]
    assert ids_of(api, **that_day, sort="time") == [old_major, mid_critical, new_minor]
    assert ids_of(api, **that_day, sort="-severity") == [mid_critical, old_major, new_minor]
    assert ids_of(api, **that_day, sort="severity") == [new_minor, old_major, mid_critical]
    # Windows as shown (01 before 02), each newest first.
    assert ids_of(api, **that_day, sort="window") == [mid_critical, new_minor, old_major]
    assert ids_of(api, **that_day, sort="-window") == [new_minor, old_major, mid_critical]
    assert ids_of(api, **that_day, oldest_first=True) == [old_major, mid_critical, new_minor]
    r = api.client("supervisor").get("/api/v1/incidents", params={"sort": "staff"})
    assert r.status_code == 422


def test_the_window_filter_takes_its_number_or_department_as_shown(api: LiveService) -> None:
    day = a_day_of_its_own()
    at_a, at_b = post(api, at_dt=day, window_id="w-a"), post(api, at_dt=day, window_id="w-b")
    that_day = {"date_from": day.date().isoformat(), "date_to": day.date().isoformat()}
    for shown in ("w-b", "02", "人社局"):
        assert ids_of(api, **that_day, window_id=shown) == [at_b], shown
    assert ids_of(api, **that_day, window_id="01") == [at_a]
    assert ids_of(api, **that_day, window_id="03") == []


def test_search_finds_words_of_the_transcript_staff_and_window(api: LiveService) -> None:
    word, other = chinese_word(), chinese_word()
    day = a_day_of_its_own()
    that_day = {"date_from": day.date().isoformat(), "date_to": day.date().isoformat()}
    hit = post(api, at_dt=day, window_id="w-b", transcript=f"这个{word}我也不知道，你问别人去吧")
    miss = post(api, at_dt=day, window_id="w-a", transcript=f"您好，{other}请坐")

    assert ids_of(api, q=word) == [hit]  # four characters: through the trigram index
    assert ids_of(api, q=word[1:3], **that_day) == [hit]  # two: shorter than a trigram
    assert ids_of(api, q=f"{word} 不知道") == [hit]  # every word must be there
    assert ids_of(api, q=f"{word} 请坐") == []
    assert ids_of(api, q="李强", **that_day) == [hit]  # staff2 staffs w-b
    assert ids_of(api, q="T001", **that_day) == [miss]  # the staff's number, any case
    assert ids_of(api, q="t001", **that_day) == [miss]
    assert set(ids_of(api, q="人社局", **that_day)) == {hit}  # the window's department
    assert set(ids_of(api, q="   ", **that_day)) == {hit, miss}  # blank: no search
    # Wildcards and quotes are text, not query syntax.
    for literal in ("%", "_", '"', "不知道\" OR \"", "*"):
        assert ids_of(api, q=literal, **that_day) == [], literal
    # The CSV export and staff's own view search alike.
    csv = api.client("supervisor").get("/api/v1/incidents/export.csv", params={"q": word}).text
    assert hit in csv and miss not in csv
    assert ids_of(api, "staff2", q=word) == [hit]
    assert ids_of(api, "staff1", q=word) == []


def test_search_follows_a_changed_transcript(api: LiveService) -> None:
    before, after = chinese_word(), chinese_word()
    iid = post(api, transcript=f"原来说的是{before}")
    with api.sessions() as session:
        session.execute(update(Incident).where(Incident.id == iid)
                        .values(transcript=f"改正后是{after}"))
        session.commit()
    assert ids_of(api, q=after) == [iid]
    assert ids_of(api, q=before) == []


def test_bulk_dismiss_reports_each_incident_of_a_mixed_batch(api: LiveService) -> None:
    sup, admin = api.client("supervisor"), api.client("admin")
    fresh, taken = post(api), post(api)
    assert admin.post(f"/api/v1/incidents/{taken}/review",
                      json={"action": "confirm"}).status_code == 200
    unknown = str(uuid.uuid4())
    r = sup.post("/api/v1/incidents/bulk-review", json={
        "ids": [fresh, taken, unknown, fresh], "action": "dismiss", "reason": "群众在转述"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["done"], result["failed"]) == (1, 2)
    by_id = {o["id"]: o for o in result["data"]}
    assert list(by_id) == [fresh, taken, unknown]  # an id sent twice is done once
    assert by_id[fresh] == {"id": fresh, "ok": True, "status": "dismissed", "detail": None}
    assert not by_id[taken]["ok"] and by_id[taken]["status"] == "confirmed"
    assert "不能" in by_id[taken]["detail"]
    assert not by_id[unknown]["ok"] and by_id[unknown]["status"] is None
    assert "不存在" in by_id[unknown]["detail"]

    got = sup.get(f"/api/v1/incidents/{fresh}").json()
    assert (got["status"], got["review_reason"]) == ("dismissed", "群众在转述")
    history = [e["action"] for e in sup.get(f"/api/v1/incidents/{fresh}/history").json()["data"]]
    assert history.count("incident.dismiss") == 1  # audited as a single review is
    assert sup.get(f"/api/v1/incidents/{taken}").json()["status"] == "confirmed"

    # A dismissal needs its reason, for a batch as for one; a batch has ids; no reopening.
    for body in ({"ids": [post(api)], "action": "dismiss"}, {"ids": [], "action": "confirm"},
                 {"ids": [post(api)], "action": "reopen"}):
        assert sup.post("/api/v1/incidents/bulk-review", json=body).status_code == 422
    # Staff cannot review, not even their own.
    staff = api.client("staff1")
    r = staff.post("/api/v1/incidents/bulk-review", json={"ids": [post(api)], "action": "confirm"})
    assert r.status_code == 403


def test_undo_ones_own_decision_within_the_window(api: LiveService) -> None:
    sup, admin = api.client("supervisor"), api.client("admin")
    iid = post(api)
    assert sup.post(f"/api/v1/incidents/{iid}/review",
                    json={"action": "dismiss", "reason": "识别有误"}).status_code == 200

    r = admin.post(f"/api/v1/incidents/{iid}/undo")  # another reviewer's decision
    assert r.status_code == 403 and "本人" in r.json()["detail"]
    r = sup.post(f"/api/v1/incidents/{iid}/undo")
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["review_reason"], got["reviewed_at"]) == ("pending", None, None)
    history = sup.get(f"/api/v1/incidents/{iid}/history").json()["data"]
    undo = next(e for e in history if e["action"] == "incident.undo")
    assert undo["actor"] == "user:supervisor"
    assert undo["before"]["status"] == "dismissed" and undo["after"]["status"] == "pending"
    assert sup.post(f"/api/v1/incidents/{iid}/undo").status_code == 409  # nothing left to undo

    # Past the window (five minutes by default) the decision stays; reopening is the way back.
    assert sup.post(f"/api/v1/incidents/{iid}/review",
                    json={"action": "confirm"}).status_code == 200
    with api.sessions() as session:
        session.execute(update(Incident).where(Incident.id == iid).values(
            reviewed_at=datetime.now(UTC) - timedelta(minutes=6)))
        session.commit()
    r = sup.post(f"/api/v1/incidents/{iid}/undo")
    assert r.status_code == 409 and "5 分钟" in r.json()["detail"]
    assert sup.get(f"/api/v1/incidents/{iid}").json()["status"] == "confirmed"


def test_the_counts_of_waiting_work_are_the_callers_own(api: LiveService) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)

    def counts(who: str, **params: Any) -> dict[str, Any]:
        r = api.client(who).get("/api/v1/incidents/counts", params=params)
        assert r.status_code == 200, r.text
        return dict(r.json())

    before = counts("supervisor")
    own_before = counts("staff2")
    iid = post(api, window_id="w-b")
    after = counts("supervisor", since=since.isoformat(), window_id="02")
    assert after["pending"] == before["pending"] + 1 and after["new"] >= 1
    assert before["appealed"] is not None and before["new"] is None
    own = counts("staff2")
    assert own["pending"] == own_before["pending"] + 1 and own["appealed"] is None
    assert own["pending"] == api.client("staff2").get(
        "/api/v1/incidents", params={"status": "pending"}).json()["count"]
    assert counts("staff1", since=since.isoformat(), window_id="02")["new"] == 0
    assert counts("supervisor", since=datetime.now(UTC).isoformat())["new"] == 0
    assert api.client("supervisor").post(f"/api/v1/incidents/{iid}/review",
                                         json={"action": "confirm"}).status_code == 200
    assert counts("supervisor")["pending"] == after["pending"] - 1


def test_two_reviewers_at_once_never_both_decide_an_incident(api: LiveService) -> None:
    """A bulk confirmation and a bulk dismissal of the same incidents at the same moment: each
    incident is decided once, by one of them; the other is told so for that incident."""
    ids = [post(api) for _ in range(8)]
    bodies = {"supervisor": {"ids": ids, "action": "confirm"},
              "admin": {"ids": ids[::-1], "action": "dismiss", "reason": "重复"}}
    start = threading.Barrier(2)
    results: dict[str, dict[str, Any]] = {}

    def act(who: str) -> None:
        client = api.client(who)
        start.wait()
        r = client.post("/api/v1/incidents/bulk-review", json=bodies[who])
        assert r.status_code == 200, r.text
        results[who] = {o["id"]: o for o in r.json()["data"]}

    threads = [threading.Thread(target=act, args=(who,)) for who in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert set(results) == set(bodies)
    sup = api.client("supervisor")
    for iid in ids:
        oks = [who for who in bodies if results[who][iid]["ok"]]
        assert len(oks) == 1, (iid, results)
        decided = sup.get(f"/api/v1/incidents/{iid}").json()["status"]
        assert decided == ("confirmed" if oks == ["supervisor"] else "dismissed")
        history = [e["action"] for e in sup.get(f"/api/v1/incidents/{iid}/history").json()["data"]]
        assert sum(a in ("incident.confirm", "incident.dismiss") for a in history) == 1

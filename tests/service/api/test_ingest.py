"""Ingest over HTTP: stored once, validated, attributed, audited; every refusal says why."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from etiquette.core.records import Incident as IncidentRecord
from etiquette.service.models import AuditEntry, Evidence, Incident
from etiquette.service.schemas import IncidentIn

from factories.service import at_once, incident, jpeg_bytes, post_incident, wav_bytes
from service.conftest import LiveService


def stored(api: LiveService, incident_id: str) -> tuple[int, int]:
    with api.sessions() as s:
        return (s.scalar(select(func.count()).select_from(Incident)
                         .where(Incident.id == incident_id)) or 0,
                s.scalar(select(func.count()).select_from(Evidence)
                         .where(Evidence.incident_id == incident_id)) or 0)


def test_the_record_of_the_speech_path_is_what_ingest_takes() -> None:
    """One name for one thing: every field of an incident line is an ingest field."""
    record_fields = {f.name for f in dataclasses.fields(IncidentRecord)} - {"evidence"}
    assert record_fields <= set(IncidentIn.model_fields)


def test_ingest_stores_the_incident_with_its_clip_attributed_to_the_staff_on_duty(
        api: LiveService) -> None:
    body = incident()
    r = post_incident(api.pipeline(), body)
    assert r.status_code == 201, r.text
    assert r.json() == {"id": body["id"], "created": True, "status": "pending",
                        "evidence": ["clip"]}
    got = api.client("supervisor").get(f"/api/v1/incidents/{body['id']}").json()
    assert got["staff"]["employee_no"] == "T001" and got["staff"]["name"] == "王芳"
    assert got["center_name"] == "南昌市政务服务中心" and got["window_number"] == "01"
    assert got["transcript"][got["hit_start"]:got["hit_end"]] == "不只道"
    assert got["evidence"][0]["role"] == "clip" and got["evidence"][0]["media_type"] == "audio/wav"
    clip = api.client("supervisor").get(got["evidence"][0]["url"])
    assert clip.status_code == 200 and clip.content == wav_bytes()
    with api.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.target_id == body["id"])).one()
    assert entry.action == "incident.ingest" and entry.actor == "pipeline:test-pipeline"


def test_the_hit_span_sent_is_stored_and_is_what_the_page_highlights(api: LiveService) -> None:
    """The span names the words, even where the explanation's words occur earlier too."""
    body = incident(transcript="不知道，我真的不知道", hit_start=7, hit_end=10,
                    explanation="「不知道」匹配「不知道」（逐字相同），相似度 1.00")
    assert post_incident(api.pipeline(), body).status_code == 201
    sup = api.client("supervisor")
    got = sup.get(f"/api/v1/incidents/{body['id']}").json()
    assert (got["hit_start"], got["hit_end"]) == (7, 10)
    page = sup.get(f"/incidents/{body['id']}")
    assert page.status_code == 200
    assert ('<p class="transcript" id="transcript">不知道，我真的<mark>不知道</mark></p>'
            in page.text)


def test_a_line_from_a_pipeline_older_than_the_span_is_located_from_its_explanation(
        api: LiveService) -> None:
    body = {k: v for k, v in incident().items() if k not in ("hit_start", "hit_end")}
    assert post_incident(api.pipeline(), body).status_code == 201
    got = api.client("supervisor").get(f"/api/v1/incidents/{body['id']}").json()
    assert got["transcript"][got["hit_start"]:got["hit_end"]] == "不只道"


def test_a_missing_greeting_has_no_span(api: LiveService) -> None:
    body = incident(kind="missing_greeting", rule_id="R-greeting", rule_name="接待问候（来有迎声）",
                    phrase="您好，请问您需要办理什么业务",
                    transcript="您好，请问您需要办理什么业务吗",
                    explanation="0–30 秒内工作人员未说出「您好，请问您需要办理什么业务」或同义用语",
                    hit_start=None, hit_end=None)
    assert post_incident(api.pipeline(), body).status_code == 201
    got = api.client("supervisor").get(f"/api/v1/incidents/{body['id']}").json()
    assert (got["hit_start"], got["hit_end"]) == (None, None)


def test_the_same_incident_twice_is_stored_once(api: LiveService) -> None:
    body = incident()
    first = post_incident(api.pipeline(), body)
    again = post_incident(api.pipeline(), body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["created"] is False
    assert stored(api, body["id"]) == (1, 1)


def test_concurrent_retries_of_one_incident_store_one(api: LiveService) -> None:
    body = incident()
    assert at_once(api, lambda client: post_incident(client, body), 8) == [200] * 7 + [201]
    assert stored(api, body["id"]) == (1, 1)


def test_the_same_id_with_other_content_is_refused(api: LiveService) -> None:
    body = incident()
    assert post_incident(api.pipeline(), body).status_code == 201
    r = post_incident(api.pipeline(), {**body, "score": 0.5})
    assert r.status_code == 409 and "different content" in r.json()["detail"]
    assert f"事件 {body['id']} 已以不同内容保存" in r.json()["detail"]  # for the site's staff too
    r = post_incident(api.pipeline(), body, files={"clip": ("c.wav", wav_bytes(3.0), "audio/wav")})
    assert r.status_code == 409


@pytest.mark.parametrize(("kind", "name", "roles"), [
    ("off_post", "离岗", ("empty_seat", "last_seen")),
    ("asleep_at_post", "睡岗", ("first_frame", "last_frame")),
    ("gathering", "聚集闲聊", ("first_frame", "last_frame")),
])
def test_camera_incidents_with_their_snapshots_are_accepted(
        api: LiveService, kind: str, name: str, roles: tuple[str, str]) -> None:
    body = incident(kind=kind, rule_id=f"P-{kind}", rule_name=name, phrase=None,
                    transcript="", explanation="服务时间内共 20 分", window_id="w-b")
    files = {role: (f"{role}.jpg", jpeg_bytes(quality), "image/jpeg")
             for role, quality in zip(roles, (90, 160), strict=True)}
    r = post_incident(api.pipeline(), body, files=files)
    assert r.status_code == 201, r.text
    assert sorted(r.json()["evidence"]) == sorted(roles)
    got = api.client("supervisor").get(f"/api/v1/incidents/{body['id']}").json()
    assert got["staff"]["employee_no"] == "T002" and got["hit_start"] is None
    img = api.client("supervisor").get(f"/api/v1/incidents/{body['id']}/evidence/{roles[1]}")
    assert img.headers["content-type"] == "image/jpeg" and img.content == jpeg_bytes(160)


def test_an_unknown_window_is_kept_without_attribution(api: LiveService) -> None:
    body = incident(window_id="not-in-master-data")
    assert post_incident(api.pipeline(), body).status_code == 201
    got = api.client("supervisor").get(f"/api/v1/incidents/{body['id']}").json()
    assert got["staff"] is None and got["window_number"] is None
    assert got["center_id"] == api.ids["center"]  # the key's center


def test_incident_without_recording_time_is_accepted(api: LiveService) -> None:
    body = incident(at_dt=None)
    assert post_incident(api.pipeline(), body).status_code == 201


def future() -> str:
    return (datetime.now(UTC) + timedelta(days=3)).isoformat()


BAD_INCIDENTS = {
    "not json": "{not json",
    "not an object": "[1, 2]",
    "missing id": {k: v for k, v in incident().items() if k != "id"},
    "id not a uuid": incident(id="../../etc/passwd"),
    "unknown kind": incident(kind="rudeness"),
    "unknown severity": incident(severity="apocalyptic"),
    "unknown speaker": incident(speaker="robot"),
    "unknown field": incident(colour="red"),
    "end before offset": incident(offset_s=5.0, end_s=4.0),
    "negative offset": incident(offset_s=-1.0),
    "score above one": incident(score=1.5),
    "time in the future": incident(at=future()),
    "time without zone": incident(at="2026-01-01T10:00:00"),
    "time before 2000": incident(at="1999-12-31T23:00:00+00:00"),
    "bad rule id": incident(rule_id="F1 1; drop"),
    "window id with slash": incident(window_id="a/b"),
    "hit span out of range": incident(hit_start=3, hit_end=999),
    "hit start alone": incident(hit_start=3, hit_end=None),
    "hit end alone": incident(hit_start=None, hit_end=5),
    "hit span backwards": incident(hit_start=6, hit_end=4),
    "hit span empty": incident(hit_start=4, hit_end=4),
    "hit start negative": incident(hit_start=-1, hit_end=3),
    "hit start not an integer": incident(hit_start=4.5, hit_end=7),
    "hit end a string": incident(hit_start=4, hit_end="7"),
    "transcript too long": incident(transcript="字" * 20001),
}


@pytest.mark.parametrize("case", sorted(BAD_INCIDENTS))
def test_a_malformed_incident_is_refused_with_422_saying_what(api: LiveService, case: str) -> None:
    body = BAD_INCIDENTS[case]
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    r = api.pipeline().post("/api/v1/incidents", data={"incident": text},
                            files={"clip": ("c.wav", wav_bytes(), "audio/wav")})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("incident")


@pytest.mark.parametrize("span,says", [
    ((3, 999), "hit_end 999 is past the end of the transcript (14 characters)"),
    ((3, None), "hit_start without hit_end"),
    ((None, 5), "hit_end without hit_start"),
    ((6, 4), "hit_start 6 must be before hit_end 4"),
    ((-1, 3), "hit_start: Input should be greater than or equal to 0"),
    ((4.5, 7), "hit_start: Input should be a valid integer"),
    ((4, "7"), "hit_end: Input should be a valid integer"),
])
def test_a_bad_hit_span_is_refused_naming_the_field(api: LiveService, span: tuple[Any, Any],
                                                    says: str) -> None:
    body = incident(hit_start=span[0], hit_end=span[1])
    r = post_incident(api.pipeline(), body)
    assert r.status_code == 422 and says in r.json()["detail"], r.text


def test_a_missing_incident_field_is_refused(api: LiveService) -> None:
    r = api.pipeline().post("/api/v1/incidents",
                            files={"clip": ("c.wav", wav_bytes(), "audio/wav")})
    assert r.status_code == 422
    assert any(e["loc"][-1] == "incident" for e in r.json()["detail"])


@pytest.mark.parametrize("role,data,status,says", [
    ("clip", jpeg_bytes(), 415, "must be audio"),
    ("snapshot", wav_bytes(), 415, "must be image"),
    ("clip", b"\x00" * 1000, 415, "unrecognised"),
    ("clip", b"", 422, "empty"),
    ("clip", b"RIFF\x10\x00\x00\x00WAVEjunkjunk", 422, "not a readable WAV"),
    ("clip", wav_bytes(61.0, rate=8000), 422, "at most 60 s"),
    ("clip", wav_bytes(300.0), 413, "limit"),
])
def test_bad_evidence_is_refused(api: LiveService, role: str, data: bytes, status: int,
                                 says: str) -> None:
    body = incident()
    r = post_incident(api.pipeline(), body,
                      files={role: ("f.bin", data, "application/octet-stream")})
    assert r.status_code == status, r.text
    assert says in r.json()["detail"]
    assert stored(api, body["id"]) == (0, 0)


def test_an_unknown_evidence_role_is_not_stored(api: LiveService) -> None:
    body = incident()
    r = post_incident(api.pipeline(), body, files={"clip": ("c.wav", wav_bytes(), "audio/wav"),
                                                   "../../x": ("x.wav", wav_bytes(), "audio/wav")})
    assert r.status_code == 201 and r.json()["evidence"] == ["clip"]


@pytest.mark.parametrize("key", [None, "", "nonsense", "etq_000000000000_wrongsecret",
                                 "etq_" + "a" * 300])
def test_ingest_without_a_valid_key_is_401(api: LiveService, key: str | None) -> None:
    from factories.service import Api

    headers = {"X-API-Key": key} if key is not None else {}
    with Api(api.base_url, headers=headers) as client:
        r = post_incident(client, incident())
    assert r.status_code == 401 and "API key" in r.json()["detail"]


def test_a_logged_in_user_cannot_ingest(api: LiveService) -> None:
    r = post_incident(api.client("admin"), incident())
    assert r.status_code == 401


def test_a_revoked_key_cannot_ingest(api: LiveService) -> None:
    admin = api.client("admin")
    created = admin.post("/api/v1/api-keys", json={"name": f"temp-{uuid.uuid4().hex[:6]}"}).json()
    assert post_incident(api.pipeline(created["key"]), incident()).status_code == 201
    assert admin.delete(f"/api/v1/api-keys/{created['id']}").json()["revoked_at"]
    assert post_incident(api.pipeline(created["key"]), incident()).status_code == 401
    # A key with the right prefix but another secret is no key either.
    forged = created["key"].rsplit("_", 1)[0] + "_" + "x" * 43
    assert post_incident(api.pipeline(forged), incident()).status_code == 401

"""Evidence is purged when its retention ends, never while an appeal may still need it; a
service session's words (its utterances' text) are erased when its retention ends, never while
an unanswered complaint or an appeal still needs them, and its facts stay."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from etiquette.files import atomic_writer
from etiquette.service.core.db import make_engine, make_sessionmaker
from etiquette.service.evidence_store import EvidenceStore
from etiquette.service.models import AuditEntry, Evidence, Incident
from etiquette.service.services.retention import purge_expired

from factories.service import (
    center_with_windows,
    incident,
    jpeg_bytes,
    make_incident,
    post_incident,
    session_record,
    wav_bytes,
)
from service.conftest import LiveService, settings_for, start_service, stop_service


def age(api: LiveService, iid: str, days: float, reviewed_days_ago: float | None = None) -> None:
    now = datetime.now(UTC)
    values: dict = {"at": now - timedelta(days=days), "received_at": now - timedelta(days=days)}
    if reviewed_days_ago is not None:
        values["reviewed_at"] = now - timedelta(days=reviewed_days_ago)
    with api.sessions() as s:
        s.execute(update(Incident).where(Incident.id == iid).values(**values))
        s.commit()


def sha_of(api: LiveService, iid: str, role: str = "clip") -> str:
    with api.sessions() as s:
        return s.scalars(select(Evidence.sha256).where(Evidence.incident_id == iid,
                                                       Evidence.role == role)).one()


def test_retention_per_kind_and_while_appeals_are_open(api: LiveService) -> None:
    store = EvidenceStore(api.settings.evidence_dir)
    sup = api.client("supervisor")
    # Distinct clips, so that each file belongs to one incident only.
    def speech(freq: float) -> str:
        body = incident()
        assert post_incident(api.pipeline(), body, files={
            "clip": ("c.wav", wav_bytes(1.0, freq=freq), "audio/wav")}).status_code == 201
        return body["id"]

    old_speech, young_speech = speech(301.0), speech(302.0)
    off_post = incident(kind="off_post", rule_id="P-off-post", rule_name="离岗", phrase=None,
                        transcript="", explanation="离座 1000 秒")
    assert post_incident(api.pipeline(), off_post, files={
        "empty_seat": ("e.jpg", jpeg_bytes(33), "image/jpeg")}).status_code == 201
    confirmed_open, appealed = speech(303.0), speech(304.0)
    confirmed_closed = speech(305.0)
    for iid in (confirmed_open, appealed, confirmed_closed):
        r = sup.post(f"/api/v1/incidents/{iid}/review", json={"action": "confirm"})
        assert r.status_code == 200
    assert api.client("staff1").post(f"/api/v1/incidents/{appealed}/appeal",
                                     json={"reason": "r"}).status_code == 200
    age(api, old_speech, 91)
    age(api, young_speech, 60)
    age(api, off_post["id"], 31)  # off_post: 30 days
    age(api, confirmed_open, 200, reviewed_days_ago=1)  # the appeal window (15 days) is open
    age(api, appealed, 200, reviewed_days_ago=100)  # an appeal waits for its decision
    age(api, confirmed_closed, 200, reviewed_days_ago=16)
    files = {i: sha_of(api, i) for i in (old_speech, young_speech, confirmed_open, appealed,
                                         confirmed_closed)}
    files[off_post["id"]] = sha_of(api, off_post["id"], "empty_seat")

    r = api.client("admin").post("/api/v1/retention/run")
    assert r.status_code == 200
    purged = {old_speech, off_post["id"], confirmed_closed}
    assert purged <= set(r.json()["incidents"])
    assert not {young_speech, confirmed_open, appealed} & set(r.json()["incidents"])
    for iid, sha in files.items():
        assert store.exists(sha) == (iid not in purged), iid
    got = sup.get(f"/api/v1/incidents/{old_speech}").json()
    assert got["evidence"][0]["url"] is None and got["evidence"][0]["purged_at"]
    assert sup.get(f"/api/v1/incidents/{old_speech}/evidence/clip").status_code == 410
    assert got["transcript"]  # the incident itself stays
    with api.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.target_id == old_speech,
                                                   AuditEntry.action == "evidence.purge")).one()
    assert entry.actor == "user:admin" and entry.before == {"evidence": ["clip"]}


def test_shared_files_stay_while_another_incident_uses_them(api: LiveService) -> None:
    store = EvidenceStore(api.settings.evidence_dir)
    clip = wav_bytes(1.0, freq=777.0)
    a, b = incident(), incident()
    for body in (a, b):
        r = post_incident(api.pipeline(), body, files={"clip": ("c.wav", clip, "audio/wav")})
        assert r.status_code == 201
    age(api, a["id"], 100)
    with api.sessions() as s:
        purge_expired(session=s, store=store, settings=api.settings)
    assert store.exists(sha_of(api, b["id"]))


def test_a_sessions_words_are_erased_after_its_retention_unless_still_needed(
        api: LiveService) -> None:
    _, (window,), key = center_with_windows(api, "01")
    device, sup, now = api.pipeline(key), api.client("supervisor"), datetime.now(UTC)

    def served(days_ago: float, window_id: str = window["code"], pipeline: Any = device,
               **over: Any) -> dict[str, Any]:
        body = session_record(window_id=window_id, start=now - timedelta(days=days_ago),
                              **over).to_json()
        assert pipeline.post("/api/v1/sessions", json=body).status_code == 201
        return body

    def complain(about: dict[str, Any]) -> int:
        at = datetime.fromisoformat(about["start_at"]) + timedelta(seconds=20)
        r = sup.post("/api/v1/complaints", json={"window_pk": window["id"], "channel": "phone",
                                                 "at": at.isoformat(), "text": "态度生硬"})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    old, young = served(100), served(60)  # retention: 90 days
    complained, answered = served(120), served(130)
    pending = complain(complained)
    assert sup.post(f"/api/v1/complaints/{complain(answered)}/reply",
                    json={"reply": "已核实并致歉"}).status_code == 200
    appealed_incident = make_incident(api, "staff1", "appealed")
    appealed = served(140, window_id="w-a", pipeline=api.pipeline(),
                      incident_ids=(appealed_incident,))

    r = api.client("admin").post("/api/v1/retention/run")
    assert r.status_code == 200
    erased = set(r.json()["sessions"])
    assert {old["id"], answered["id"]} <= erased
    assert not {young["id"], complained["id"], appealed["id"]} & erased
    got = sup.get(f"/api/v1/sessions/{old['id']}").json()
    assert got["words_purged_at"] and [t["text"] for t in got["turns"]] == [None] * 3
    # The record's facts stay: its timeline's spans, checks, ticket and talk time.
    assert [(t["speaker"], t["start_s"]) for t in got["turns"]] == [
        (t["speaker"], t["start_s"]) for t in old["turns"]]
    assert (got["ticket"], got["staff_talk_s"], got["failed"]) == ("A012", 9.5, ["送别用语"])
    for kept in (young, complained, appealed):
        shown = sup.get(f"/api/v1/sessions/{kept['id']}").json()
        assert shown["words_purged_at"] is None
        assert shown["turns"][0]["text"] == "您好，请问办理什么业务？"
    # The pipeline's retry of an erased session brings no words back.
    assert device.post("/api/v1/sessions", json=old).status_code == 200
    assert sup.get(f"/api/v1/sessions/{old['id']}").json()["turns"][0]["text"] is None
    with api.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.target_id == old["id"],
                                                   AuditEntry.action == "session.words_purge")
                          ).one()
    assert entry.actor == "user:admin" and entry.before == {"words": 2}

    # Once its complaint is answered, the session is no longer held.
    assert sup.post(f"/api/v1/complaints/{pending}/reply",
                    json={"reply": "已核实"}).status_code == 200
    again = api.client("admin").post("/api/v1/retention/run").json()["sessions"]
    assert complained["id"] in again and old["id"] not in again


def test_orphan_files_are_swept_after_the_grace_period(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path, orphan_grace_s=0.0)
    engine = make_engine(settings.sqlalchemy_url)
    from etiquette.service.main import prestart

    prestart(settings, engine)
    store = EvidenceStore(settings.evidence_dir)
    sha = store.put(b"bytes of an upload whose transaction failed")
    time.sleep(0.05)
    with make_sessionmaker(engine)() as s:
        report = purge_expired(session=s, store=store, settings=settings)
    assert report.orphans_deleted == 1 and not store.exists(sha)
    engine.dispose()


def test_a_write_killed_long_ago_is_swept_and_one_in_progress_is_not(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)  # the default grace: an hour
    engine = make_engine(settings.sqlalchemy_url)
    from etiquette.service.main import prestart

    prestart(settings, engine)
    store = EvidenceStore(settings.evidence_dir)
    # What a service killed while writing a clip leaves: its temporary, two hours old.
    killed = store.path("ab" * 32)
    stale = killed.with_name(f".{killed.name}.{'0' * 32}.tmp")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"RIFF half a clip")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    data = wav_bytes(1.0, freq=440.0)
    target = store.path(hashlib.sha256(data).hexdigest())
    try:
        with atomic_writer(target) as f:  # an upload being written while the sweep runs
            f.write(data[:1000])
            writing = [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
            with make_sessionmaker(engine)() as s:
                report = purge_expired(session=s, store=store, settings=settings)
            assert report.temporaries_deleted == 1 and not stale.exists()
            assert len(writing) == 1 and writing[0].exists()
            f.write(data[1000:])
    finally:
        engine.dispose()
    assert target.read_bytes() == data and not writing[0].exists()


def test_the_scheduled_job_purges_on_its_own(tmp_path) -> None:  # type: ignore[no-untyped-def]
    live = start_service(settings_for(tmp_path, retention_interval_s=0.2), "sqlite")
    try:
        from service.conftest import seed

        seed(live)
        body = incident()
        assert post_incident(live.pipeline(), body).status_code == 201
        age(live, body["id"], 100)
        for _ in range(300):  # bounded wait for the job's next run (at most 30 s)
            with live.sessions() as s:
                done = s.scalars(select(Incident.evidence_purged_at)
                                 .where(Incident.id == body["id"])).one()
            if done:
                break
            time.sleep(0.1)
        assert done is not None
        with live.sessions() as s:
            entry = s.scalars(select(AuditEntry).where(AuditEntry.target_id == body["id"],
                                                       AuditEntry.action == "evidence.purge")).one()
        assert entry.actor == "system:retention"
    finally:
        stop_service(live)

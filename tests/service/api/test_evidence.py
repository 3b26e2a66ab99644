"""Evidence is served only to those who may see the incident, and only from the store; it is
accepted only when it decodes (audio through PyAV, images through OpenCV) and fits the incident,
and served as the type it was validated as."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from etiquette.service.models import Evidence, Incident

from factories.media import write_media
from factories.service import (
    incident,
    jpeg_bytes,
    make_incident,
    png_bytes,
    post_incident,
    wav_bytes,
)
from service.conftest import LiveService


def test_evidence_supports_range_requests_for_the_audio_player(api: LiveService) -> None:
    iid = make_incident(api)
    r = api.client("supervisor").get(f"/api/v1/incidents/{iid}/evidence/clip",
                                     headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and r.content == wav_bytes()[:100]
    assert r.headers["cache-control"] == "private, no-store"


@pytest.mark.parametrize("path", [
    "/api/v1/incidents/{iid}/evidence/..%2F..%2Fetiquette.db",
    "/api/v1/incidents/{iid}/evidence/%2e%2e",
    "/api/v1/incidents/..%2F..%2Fetc%2Fpasswd/evidence/clip",
    "/api/v1/incidents/{iid}/evidence/snapshot",
    "/api/v1/incidents/{random}/evidence/clip",
    "/static/..%2F..%2Fservice%2Fmodels.py",
])
def test_no_request_reaches_a_file_outside_the_evidence_store(api: LiveService, path: str) -> None:
    iid = make_incident(api)
    r = api.client("admin").get(path.format(iid=iid, random=uuid.uuid4()))
    assert r.status_code in (404, 422), (path, r.status_code)
    assert b"sqlite" not in r.content.lower() and b"import" not in r.content


def test_anonymous_and_pipelines_cannot_fetch_evidence(api: LiveService) -> None:
    iid = make_incident(api)
    assert api.client(None).get(f"/api/v1/incidents/{iid}/evidence/clip").status_code == 401
    assert api.pipeline().get(f"/api/v1/incidents/{iid}/evidence/clip").status_code == 401


# ---------------------------------------------------------------- validated by decoding


def stored(live: LiveService, incident_id: str) -> int:
    with live.sessions() as s:
        return s.scalar(select(func.count()).select_from(Incident)
                        .where(Incident.id == incident_id)) or 0


def encoded(suffix: str, seconds: float, tmp_path: Path) -> bytes:
    """A real clip of `seconds` in another container (FFmpeg's encoders through PyAV)."""
    t = np.arange(int(seconds * 16000)) / 16000
    path = write_media(tmp_path / f"clip{suffix}", [(0.3 * np.sin(2 * np.pi * 330 * t))])
    return path.read_bytes()


PNG_SCRIPT = b"\x89PNG\r\n\x1a\n<script>alert(document.cookie)</script>"


@pytest.mark.parametrize("part,data,says", [
    ("snapshot", PNG_SCRIPT, "snapshot"),
    ("snapshot", png_bytes() + b"<script>alert(1)</script>", "snapshot"),
    ("snapshot", png_bytes()[:-40], "snapshot"),
    ("empty_seat", jpeg_bytes()[: len(jpeg_bytes()) // 2], "empty_seat"),
    ("last_seen", b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>", "last_seen"),
    ("clip", b"RIFF\x24\x00\x00\x00WAVE<script>alert(1)</script>", "not a readable WAV"),
    ("clip", wav_bytes(2.0)[:44 + 16000], "cut short"),  # header: 2 s; data: 0.5 s
    ("clip", b"\xff\xfb\x90\x00" + b"<script>alert(1)</script>" * 40, "clip"),
    ("clip", b"OggS" + bytes(200), "clip"),
], ids=["png-signature-then-script", "png-then-script", "png-cut-short", "jpeg-cut-short",
        "jpeg-signature-then-html", "wav-header-then-script", "wav-cut-short", "mp3-sync-then-text",
        "ogg-signature-then-zeros"])
def test_evidence_that_does_not_decode_is_refused(sqlite_service: LiveService, part: str,
                                                  data: bytes, says: str) -> None:
    """Decoding is the same on either database: one backend is enough."""
    body = incident()
    files = {"clip": ("c.wav", wav_bytes(), "audio/wav")} if part != "clip" else {}
    files[part] = ("evidence.bin", data, "image/png" if part != "clip" else "audio/wav")
    r = post_incident(sqlite_service.pipeline(), body, files=files)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert says in detail and f"「{part}」" in detail  # the part named, in Chinese first
    assert stored(sqlite_service, body["id"]) == 0


@pytest.mark.parametrize("over,seconds,status", [
    ({}, 30.0, 422),  # a 0.7 s phrase: its clip is the phrase ±1.5 s
    ({}, 5.0, 422),
    ({}, 3.5, 201),
    ({"offset_s": 10.0, "end_s": 18.0}, 1.0, 422),  # an 8 s utterance in a 1 s clip
    ({"offset_s": 10.0, "end_s": 18.0}, 10.9, 201),
    ({"kind": "missing_greeting", "offset_s": 0.0, "end_s": 95.0}, 25.0, 422),  # first 10 s
    ({"kind": "missing_farewell", "offset_s": 0.0, "end_s": 95.0}, 10.0, 201),
])
def test_a_clip_whose_length_contradicts_the_incident_is_refused(
        sqlite_service: LiveService, over: dict[str, Any], seconds: float, status: int) -> None:
    body = incident(**over)
    r = post_incident(sqlite_service.pipeline(), body,
                      files={"clip": ("c.wav", wav_bytes(seconds, rate=8000), "audio/wav")})
    assert r.status_code == status, r.text
    if status == 422:
        assert "「clip」时长" in r.json()["detail"] and "与事件不符" in r.json()["detail"]
        assert stored(sqlite_service, body["id"]) == 0


def test_valid_evidence_is_served_as_the_type_it_was_validated_as(api: LiveService) -> None:
    body = incident()
    clip, snapshot = wav_bytes(2.5, freq=523.0), png_bytes(91)
    r = post_incident(api.pipeline(), body, files={"clip": ("c.bin", clip, "text/html"),
                                                   "snapshot": ("s.bin", snapshot, "text/html")})
    assert r.status_code == 201, r.text
    sup = api.client("supervisor")
    for role, data, media_type in (("clip", clip, "audio/wav"),
                                   ("snapshot", snapshot, "image/png")):
        got = sup.get(f"/api/v1/incidents/{body['id']}/evidence/{role}")
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-type"] == media_type  # not what the client claimed
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"].startswith("inline;")  # the workbench shows it


@pytest.mark.parametrize("suffix,media_type", [(".flac", "audio/flac"), (".mp3", "audio/mpeg"),
                                               (".ogg", "audio/ogg")])
def test_clips_in_other_containers_are_decoded_and_typed(sqlite_service: LiveService,
                                                         tmp_path: Path, suffix: str,
                                                         media_type: str) -> None:
    body = incident()
    data = encoded(suffix, 2.0, tmp_path)
    r = post_incident(sqlite_service.pipeline(), body, files={"clip": ("c", data, "audio/wav")})
    assert r.status_code == 201, r.text
    got = sqlite_service.client("supervisor").get(f"/api/v1/incidents/{body['id']}/evidence/clip")
    assert got.headers["content-type"] == media_type and got.content == data


def test_a_stored_type_not_shown_by_the_workbench_is_an_attachment(api: LiveService) -> None:
    """A row from before ingest decoded its evidence may hold any type: it is served as bytes to
    save, never as something the browser renders."""
    iid = make_incident(api)
    with api.sessions() as s:
        row = s.scalars(select(Evidence).where(Evidence.incident_id == iid)).one()
        row.media_type = "text/html"
        s.commit()
    got = api.client("supervisor").get(f"/api/v1/incidents/{iid}/evidence/clip")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("parts", [
    [("clip", ("a.wav", wav_bytes(1.0, freq=300.0), "audio/wav")),
     ("clip", ("b.wav", wav_bytes(1.0, freq=600.0), "audio/wav"))],
    [("snapshot", ("a.jpg", jpeg_bytes(10), "image/jpeg")),
     ("snapshot", ("b.jpg", jpeg_bytes(20), "image/jpeg"))],
], ids=["two-clips", "two-snapshots"])
def test_a_part_sent_twice_is_refused(api: LiveService, parts: list[Any]) -> None:
    body = incident()
    r = api.pipeline().post("/api/v1/incidents",
                            data={"incident": json.dumps(body, ensure_ascii=False)}, files=parts)
    assert r.status_code == 422, r.text
    assert f"「{parts[0][0]}」重复" in r.json()["detail"]
    assert stored(api, body["id"]) == 0


def test_the_incident_part_sent_twice_is_refused(api: LiveService) -> None:
    first, second = incident(), incident()
    r = api.pipeline().post("/api/v1/incidents", files=[
        ("incident", (None, json.dumps(first).encode(), None)),
        ("incident", (None, json.dumps(second).encode(), None)),
        ("clip", ("c.wav", wav_bytes(), "audio/wav"))])
    assert r.status_code == 422 and "「incident」重复" in r.json()["detail"], r.text
    assert stored(api, first["id"]) == stored(api, second["id"]) == 0

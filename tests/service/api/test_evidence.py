"""Evidence is served only to those who may see the incident, and only from the store."""

from __future__ import annotations

import uuid

import pytest

from factories.service import make_incident, wav_bytes
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

"""The role matrix: each role × each endpoint, allowed or refused, over HTTP."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from factories.service import (
    Api,
    incident,
    make_incident,
    make_session,
    post_incident,
    session_record,
    window_beat,
)
from service.conftest import LiveService

ROLES = ("anonymous", "pipeline", "admin", "supervisor", "auditor", "staff1")


def same_rules_new_comment(api: LiveService) -> dict[str, Any]:
    """A new version that scores as the one in force (only a YAML comment differs), so saving it
    changes nothing for the other tests sharing this service."""
    current = api.client("admin").get("/api/v1/rules/current").text
    return {"yaml": f"{current.rstrip()}\n# {uniq()}\n", "comment": "role matrix"}


def same_scheme_new_comment(api: LiveService) -> dict[str, Any]:
    """A new scoring version that scores as the one in force (only a YAML comment differs)."""
    current = api.client("admin").get("/api/v1/scoring/in-force").json()["yaml"]
    return {"yaml": f"{current.rstrip()}\n# {uniq()}\n", "comment": "role matrix"}


def _an_hour_ago() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def make_commendation(api: LiveService) -> int:
    r = api.client("supervisor").post("/api/v1/commendations", json={
        "window_pk": 1, "reason": "群众表扬", "at": _an_hour_ago()})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def make_complaint(api: LiveService, owner: str = "staff1") -> int:
    """A complaint about the window `owner` staffs (w-a is window 1, w-b window 2)."""
    r = api.client("supervisor").post("/api/v1/complaints", json={
        "window_pk": 1 if owner == "staff1" else 2, "channel": "onsite", "at": _an_hour_ago(),
        "text": "办事时被催促"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def a_rating(api: LiveService) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "window_id": "w-a", "at": _an_hour_ago(),
            "level": "satisfied"}


def make_webhook(api: LiveService) -> int:
    """An inactive webhook (it sends nothing) for the endpoints that need one."""
    r = api.client("admin").post("/api/v1/webhooks", json={
        "name": f"hook-{uniq()}", "url": "http://127.0.0.1:9/", "active": False})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@dataclass(frozen=True)
class Case:
    method: str
    path: Callable[[LiveService], str]
    allowed: dict[str, int]  # role → success status; every other role is refused
    body: Callable[[LiveService], dict[str, Any]] | None = None
    refused: dict[str, int] | None = None  # role → refusal status other than 401/403
    kind: str = "json"

    def expected(self, role: str) -> int:
        if role in self.allowed:
            return self.allowed[role]
        if self.refused and role in self.refused:
            return self.refused[role]
        return 401 if role in ("anonymous", "pipeline") else 403


READERS = {"admin": 200, "supervisor": 200, "auditor": 200}
EVERYONE = {**READERS, "staff1": 200}
uniq = lambda: uuid.uuid4().hex[:8]  # noqa: E731

CASES: dict[str, Case] = {
    "list incidents": Case("GET", lambda a: "/api/v1/incidents", EVERYONE),
    "export csv": Case("GET", lambda a: "/api/v1/incidents/export.csv", EVERYONE),
    "own incident": Case("GET", lambda a: f"/api/v1/incidents/{make_incident(a)}", EVERYONE),
    "another's incident": Case("GET", lambda a: f"/api/v1/incidents/{make_incident(a, 'staff2')}",
                               READERS, refused={"staff1": 404}),
    "own evidence": Case("GET", lambda a: f"/api/v1/incidents/{make_incident(a)}/evidence/clip",
                         EVERYONE),
    "another's evidence": Case(
        "GET", lambda a: f"/api/v1/incidents/{make_incident(a, 'staff2')}/evidence/clip", READERS,
        refused={"staff1": 404}),
    "incident history": Case("GET", lambda a: f"/api/v1/incidents/{make_incident(a)}/history",
                             READERS),
    "confirm": Case("POST", lambda a: f"/api/v1/incidents/{make_incident(a)}/review",
                    {"admin": 200, "supervisor": 200}, body=lambda a: {"action": "confirm"}),
    "dismiss": Case("POST", lambda a: f"/api/v1/incidents/{make_incident(a)}/review",
                    {"admin": 200, "supervisor": 200},
                    body=lambda a: {"action": "dismiss", "reason": "识别错误"}),
    "queue counts": Case("GET", lambda a: "/api/v1/incidents/counts", EVERYONE),
    "bulk review": Case("POST", lambda a: "/api/v1/incidents/bulk-review",
                        {"admin": 200, "supervisor": 200},
                        body=lambda a: {"ids": [make_incident(a)], "action": "confirm"}),
    # The supervisor confirmed it (make_incident): only they may undo it.
    "undo review": Case("POST",
                        lambda a: f"/api/v1/incidents/{make_incident(a, status='confirmed')}/undo",
                        {"supervisor": 200}),
    "appeal own": Case(
        "POST", lambda a: f"/api/v1/incidents/{make_incident(a, status='confirmed')}/appeal",
        {"staff1": 200}, body=lambda a: {"reason": "我说的是“不知道您还需要什么”"}),
    "appeal another's": Case(
        "POST", lambda a: f"/api/v1/incidents/{make_incident(a, 'staff2', 'confirmed')}/appeal", {},
        body=lambda a: {"reason": "x"}, refused={"staff1": 404}),
    "decide appeal": Case(
        "POST",
        lambda a: f"/api/v1/incidents/{make_incident(a, status='appealed')}/appeal/decision",
        {"admin": 200, "supervisor": 200},
        body=lambda a: {"decision": "rejected", "reason": "录音清楚"}),
    "list centers": Case("GET", lambda a: "/api/v1/centers", READERS),
    "create center": Case("POST", lambda a: "/api/v1/centers", {"admin": 201},
                          body=lambda a: {"code": f"c-{uniq()}", "name": "新中心"}),
    "change window": Case("PATCH", lambda a: "/api/v1/windows/1", {"admin": 200},
                          body=lambda a: {"business_category": f"企业登记{uniq()}"}),
    "list staff": Case("GET", lambda a: "/api/v1/staff", READERS),
    "list assignments": Case("GET", lambda a: "/api/v1/assignments", READERS),
    "import master data": Case("POST", lambda a: "/api/v1/masterdata/import?format=yaml",
                               {"admin": 200}, kind="import"),
    "list users": Case("GET", lambda a: "/api/v1/users", {"admin": 200, "auditor": 200}),
    "create user": Case("POST", lambda a: "/api/v1/users", {"admin": 201},
                        body=lambda a: {"username": f"u{uniq()}", "password": "another-pass-123",
                                        "role": "supervisor"}),
    "list api keys": Case("GET", lambda a: "/api/v1/api-keys", {"admin": 200, "auditor": 200}),
    "create api key": Case("POST", lambda a: "/api/v1/api-keys", {"admin": 201},
                           body=lambda a: {"name": f"pipe-{uniq()}"}),
    "audit log": Case("GET", lambda a: "/api/v1/audit", {"admin": 200, "auditor": 200}),
    "rules": Case("GET", lambda a: "/api/v1/rules", EVERYONE),
    "rules in force as yaml": Case("GET", lambda a: "/api/v1/rules/current",
                                   {**EVERYONE, "pipeline": 200}),
    "rule versions": Case("GET", lambda a: "/api/v1/rules/versions", {"admin": 200}),
    "rule version in force": Case("GET", lambda a: "/api/v1/rules/versions/current",
                                  {"admin": 200}),
    "one rule version": Case("GET", lambda a: "/api/v1/rules/versions/1", {"admin": 200}),
    "save rules": Case("POST", lambda a: "/api/v1/rules/versions", {"admin": 201},
                       body=lambda a: same_rules_new_comment(a)),
    "run retention": Case("POST", lambda a: "/api/v1/retention/run", {"admin": 200}),
    "report": Case("GET", lambda a: "/api/v1/reports/2025-03", READERS),
    "report export": Case("GET", lambda a: "/api/v1/reports/2025-03/export?format=xlsx", READERS),
    "scoring versions": Case("GET", lambda a: "/api/v1/scoring/versions", READERS),
    "scoring in force": Case("GET", lambda a: "/api/v1/scoring/in-force", READERS),
    "one scoring version": Case("GET", lambda a: "/api/v1/scoring/versions/1", READERS),
    "save scoring": Case("POST", lambda a: "/api/v1/scoring/versions", {"admin": 201},
                         body=lambda a: same_scheme_new_comment(a)),
    "alert stream": Case("GET", lambda a: "/api/v1/alerts/stream",
                         {"admin": 200, "supervisor": 200}, kind="stream"),
    "list webhooks": Case("GET", lambda a: "/api/v1/webhooks", {"admin": 200, "auditor": 200}),
    "create webhook": Case("POST", lambda a: "/api/v1/webhooks", {"admin": 201},
                           body=lambda a: {"name": f"hook-{uniq()}", "url": "http://127.0.0.1:9/",
                                           "active": False}),
    "change webhook": Case("PATCH", lambda a: f"/api/v1/webhooks/{make_webhook(a)}", {"admin": 200},
                           body=lambda a: {"name": f"hook-{uniq()}"}),
    "commendations": Case("GET", lambda a: "/api/v1/commendations?period=2025-03", READERS),
    "commend": Case("POST", lambda a: "/api/v1/commendations", {"admin": 201, "supervisor": 201},
                    body=lambda a: {"window_pk": 1, "reason": "群众表扬", "at": _an_hour_ago()}),
    "withdraw commendation": Case("DELETE",
                                  lambda a: f"/api/v1/commendations/{make_commendation(a)}",
                                  {"admin": 204, "supervisor": 204}),
    "practice phrases": Case("GET", lambda a: "/api/v1/practice/phrases", {"staff1": 200}),
    "practice history": Case("GET", lambda a: "/api/v1/practice/attempts", {"staff1": 200}),
    # Staff pass the role check and reach the practice checker, which this service (like
    # `python -m etiquette.service`) was started without.
    "practise": Case("POST", lambda a: "/api/v1/practice/attempts", {"staff1": 503},
                     kind="practice"),
    "webhook deliveries": Case("GET", lambda a: f"/api/v1/webhooks/{make_webhook(a)}/deliveries",
                               {"admin": 200, "auditor": 200}),
    "me": Case("GET", lambda a: "/api/v1/auth/me", EVERYONE),
    "ingest": Case("POST", lambda a: "/api/v1/incidents", {"pipeline": 201}, kind="ingest",
                   refused={r: 401 for r in ("admin", "supervisor", "auditor", "staff1")}),
    "heartbeat": Case("POST", lambda a: "/api/v1/heartbeats", {"pipeline": 200},
                      body=lambda a: {"interval_s": 5, "windows": {"w-a": window_beat()}}),
    "hall": Case("GET", lambda a: "/api/v1/hall", READERS),
    "ingest session": Case("POST", lambda a: "/api/v1/sessions", {"pipeline": 201},
                           body=lambda a: session_record().to_json(),
                           refused={r: 401 for r in ("admin", "supervisor", "auditor", "staff1")}),
    "list sessions": Case("GET", lambda a: "/api/v1/sessions", EVERYONE),
    "own session": Case("GET", lambda a: f"/api/v1/sessions/{make_session(a)}", EVERYONE),
    "another's session": Case("GET", lambda a: f"/api/v1/sessions/{make_session(a, 'staff2')}",
                              READERS, refused={"staff1": 404}),
    "hall stream": Case("GET", lambda a: "/api/v1/hall/stream", READERS, kind="stream"),
    "rate": Case("POST", lambda a: "/api/v1/ratings", {"pipeline": 201}, body=a_rating,
                 refused={r: 401 for r in ("admin", "supervisor", "auditor", "staff1")}),
    "list ratings": Case("GET", lambda a: "/api/v1/ratings", READERS),
    "list complaints": Case("GET", lambda a: "/api/v1/complaints", EVERYONE),
    "register complaint": Case("POST", lambda a: "/api/v1/complaints",
                               {"admin": 201, "supervisor": 201},
                               body=lambda a: {"window_pk": 1, "channel": "phone",
                                               "at": _an_hour_ago(), "text": "态度不好"}),
    "own complaint": Case("GET", lambda a: f"/api/v1/complaints/{make_complaint(a)}", EVERYONE),
    "another's complaint": Case("GET",
                                lambda a: f"/api/v1/complaints/{make_complaint(a, 'staff2')}",
                                READERS, refused={"staff1": 404}),
    "assign complaint": Case("POST", lambda a: f"/api/v1/complaints/{make_complaint(a)}/assign",
                             {"admin": 200, "supervisor": 200},
                             body=lambda a: {"handler_id": a.ids["supervisor"]}),
    "answer complaint": Case("POST", lambda a: f"/api/v1/complaints/{make_complaint(a)}/reply",
                             {"admin": 200, "supervisor": 200},
                             body=lambda a: {"reply": "已核实并致歉"}),
}


def client_for(api: LiveService, role: str) -> Api:
    if role == "anonymous":
        return api.client(None)
    if role == "pipeline":
        return api.pipeline()
    return api.client(role)


@pytest.mark.parametrize("name", sorted(CASES))
def test_role_matrix(api: LiveService, name: str) -> None:
    case = CASES[name]
    outcomes = {}
    shared = case.path(api) if case.method == "GET" else None  # reads may share one incident
    for role in ROLES:
        client = client_for(api, role)
        path = shared or case.path(api)
        if case.kind == "ingest":
            r = post_incident(client, incident())
        elif case.kind == "stream":  # an event stream never ends: its status line suffices
            with client.stream(case.method, path) as streamed:
                outcomes[role] = streamed.status_code
            continue
        elif case.kind == "practice":
            r = client.post(path, data={"rule_id": "R-greeting"},
                            files={"audio": ("a.webm", b"no audio here" * 10, "audio/webm")})
        elif case.kind == "import":
            r = client.post(path, files={"file": ("m.yaml", b"centers: []\n", "text/yaml")})
        else:
            r = client.request(case.method, path, json=case.body(api) if case.body else None)
        outcomes[role] = r.status_code
    assert outcomes == {role: case.expected(role) for role in ROLES}


def test_every_api_route_is_in_the_matrix_or_covered_elsewhere(api: LiveService) -> None:
    """A new endpoint must get its row here (or be one of those tested in their own files)."""
    spec = api.client(None).get("/openapi.json").json()
    routes = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    elsewhere = {  # role checks of these live in test_masterdata.py / test_auth.py / test_review.py
        ("GET", "/api/v1/centers/{id}"), ("PATCH", "/api/v1/centers/{id}"),
        ("DELETE", "/api/v1/centers/{id}"), ("GET", "/api/v1/windows"), ("POST", "/api/v1/windows"),
        ("GET", "/api/v1/windows/{id}"), ("DELETE", "/api/v1/windows/{id}"),
        ("POST", "/api/v1/staff"), ("GET", "/api/v1/staff/{id}"), ("PATCH", "/api/v1/staff/{id}"),
        ("DELETE", "/api/v1/staff/{id}"), ("PUT", "/api/v1/staff/{id}/photo"),
        ("GET", "/api/v1/staff/{id}/photo"), ("POST", "/api/v1/assignments"),
        ("GET", "/api/v1/assignments/{id}"), ("PATCH", "/api/v1/assignments/{id}"),
        ("DELETE", "/api/v1/assignments/{id}"), ("GET", "/api/v1/users/{user_id}"),
        ("PATCH", "/api/v1/users/{user_id}"), ("DELETE", "/api/v1/api-keys/{key_id}"),
        ("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/logout"),
        ("PUT", "/api/v1/auth/password"), ("GET", "/health/live"), ("GET", "/health/ready"),
    }
    covered = {(c.method, _template(c.path(api))) for c in CASES.values()}
    assert routes - elsewhere - covered == set()


def _template(path: str) -> str:
    path = path.split("?")[0]
    parts = path.strip("/").split("/")
    for i, part in enumerate(parts):
        if len(part) == 36 and part.count("-") == 4:
            parts[i] = "{session_id}" if parts[i - 1] == "sessions" else "{incident_id}"
        elif part.isdigit():
            parts[i] = "{id}"
        elif re.fullmatch(r"\d{4}-\d{2}", part):
            parts[i] = "{period}"
    path = "/" + "/".join(parts)
    return path.replace("/evidence/clip", "/evidence/{role}")

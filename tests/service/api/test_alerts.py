"""Alerts over real HTTP: a subscribed supervisor's event stream delivers a critical incident
as it is ingested; a webhook receiver (a real local HTTP server) gets a signed POST, retried
after a failure, and a delivery that keeps failing ends failed and audited without ever
holding up ingest."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from etiquette.service.models import AuditEntry

from factories.report_data import CRITICAL
from factories.service import PASSWORD, incident, post_incident
from service.conftest import (
    LiveService,
    Receiver,
    service_on_backend,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def alerting(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[LiveService]:
    """A service of its own whose webhook retries come after fractions of a second."""
    yield from service_on_backend(request, tmp_path_factory, "alerts",
                                  webhook_backoff_s=[0.3, 0.3], webhook_poll_s=0.2,
                                  alert_poll_s=0.2)


# ---------------------------------------------------------------- server-sent events


def _listen(live: LiveService, events: queue.Queue[Any], ready: threading.Event,
            stop: threading.Event, **params: str) -> None:
    with httpx.Client(base_url=live.base_url, timeout=30) as client:
        assert client.post("/api/v1/auth/login", json={"username": "supervisor",
                                                       "password": PASSWORD}).status_code == 200
        with client.stream("GET", "/api/v1/alerts/stream", params=params) as r:
            events.put(("status", r.status_code, r.headers.get("content-type")))
            ready.set()
            name = None
            for line in r.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name == "incident":
                    events.put(("incident", json.loads(line[6:])))


def test_a_subscribed_supervisor_is_told_of_a_critical_incident_at_once(
        alerting: LiveService) -> None:
    events: queue.Queue[Any] = queue.Queue()
    ready, stop = threading.Event(), threading.Event()
    listener = threading.Thread(target=_listen, args=(alerting, events, ready, stop), daemon=True)
    listener.start()
    assert ready.wait(30)
    assert events.get(timeout=5) == ("status", 200, "text/event-stream; charset=utf-8")
    time.sleep(0.5)  # the stream has polled once: what follows is news

    major = incident()  # a major incident: below the subscription, never sent
    critical = incident(**CRITICAL)
    sent_at = time.monotonic()
    assert post_incident(alerting.pipeline(), major).status_code == 201
    assert post_incident(alerting.pipeline(), critical).status_code == 201
    kind, alert = events.get(timeout=15)
    latency = time.monotonic() - sent_at
    stop.set()
    assert kind == "incident" and alert["id"] == critical["id"]
    assert latency < 5
    assert alert["severity"] == "critical" and alert["severity_name"] == "严重"
    assert alert["window_number"] == "01" and alert["center"] == "南昌市政务服务中心"
    assert alert["url"] == f"/incidents/{critical['id']}" and alert["rule_id"] == "F4-1"
    # An alert says where to go, not who: no staff name, no transcript.
    assert "王芳" not in json.dumps(alert, ensure_ascii=False) and "transcript" not in alert
    assert events.empty()  # the major one was not sent


def test_only_those_who_may_subscribe_get_the_stream(alerting: LiveService) -> None:
    with httpx.Client(base_url=alerting.base_url, timeout=10) as anonymous:
        assert anonymous.get("/api/v1/alerts/stream").status_code == 401
    staff = alerting.client("staff1")
    assert staff.get("/api/v1/alerts/stream").status_code == 403
    auditor = alerting.client("auditor")
    assert auditor.get("/api/v1/alerts/stream").status_code == 403


# ---------------------------------------------------------------- webhooks


def _verify(secret: str, request: dict[str, Any]) -> None:
    h = request["headers"]
    mac = hmac.new(secret.encode(), h["X-Etiquette-Timestamp"].encode() + b"." + request["body"],
                   hashlib.sha256).hexdigest()
    assert h["X-Etiquette-Signature"] == f"sha256={mac}"
    assert abs(int(h["X-Etiquette-Timestamp"]) - time.time()) < 60


def test_a_webhook_gets_a_signed_post_retried_after_a_failure(alerting: LiveService,
                                                              receiver: Receiver) -> None:
    admin = alerting.client("admin")
    receiver.statuses = [500]  # the first attempt fails, the retry succeeds
    r = admin.post("/api/v1/webhooks", json={"name": "值班长", "url": receiver.url,
                                             "kinds": ["forbidden_phrase"],
                                             "severities": ["critical"]})
    assert r.status_code == 201, r.text
    hook = r.json()
    secret = hook["secret"]
    assert len(secret) >= 32
    assert "secret" not in admin.get("/api/v1/webhooks").json()["data"][0]

    critical = incident(**CRITICAL)
    assert post_incident(alerting.pipeline(), incident()).status_code == 201  # major: not sent
    assert post_incident(alerting.pipeline(), critical).status_code == 201
    first, second = receiver.wait_for(2)
    assert (first["answered"], second["answered"]) == (500, 200)
    for request in (first, second):
        _verify(secret, request)
    assert first["headers"]["X-Etiquette-Delivery"] == second["headers"]["X-Etiquette-Delivery"]
    body = json.loads(second["body"])
    assert body["event"] == "incident" and body["incident"]["id"] == critical["id"]
    assert body["incident"]["severity"] == "critical" and "王芳" not in second["body"].decode()
    # A tampered body does not verify.
    with pytest.raises(AssertionError):
        _verify(secret, {**second, "body": second["body"].replace(b"critical", b"minor")})

    deliveries = _until(lambda: admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json(),
                        lambda d: d["data"] and d["data"][0]["status"] == "delivered")
    assert deliveries["count"] == 1  # the major incident matched nothing
    d = deliveries["data"][0]
    assert (d["incident_id"], d["attempts"], d["last_status_code"]) == (critical["id"], 2, 200)
    time.sleep(1)
    assert len(receiver.requests) == 2  # delivered once: no further POST
    admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": False})


def test_a_delivery_that_keeps_failing_ends_failed_and_audited(alerting: LiveService,
                                                               receiver: Receiver) -> None:
    admin = alerting.client("admin")
    receiver.statuses = [503, 503, 503, 503]
    hook = admin.post("/api/v1/webhooks", json={"name": "坏接收端", "url": receiver.url,
                                                "severities": []}).json()
    body = incident()  # every severity: this major one too
    started = time.monotonic()
    r = post_incident(alerting.pipeline(), body)
    assert r.status_code == 201 and time.monotonic() - started < 5  # ingest does not wait
    receiver.wait_for(3)  # the first attempt and the two retries of webhook_backoff_s
    d = _until(lambda: admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["data"][0],
               lambda d: d["status"] == "failed")
    assert d["attempts"] == 3 and d["last_status_code"] == 503 and "HTTP 503" in d["last_error"]
    with alerting.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.delivery_failed",
                                                   AuditEntry.target_id == str(hook["id"]))).one()
    assert entry.actor == "system:webhooks" and entry.after["incident_id"] == body["id"]  # type: ignore[index]
    time.sleep(1)
    assert len(receiver.requests) == 3
    admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": False})


def test_a_receiver_that_cannot_be_reached_is_retried(alerting: LiveService) -> None:
    admin = alerting.client("admin")
    # Nothing listens on port 9: connection refused, recorded, retried.
    hook = admin.post("/api/v1/webhooks", json={"name": "临时", "url": "http://127.0.0.1:9/hook",
                                                "severities": ["critical"]}).json()
    body = incident(**CRITICAL)
    assert post_incident(alerting.pipeline(), body).status_code == 201
    d = _until(lambda: admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["data"][0],
               lambda d: d["attempts"] >= 1)
    assert d["last_error"] and d["last_status_code"] is None
    admin.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": False})


def test_webhook_input_is_validated(alerting: LiveService) -> None:
    admin = alerting.client("admin")
    for bad in ({"name": "x", "url": "ftp://example.org/"}, {"name": "x", "url": "http://a b/"},
                {"name": "x", "url": "http://127.0.0.1/", "severities": ["fatal"]},
                {"name": "x", "url": "http://127.0.0.1/", "kinds": ["shouting"]}):
        assert admin.post("/api/v1/webhooks", json=bad).status_code == 422
    assert admin.patch("/api/v1/webhooks/999999", json={"active": False}).status_code == 404
    assert admin.get("/api/v1/webhooks/999999/deliveries").status_code == 404


def _until(get: Any, ok: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if ok(value) or time.monotonic() > deadline:
            assert ok(value), value
            return value
        time.sleep(0.2)


def test_admins_configure_webhooks_on_a_page(alerting: LiveService) -> None:
    admin = alerting.client("admin")
    r = admin.post("/webhooks", data={"name": "页面添加", "url": "http://127.0.0.1:9/page",
                                      "kinds": ["off_post", "forbidden_phrase"],
                                      "severities": ["critical", "major"],
                                      "csrf_token": admin.csrf})
    assert r.status_code == 201 and 'id="webhook-secret"' in r.text
    hook = next(h for h in admin.get("/api/v1/webhooks").json()["data"] if h["name"] == "页面添加")
    assert hook["kinds"] == ["off_post", "forbidden_phrase"] and hook["active"] is True
    assert sorted(hook["severities"]) == ["critical", "major"]
    bad = admin.post("/webhooks", data={"name": "坏地址", "url": "ftp://x/",
                                        "csrf_token": admin.csrf})
    assert bad.status_code == 422 and 'id="webhook-error"' in bad.text
    off = admin.post(f"/webhooks/{hook['id']}/active",
                     data={"active": "0", "csrf_token": admin.csrf}, follow_redirects=False)
    assert off.status_code == 303
    hooks = admin.get("/api/v1/webhooks").json()["data"]
    assert not next(h for h in hooks if h["id"] == hook["id"])["active"]
    auditor = alerting.client("auditor").get("/webhooks")
    assert auditor.status_code == 200 and "页面添加" in auditor.text
    assert 'id="webhook-form"' not in auditor.text
    assert alerting.client("supervisor").get("/webhooks").status_code == 403
    no_csrf = admin.post("/webhooks", data={"name": "x", "url": "http://127.0.0.1:9/",
                                            "csrf_token": "x"})
    assert no_csrf.status_code == 403

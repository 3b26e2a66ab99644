"""Factories and a small client for the service tests."""

from __future__ import annotations

import io
import json
import threading
import uuid
import wave
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import cv2
import httpx
import numpy as np

from etiquette.core.records import IncidentKind, Speaker
from etiquette.core.session_records import (
    CheckOutcome,
    CheckState,
    SessionRecord,
    SessionUtterance,
    session_id,
)
from etiquette.service.schemas import Role

if TYPE_CHECKING:
    from service.conftest import LiveService

PASSWORD = "test-password-1234"
ROLE_USERS: dict[str, Role] = {"admin": Role.ADMIN, "supervisor": Role.SUPERVISOR,
                               "auditor": Role.AUDITOR, "staff1": Role.STAFF, "staff2": Role.STAFF}

# Two windows of one center; staff1 (T001) staffs window w-a, staff2 (T002) window w-b.
MASTERDATA = """
centers:
  - code: nc
    name: 南昌市政务服务中心
    windows:
      - {code: w-a, number: "01", department: 市场监督管理局, business_category: 企业登记}
      - {code: w-b, number: "02", department: 人社局, business_category: 社保}
staff:
  - {employee_no: T001, name: 王芳, center: nc}
  - {employee_no: T002, name: 李强, center: nc}
assignments:
  - {employee_no: T001, center: nc, window: w-a, start_at: "2020-01-01T00:00:00+08:00"}
  - {employee_no: T002, center: nc, window: w-b, start_at: "2020-01-01T00:00:00+08:00"}
"""


class Api(httpx.Client):
    """An httpx client that logs in and sends the CSRF header on unsafe requests."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(base_url=base_url, timeout=60, **kwargs)
        self.csrf = ""

    def login(self, username: str, password: str) -> httpx.Response:
        r = self.post("/api/v1/auth/login", json={"username": username, "password": password})
        if r.status_code == 200:
            self.csrf = r.json()["csrf_token"]
        return r

    def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        if method.upper() not in ("GET", "HEAD", "OPTIONS") and self.csrf:
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRF-Token", self.csrf)
            kwargs["headers"] = headers
        return super().request(method, url, **kwargs)


def wav_bytes(seconds: float = 2.0, freq: float = 440.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def jpeg_bytes(shade: int = 120) -> bytes:
    image = np.full((48, 64, 3), shade, np.uint8)
    cv2.rectangle(image, (10, 10), (40, 30), (0, 0, 255), -1)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def png_bytes(shade: int = 80) -> bytes:
    image = np.full((32, 40, 3), shade, np.uint8)
    cv2.circle(image, (20, 16), 8, (0, 200, 0), -1)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def incident(**over: Any) -> dict[str, Any]:
    """An incident line as `etiquette batch` writes it (without evidence paths)."""
    at = over.pop("at_dt", datetime.now(UTC) - timedelta(hours=1))
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()), "source": "recordings/w-a.wav", "window_id": "w-a",
        "kind": "forbidden_phrase", "rule_id": "F1-1", "rule_name": "禁用语：不知道",
        "phrase": "不知道", "speaker": "staff", "offset_s": 12.4, "end_s": 13.1,
        "at": at.isoformat() if at else None, "transcript": "这个我也不只道，你问别人去吧",
        "score": 0.93, "severity": "major", "deduction": 2.0,
        "explanation": "「不只道」匹配「不知道」（同音字），相似度 0.93",
        "hit_start": 4, "hit_end": 7}  # transcript[4:7] == "不只道"
    if "transcript" in over and "hit_start" not in over:  # the default span is of the default text
        body["hit_start"] = body["hit_end"] = None
    body.update(over)
    return body


def post_incident(client: httpx.Client, body: dict[str, Any],
                  files: dict[str, tuple[str, bytes, str]] | None = None,
                  clip: bool = True) -> httpx.Response:
    if files is None:
        files = {"clip": ("clip.wav", wav_bytes(), "audio/wav")} if clip else {}
    return client.post("/api/v1/incidents", data={"incident": json.dumps(body, ensure_ascii=False)},
                       files=files or None)


def at_once(api: LiveService, post: Callable[[httpx.Client], httpx.Response],
            times: int) -> list[int]:
    """The status codes of `times` posts sent at the same moment, each on a pipeline client of
    its own: retries racing their original."""
    codes: list[int] = []

    def send() -> None:
        with api.pipeline() as client:
            codes.append(post(client).status_code)

    threads = [threading.Thread(target=send) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return sorted(codes)


def make_incident(api: LiveService, owner: str = "staff1", status: str = "pending") -> str:
    """An incident at the window `owner` staffs, brought to `status`."""
    body = incident(window_id="w-a" if owner == "staff1" else "w-b")
    assert post_incident(api.pipeline(), body).status_code == 201
    iid = body["id"]
    sup, staff = api.client("supervisor"), api.client(owner)
    if status in ("confirmed", "appealed"):
        assert sup.post(f"/api/v1/incidents/{iid}/review",
                        json={"action": "confirm"}).status_code == 200
    if status == "appealed":
        assert staff.post(f"/api/v1/incidents/{iid}/appeal",
                          json={"reason": "当时是在转述群众的话"}).status_code == 200
    return iid


def center_with_windows(live: LiveService, *numbers: str) -> tuple[dict[str, Any],
                                                                    list[dict[str, Any]], str]:
    """A center of its own (shared services hold other tests' windows) with a window per
    number, and a pipeline key of that center: (center, windows, key)."""
    admin, tag = live.client("admin"), uuid.uuid4().hex[:6]
    center = admin.post("/api/v1/centers", json={"code": f"hall-{tag}",
                                                 "name": f"大厅测试中心{tag}"}).json()
    windows = []
    for n in numbers:
        r = admin.post("/api/v1/windows", json={"center_id": center["id"], "code": f"h{tag}-{n}",
                                                "number": n, "department": "不动产登记中心"})
        assert r.status_code == 201, r.text
        windows.append(r.json())
    key = admin.post("/api/v1/api-keys", json={"name": f"hall-{tag}", "center_id": center["id"]})
    assert key.status_code == 201, key.text
    return center, windows, key.json()["key"]


def window_beat(**over: Any) -> dict[str, Any]:
    """One window's state as a live site reports it (etiquette.live.heartbeat.window_state):
    a microphone and a camera that work, the staff member at the seat, a session open."""
    return {"audio": {"state": "ok", "level_dbfs": -32.5, "stream_s": 120.0},
            "camera": {"seat": "present", "fps": 4.8}, "session_open": True, "problems": {},
            **over}


def session_record(window_id: str = "w-a", start: datetime | None = None,
                   **over: Any) -> SessionRecord:
    """A session line as the pipeline writes it: 60 s at `window_id`, two utterances a side,
    the farewell missing."""
    start = start or datetime.now(UTC) - timedelta(hours=2)
    source = f"recordings/{uuid.uuid4().hex[:8]}.wav"
    made = SessionRecord(
        id=session_id(source, window_id, 3.0), source=source, window_id=window_id,
        offset_s=3.0, end_s=63.0, start_at=start.isoformat(),
        end_at=(start + timedelta(seconds=60)).isoformat(), ticket="A012",
        staff_talk_s=9.5, citizen_talk_s=4.0,
        checks=(CheckOutcome("R-greeting", IncidentKind.MISSING_GREETING, "迎客用语",
                             CheckState.PASSED),
                CheckOutcome("R-farewell", IncidentKind.MISSING_FAREWELL, "送别用语",
                             CheckState.FAILED, ("送别用语",)),
                CheckOutcome("forbidden", IncidentKind.FORBIDDEN_PHRASE, "服务禁用语",
                             CheckState.PASSED)),
        turns=(SessionUtterance(Speaker.STAFF, 3.0, 7.5, "您好，请问办理什么业务？"),
               SessionUtterance(Speaker.CITIZEN, 8.0, 12.0, None),
               SessionUtterance(Speaker.STAFF, 13.0, 18.0, "请您稍等，我帮您查一下。")),
        incident_ids=())
    return replace(made, **over)


def make_session(api: LiveService, owner: str = "staff1") -> str:
    """A session at the window `owner` staffs."""
    body = session_record(window_id="w-a" if owner == "staff1" else "w-b").to_json()
    assert api.pipeline().post("/api/v1/sessions", json=body).status_code == 201
    return str(body["id"])


def rating(window_id: str, at: datetime, **over: Any) -> dict[str, Any]:
    """A rating as the hall's evaluation device posts it (POST /api/v1/ratings)."""
    return {"id": str(uuid.uuid4()), "window_id": window_id, "at": at.isoformat(),
            "level": "satisfied", **over}


def post_session(client: httpx.Client, window_id: str, start: datetime, ticket: str | None,
                 seconds: float = 300) -> str:
    """A session of `seconds` at the window, as the pipeline posts it."""
    body = session_record(window_id=window_id, start=start, ticket=ticket,
                          end_at=(start + timedelta(seconds=seconds)).isoformat(),
                          end_s=3.0 + seconds).to_json()
    r = client.post("/api/v1/sessions", json=body)
    assert r.status_code == 201, r.text
    return str(body["id"])


def a_morning() -> datetime:
    """Yesterday 10:00 in Asia/Shanghai (02:00 UTC): a time well inside a working day."""
    return (datetime.now(UTC) - timedelta(days=1)).replace(hour=2, minute=0, second=0,
                                                            microsecond=0)

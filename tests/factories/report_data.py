"""A constructed month for the scoring and report tests: a center of its own (so the other
tests' incidents never mix in), four windows with one person each, and March 2025 (local time,
Asia/Shanghai) with incidents whose scores the tests compute by hand.

Window A (赵明远): F1-1 confirmed on 3/3, 3/10, 3/11 (2 + 2 + 2×1.5 on the 3rd), off_post
  confirmed 3/12 (3), F1-1 pending 3/20 and dismissed 3/20 (not counted) → 100 − 10 = 90;
  February: one F1-1 confirmed at 23:30 on 2/28 local (15:30 UTC) → 98;
  an F1-1 at 00:30 on 4/1 local (3/31 16:30 UTC) belongs to April, not March.
Window B (钱思琪): F4-1 critical confirmed 3/25 (3) → 97, barred from the red flags.
Window C (孙浩然): nothing → 100.
Window D (李雨桐): F2-1 confirmed 23:30 on 3/31 local (15:30 UTC) → 98.
Red flags under the bundled scheme (top 3, ≥ 95, no critical): C, D.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from etiquette.service.crud import master

from factories.service import incident, post_incident
from service.conftest import LiveService

STAFF_NAMES = {"a": "赵明远", "b": "钱思琪", "c": "孙浩然", "d": "李雨桐"}
DEPARTMENTS = {"a": "市场监督管理局", "b": "人社局", "c": "公安局", "d": "税务局"}


@dataclass
class ScoredCenter:
    id: int
    code: str
    name: str
    key: str  # a pipeline key of this center
    windows: dict[str, str]  # letter → window code
    staff: dict[str, int]  # letter → staff id
    employee_nos: dict[str, str]
    incidents: dict[str, str] = field(default_factory=dict)  # name → incident id


def make_center(api: LiveService) -> ScoredCenter:
    u = uuid.uuid4().hex[:6]
    admin = api.client("admin")
    windows = {x: f"{x}-{u}" for x in "abcd"}
    nos = {x: f"{x.upper()}{u}" for x in "abcd"}
    lines = ["centers:", f"  - code: rc-{u}", f"    name: 考核测试中心{u}", "    windows:"]
    lines += [f'      - {{code: {windows[x]}, number: "0{i + 1}", department: {DEPARTMENTS[x]}}}'
              for i, x in enumerate("abcd")]
    lines += ["staff:"] + [f"  - {{employee_no: {nos[x]}, name: {STAFF_NAMES[x]}, center: rc-{u}}}"
                           for x in "abcd"]
    lines += ["assignments:"] + [
        f'  - {{employee_no: {nos[x]}, center: rc-{u}, window: {windows[x]}, '
        f'start_at: "2020-01-01T00:00:00+08:00"}}' for x in "abcd"]
    r = admin.post("/api/v1/masterdata/import?format=yaml",
                   files={"file": ("m.yaml", "\n".join(lines).encode(), "text/yaml")})
    assert r.status_code == 200, r.text
    with api.sessions() as s:
        center = master.center_by_code(session=s, code=f"rc-{u}")
        assert center is not None
        members = {x: master.staff_by_employee_no(session=s, employee_no=nos[x]) for x in "abcd"}
        staff = {x: m.id for x, m in members.items()}  # type: ignore[union-attr]
    key = admin.post("/api/v1/api-keys", json={"name": f"rc-{u}", "center_id": center.id})
    assert key.status_code == 201, key.text
    return ScoredCenter(center.id, center.code, center.name, key.json()["key"], windows, staff, nos)


def add(api: LiveService, c: ScoredCenter, name: str, window: str, at: str,
        status: str = "confirmed", **over: Any) -> str:
    """An incident at `window` ('a'…'d') at local time `at`, brought to `status`."""
    body = incident(window_id=c.windows[window], at_dt=datetime.fromisoformat(at), **over)
    r = post_incident(api.pipeline(c.key), body, clip=False)
    assert r.status_code == 201, r.text
    iid = body["id"]
    sup = api.client("supervisor")
    if status == "confirmed":
        assert sup.post(f"/api/v1/incidents/{iid}/review",
                        json={"action": "confirm"}).status_code == 200
    elif status == "dismissed":
        assert sup.post(f"/api/v1/incidents/{iid}/review",
                        json={"action": "dismiss", "reason": "识别错误"}).status_code == 200
    c.incidents[name] = iid
    return iid


OFF_POST = {"kind": "off_post", "rule_id": "P-off-post", "rule_name": "离岗", "phrase": None,
            "speaker": "unknown", "transcript": "", "severity": "major", "deduction": 3.0,
            "explanation": "座位无人 00:17:30"}
CRITICAL = {"rule_id": "F4-1", "rule_name": "禁用语：你去投诉我啊", "phrase": "你去投诉我啊",
            "severity": "critical", "deduction": 3.0, "transcript": "你去投诉我啊",
            "hit_start": 0, "hit_end": 6}
F2 = {"rule_id": "F2-1", "rule_name": "禁用语：急什么，忙着呢", "phrase": "急什么，忙着呢",
      "transcript": "急什么，忙着呢", "hit_start": 0, "hit_end": 7}


def march_2025(api: LiveService) -> ScoredCenter:
    c = make_center(api)
    add(api, c, "a1", "a", "2025-03-03T10:00:00+08:00")
    add(api, c, "a2", "a", "2025-03-10T10:00:00+08:00")
    add(api, c, "a3", "a", "2025-03-11T10:00:00+08:00")
    add(api, c, "a4", "a", "2025-03-12T15:00:00+08:00", **OFF_POST)
    add(api, c, "a5", "a", "2025-03-20T10:00:00+08:00", status="pending")
    add(api, c, "a6", "a", "2025-03-20T11:00:00+08:00", status="dismissed")
    add(api, c, "a_feb", "a", "2025-02-28T23:30:00+08:00")
    add(api, c, "a_apr", "a", "2025-04-01T00:30:00+08:00")
    add(api, c, "b1", "b", "2025-03-25T09:00:00+08:00", **CRITICAL)
    add(api, c, "d1", "d", "2025-03-31T23:30:00+08:00", **F2)
    return c


def report(api: LiveService, c: ScoredCenter, period: str = "2025-03", who: str = "supervisor",
           public: bool = False) -> dict[str, Any]:
    r = api.client(who).get(f"/api/v1/reports/{period}",
                            params={"center_id": c.id, "public": str(public).lower()})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def scores(rep: dict[str, Any]) -> dict[str, float]:
    return {w["department"]: w["score"] for w in rep["windows"]}

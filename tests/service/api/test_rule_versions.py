"""The rules as versions in the service: seeded from the bundled file, edited by admins through
the same validation the pipelines load them with, every version audited, read by pipelines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from etiquette.core.rules import DEFAULT_RULES, RulesError
from etiquette.service.core import db
from etiquette.service.models import AuditEntry, RuleVersion
from etiquette.service.services import rules as rules_service

from factories.service import Api
from service.conftest import LiveService


def in_force(api: LiveService) -> dict:
    return api.client("admin").get("/api/v1/rules/versions/current").json()


@pytest.fixture
def restore(api: LiveService) -> Iterator[str]:
    """The YAML in force before the test, saved again after it: the service is shared."""
    before = in_force(api)["yaml"]
    yield before
    if in_force(api)["yaml"] != before:
        r = api.client("admin").post("/api/v1/rules/versions", json={"yaml": before,
                                                                      "comment": "测试后还原"})
        assert r.status_code == 201, r.text


def test_version_1_is_the_bundled_rules_file_seeded_at_the_first_start(api: LiveService) -> None:
    first = api.client("admin").get("/api/v1/rules/versions/1").json()
    assert first["yaml"] == DEFAULT_RULES.read_text(encoding="utf-8")
    assert first["created_by"] == "system:start-up" and first["version"] == "2026-11"
    with api.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "rules.version",
                                                   AuditEntry.target_id == "1")).one()
    assert entry.before is None and entry.after is not None and entry.after["version_id"] == 1


def test_an_admin_saves_a_new_version_which_is_in_force_at_once(
        api: LiveService, restore: str) -> None:
    admin = api.client("admin")
    base = in_force(api)
    edited = restore.replace("phrases: [问别人去]", "phrases: [问别人去吧]")
    assert edited != restore
    r = admin.post("/api/v1/rules/versions", json={"yaml": edited, "comment": "F1-2 用语调整",
                                                   "based_on": base["id"]})
    assert r.status_code == 201, r.text
    saved = r.json()
    assert saved["id"] == base["id"] + 1 and saved["created_by"] == "user:admin"
    assert saved["comment"] == "F1-2 用语调整"

    # In force: the YAML a pipeline fetches, the parsed view reviewers read, the history.
    fetched = api.pipeline().get("/api/v1/rules/current")
    assert fetched.status_code == 200 and fetched.text == edited
    assert fetched.headers["content-type"].startswith("application/yaml")
    assert fetched.headers["x-rules-version-id"] == str(saved["id"])
    assert fetched.headers["etag"] == f'"{saved["sha256"]}"'
    unchanged = api.pipeline().get("/api/v1/rules/current",
                                   headers={"If-None-Match": fetched.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    rules = api.client("staff1").get("/api/v1/rules").json()["data"]
    rule = next(x for x in rules if x["id"] == "F1-2")
    assert rule["phrases"] == ["问别人去吧"]
    history = admin.get("/api/v1/rules/versions").json()
    assert history["data"][0]["id"] == saved["id"] and "yaml" not in history["data"][0]
    assert history["count"] == saved["id"]

    with api.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "rules.version",
                                                   AuditEntry.target_id == str(saved["id"]))).one()
    assert entry.actor == "user:admin"
    assert entry.before == {"version_id": base["id"]}
    assert entry.after is not None and entry.after["version_id"] == saved["id"]


BAD_EDITS = {  # what the admin did, what the refusal says (in Chinese: rule, field, line)
    "threshold out of range": (lambda y: y.replace("min_score: 0.82", "min_score: 7"),
                               "匹配设置 › 最低相似度（min_score）：应不大于 1.0"),
    "a rule without phrases": (lambda y: y.replace("phrases: [问别人去]", "phrases: []"),
                               "禁用语 F1-2「禁用语：问别人去」 › 用语（phrases）：至少应有 1 项"),
    "an unknown severity": (lambda y: y.replace("severity: critical", "severity: awful", 1),
                            "禁用语类别 › 第 4 类「态度蛮横」 › 严重程度（severity）："
                            "应为以下之一：minor（一般）、major（较重）、critical（严重）"),
    "an undefined group": (lambda y: y.replace("group: 1\n", "group: 9\n", 1),
                           "禁用语 F1-1「禁用语：不知道」 › 所属类别（group）：类别 9 未在"),
    "not YAML": (lambda y: y + "\nforbidden: [unclosed\n",
                 "YAML 格式错误：第 1 列，方括号 [ ] 没有闭合"),
    "not a mapping": (lambda y: "- just\n- a list\n", "最外层应为「键: 值」形式"),
}


@pytest.mark.parametrize("case", sorted(BAD_EDITS))
def test_a_bad_edit_is_refused_naming_the_key_and_saves_nothing(api: LiveService, restore: str,
                                                                case: str) -> None:
    edit, says = BAD_EDITS[case]
    admin = api.client("admin")
    count = admin.get("/api/v1/rules/versions").json()["count"]
    text = edit(restore)
    r = admin.post("/api/v1/rules/versions", json={"yaml": text})
    assert r.status_code == 422 and says in r.json()["detail"], r.text
    assert r.json()["detail"].startswith("规则有误：")
    assert admin.get("/api/v1/rules/versions").json()["count"] == count


def test_a_stale_or_empty_edit_is_refused(api: LiveService, restore: str) -> None:
    admin = api.client("admin")
    current = in_force(api)
    same = admin.post("/api/v1/rules/versions", json={"yaml": restore})
    assert same.status_code == 409 and "no change" in same.json()["detail"]
    newer = restore + "\n# 另一位管理员的修改\n"
    assert admin.post("/api/v1/rules/versions", json={"yaml": newer}).status_code == 201
    stale = admin.post("/api/v1/rules/versions", json={"yaml": restore + "\n# 旧底稿\n",
                                                       "based_on": current["id"]})
    assert stale.status_code == 409 and f"基于第 {current['id']} 版" in stale.json()["detail"]
    assert admin.get("/api/v1/rules/versions/999999").status_code == 404
    assert admin.post("/api/v1/rules/versions", json={"yaml": ""}).status_code == 422


def test_the_rules_in_force_need_a_key_or_a_login(api: LiveService) -> None:
    assert api.client(None).get("/api/v1/rules/current").status_code == 401
    with Api(api.base_url, headers={"X-API-Key": "etq_nope_nope"}) as c:
        assert c.get("/api/v1/rules/current").status_code == 401


def test_seeding_happens_once_and_a_broken_rules_file_stops_the_start(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'seed.db'}")
    try:
        db.upgrade(engine)
        factory = db.make_sessionmaker(engine)
        broken = tmp_path / "rules.yaml"
        broken.write_text(DEFAULT_RULES.read_text(encoding="utf-8").replace(
            "min_score: 0.82", "min_score: 7"), encoding="utf-8")
        with factory() as s, pytest.raises(RulesError, match="matching -> min_score"):
            rules_service.seed(session=s, path=broken)
        with factory() as s:
            assert rules_service.seed(session=s, path=None) is not None
            assert rules_service.seed(session=s, path=broken) is None  # there is one already
            assert [v.id for v in s.scalars(select(RuleVersion))] == [1]
    finally:
        engine.dispose()

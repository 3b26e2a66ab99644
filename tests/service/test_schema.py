"""Schema-driven: schemathesis generates requests from our own OpenAPI, valid and invalid,
and sends them to the running service as an admin (plus a pipeline key); none may get a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from factories.service import PASSWORD, Api, make_incident
from service.conftest import LiveService

EXAMPLES = 12  # per operation and mode: the whole run stays around a minute on two cores
SKIP = {("POST", "/api/v1/auth/logout")}  # it would end the session the run works with


@pytest.fixture(scope="module")
def target(sqlite_service: LiveService) -> Iterator[tuple[LiveService, dict[str, str],
                                                         dict[str, str]]]:
    make_incident(sqlite_service)
    make_incident(sqlite_service, status="appealed")
    admin = Api(sqlite_service.base_url)
    assert admin.login("admin", PASSWORD).status_code == 200
    headers = {"X-CSRF-Token": admin.csrf, "X-API-Key": sqlite_service.api_key}
    cookies = {"etiquette_session": admin.cookies["etiquette_session"]}
    yield sqlite_service, headers, cookies
    # The run may have revoked the seeded pipeline key (DELETE /api/v1/api-keys/1 is a valid
    # request): the tests after it on this shared service get a fresh one.
    fresh = admin.post("/api/v1/api-keys", json={"name": "after-schema-run",
                                                 "center_id": sqlite_service.ids["center"]})
    assert fresh.status_code == 201, fresh.text
    sqlite_service.api_key = fresh.json()["key"]
    admin.close()


def operations(live: LiveService) -> list:
    schema = schemathesis.openapi.from_url(f"{live.base_url}/openapi.json")
    ops = [r.ok() for r in schema.get_all_operations()]
    return [op for op in ops if (op.method.upper(), op.path) not in SKIP and not streams(op)]


def streams(op) -> bool:  # type: ignore[no-untyped-def]
    """An event stream never ends (test_alerts.py and test_hall.py cover the streams): a run
    that reads one waits forever."""
    answer = op.definition.raw.get("responses", {}).get("200", {})
    return "text/event-stream" in answer.get("content", {})


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_gets_a_server_error(target, mode: GenerationMode) -> None:  # type: ignore[no-untyped-def]
    live, headers, cookies = target
    failures: list[str] = []
    ops = operations(live)
    assert len(ops) > 40
    for op in ops:
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck),
                  phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
        def run(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(base_url=live.base_url, headers=headers, cookies=cookies,
                                 timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                f"{response.text[:200]}")

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            # An operation without inputs has no invalid ones.
            assert mode == GenerationMode.NEGATIVE
    assert failures == [], "\n".join(failures)
    # The run did reach the service as an admin: the session is still good.
    with Api(live.base_url, cookies=cookies) as c:
        assert c.get("/api/v1/auth/me").status_code == 200

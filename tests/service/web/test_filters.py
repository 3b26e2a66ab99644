"""The incident list's filter form as a browser sends it: the fields left at 全部 come empty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from factories.service import incident, post_incident
from service.conftest import LiveService

ALL_FIELDS = ("center_id", "window_id", "staff_id", "kind", "rule_id", "status", "date_from",
              "date_to")


def test_fields_left_at_all_filter_nothing_and_the_chosen_ones_filter(api: LiveService) -> None:
    # A day of their own, so that the shared service's other incidents stay off this list.
    day = datetime.now(UTC).replace(hour=10) - timedelta(days=40)
    pending, confirmed = incident(at_dt=day), incident(at_dt=day)
    for body in (pending, confirmed):
        assert post_incident(api.pipeline(), body).status_code == 201
    supervisor = api.client("supervisor")
    assert supervisor.post(f"/api/v1/incidents/{confirmed['id']}/review",
                           json={"action": "confirm"}).status_code == 200
    that_day = {**{k: "" for k in ALL_FIELDS}, "date_from": day.date().isoformat(),
                "date_to": day.date().isoformat()}

    page = supervisor.get("/incidents", params=that_day)  # everything else left at 全部
    assert page.status_code == 200, page.text[:300]
    assert f"/incidents/{pending['id']}" in page.text
    assert f"/incidents/{confirmed['id']}" in page.text
    chosen = supervisor.get("/incidents", params={**that_day, "status": "confirmed",
                                                  "kind": "forbidden_phrase"})
    assert chosen.status_code == 200, chosen.text[:300]
    assert f"/incidents/{confirmed['id']}" in chosen.text
    assert f"/incidents/{pending['id']}" not in chosen.text


def test_a_value_that_is_no_filter_is_refused_in_chinese(api: LiveService) -> None:
    page = api.client("supervisor").get("/incidents", params={"center_id": "第一中心"})
    assert page.status_code == 422 and "筛选条件有误" in page.text

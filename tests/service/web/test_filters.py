"""The incident list's filter form as a browser sends it: the fields left at 全部 come empty."""

from __future__ import annotations

from factories.service import make_incident
from service.conftest import LiveService

ALL_FIELDS = ("center_id", "window_id", "staff_id", "kind", "rule_id", "status", "date_from",
              "date_to")


def test_fields_left_at_all_filter_nothing_and_the_chosen_ones_filter(api: LiveService) -> None:
    pending, confirmed = make_incident(api), make_incident(api, status="confirmed")
    supervisor = api.client("supervisor")
    empty = {k: "" for k in ALL_FIELDS}
    page = supervisor.get("/incidents", params=empty)
    assert page.status_code == 200, page.text[:300]
    assert "筛选" in page.text
    chosen = supervisor.get("/incidents", params={**empty, "status": "confirmed",
                                                  "kind": "forbidden_phrase"})
    assert chosen.status_code == 200, chosen.text[:300]
    assert f"/incidents/{confirmed}" in chosen.text
    assert f"/incidents/{pending}" not in chosen.text


def test_a_value_that_is_no_filter_is_refused_in_chinese(api: LiveService) -> None:
    page = api.client("supervisor").get("/incidents", params={"center_id": "第一中心"})
    assert page.status_code == 422 and "筛选条件有误" in page.text

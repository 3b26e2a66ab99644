"""A staff member's practice history reads as the rest of the workbench: the time in the
display time zone, the phrase by its name (rows the browser adds after an attempt are written
by the same etiquetteTime the toasts use, which test_one_language checks in chromium)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from etiquette.service.models import PracticeAttempt, User

from service.conftest import LiveService


def test_the_history_shows_local_time_and_the_phrases_name(api: LiveService) -> None:
    said = f"您好，请问您需要办理什么业务 {uuid.uuid4().hex[:6]}"
    with api.sessions() as s:
        user = s.scalars(select(User).where(User.username == "staff1")).one()
        s.add(PracticeAttempt(user_id=user.id, staff_id=user.staff_id, rule_id="R-greeting",
                              phrase="您好，请问您需要办理什么业务", transcript=said,
                              recognised=True, score=1.0, missed=[], duration_s=2.0,
                              created_at=datetime(2026, 1, 2, 2, 3, 4, tzinfo=UTC)))
        s.commit()
    page = api.client("staff1").get("/practice")
    assert page.status_code == 200
    row = next(r for r in page.text.split("<tr>") if said in r)
    assert "2026-01-02 10:03:04" in row  # 02:03:04 UTC in Asia/Shanghai
    assert "接待问候" in row and "R-greeting" not in row

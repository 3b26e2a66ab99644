"""The workbench's appeal follows the review service's one rule, deadline included: the form is
offered to the staff member whose confirmed incident it is until the appeal window closes, and
an appeal posted after that is refused as the API refuses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from etiquette.service.models import Incident

from factories.service import make_incident
from service.conftest import LiveService

APPEAL_FORM = 'id="appeal"'


def test_the_appeal_form_closes_with_the_appeal_window(api: LiveService) -> None:
    staff = api.client("staff1")
    assert APPEAL_FORM not in staff.get(f"/incidents/{make_incident(api)}").text  # pending
    iid = make_incident(api, status="confirmed")
    page = staff.get(f"/incidents/{iid}")
    assert page.status_code == 200 and APPEAL_FORM in page.text and "申诉截止" in page.text
    assert APPEAL_FORM not in api.client("supervisor").get(f"/incidents/{iid}").text

    with api.sessions() as s:  # confirmed longer ago than the appeal window
        s.execute(update(Incident).where(Incident.id == iid).values(
            reviewed_at=datetime.now(UTC) - timedelta(days=api.settings.appeal_window_days + 1)))
        s.commit()
    page = staff.get(f"/incidents/{iid}")
    assert page.status_code == 200 and APPEAL_FORM not in page.text
    late = staff.post(f"/incidents/{iid}/appeal", data={"reason": "迟到的申诉",
                                                         "csrf_token": staff.csrf})
    assert late.status_code == 409 and "申诉期已过" in late.text
    assert staff.get(f"/api/v1/incidents/{iid}").json()["status"] == "confirmed"

"""Incidents as their readers see them: the public record and the CSV export.

The CSV carries no more personal data than the reader may see: the rows are those the reader
may see (staff: their own), and it has neither evidence nor the source file path.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo

from etiquette.service.crud.incidents import Visibility
from etiquette.service.labels import (
    APPEAL_DECISION_NAMES,
    KIND_NAMES,
    SEVERITY_NAMES,
    STATUS_NAMES,
    number,
)
from etiquette.service.models import Incident
from etiquette.service.schemas import EvidencePublic, IncidentPublic, PersonRef
from etiquette.service.services.access import Permission, Principal

API = "/api/v1"


def evidence_url(incident_id: str, role: str) -> str:
    return f"{API}/incidents/{incident_id}/evidence/{role}"


def scope(principal: Principal) -> Visibility:
    """The incidents `principal` may list (the API's lists, counts and exports, the workbench's
    queue and appeals inbox), as Principal.may_see judges one: all of the user's centers (every
    center where none are given), or only a staff member's own (staff id -1: none at all)."""
    principal.require(Permission.INCIDENTS_READ_ALL, Permission.INCIDENTS_READ_OWN)
    if principal.sees_all_incidents():
        return Visibility(center_ids=principal.centers)
    return Visibility(staff_id=principal.staff_id if principal.staff_id is not None else -1)


def to_public(incident: Incident) -> IncidentPublic:
    window, staff = incident.window, incident.staff
    return IncidentPublic(
        id=incident.id, source=incident.source, window_id=incident.window_id,
        window_number=window.number if window else None,
        department=window.department if window else None, center_id=incident.center_id,
        center_name=incident.center.name if incident.center else None,
        staff=(PersonRef(id=staff.id, name=staff.name, employee_no=staff.employee_no)
               if staff else None),
        kind=incident.kind, rule_id=incident.rule_id, rule_name=incident.rule_name,
        phrase=incident.phrase, speaker=incident.speaker, offset_s=incident.offset_s,
        end_s=incident.end_s, at=incident.at, received_at=incident.received_at,
        transcript=incident.transcript, hit_start=incident.hit_start, hit_end=incident.hit_end,
        score=incident.score, severity=incident.severity, deduction=incident.deduction,
        explanation=incident.explanation, status=incident.status,
        review_reason=incident.review_reason, reviewed_at=incident.reviewed_at,
        appeal_reason=incident.appeal_reason, appealed_at=incident.appealed_at,
        appeal_decision=incident.appeal_decision,
        appeal_decision_reason=incident.appeal_decision_reason,
        appeal_decided_at=incident.appeal_decided_at,
        evidence=[EvidencePublic(role=e.role, media_type=e.media_type, size=e.size,
                                 url=None if e.purged_at else evidence_url(incident.id, e.role),
                                 purged_at=e.purged_at) for e in incident.evidence],
        session_id=incident.session_id)


CSV_COLUMNS = ("id", "时间", "中心", "窗口", "窗口号", "进驻部门", "工号", "姓名", "类型",
               "规则编号", "规则", "用语", "严重程度", "扣分", "状态", "审核意见", "申诉理由",
               "申诉裁决", "转写")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula is quoted (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(incidents: Iterable[Incident], zone: ZoneInfo) -> Iterator[str]:
    """The incidents as CSV rows for people: times in the center's zone `zone` (the header
    says which), codes in their Chinese names."""
    out = io.StringIO()
    writer = csv.writer(out)
    out.write("\ufeff")  # so that spreadsheet programs read UTF-8 Chinese correctly
    writer.writerow([f"时间（{zone.key}）" if c == "时间" else c for c in CSV_COLUMNS])
    yield out.getvalue()
    for i in incidents:
        out.seek(0)
        out.truncate()
        w, s = i.window, i.staff
        writer.writerow([_cell(v) for v in (
            i.id, (i.at or i.received_at).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            i.center.name if i.center else "", i.window_id, w.number if w else "",
            w.department if w else "", s.employee_no if s else "", s.name if s else "",
            KIND_NAMES.get(i.kind, i.kind), i.rule_id, i.rule_name, i.phrase,
            SEVERITY_NAMES.get(i.severity, i.severity), number(i.deduction),
            STATUS_NAMES.get(i.status, i.status), i.review_reason, i.appeal_reason,
            APPEAL_DECISION_NAMES.get(i.appeal_decision or "", i.appeal_decision),
            i.transcript)])
        yield out.getvalue()

"""The review queue and one incident: play the evidence, confirm or dismiss it, appeal it
(staff, their own, in time), decide an appeal; on to the next incident of the same queue."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from etiquette.core.records import IncidentKind
from etiquette.service.api.deps import SessionDep, SettingsDep
from etiquette.service.api.routes.incidents import Filters
from etiquette.service.crud import audit
from etiquette.service.crud import incidents as crud
from etiquette.service.crud import master as crud_master
from etiquette.service.errors import Invalid
from etiquette.service.models import Center, Staff
from etiquette.service.schemas import (
    MAX_ID,
    AppealDecision,
    AppealDecisionRequest,
    AppealRequest,
    ReviewAction,
    ReviewRequest,
    ReviewStatus,
)
from etiquette.service.services import audit_text, review
from etiquette.service.services import rules as rules_service
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.audit_text import AuditLine
from etiquette.service.services.incidents import scope, to_public
from etiquette.service.web.pages import PageUser, check_csrf, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25


def _choices(session: Session, principal: Principal) -> dict[str, Any]:
    """What the list's filters offer: centers and staff to those who may read master data."""
    rules = rules_service.rules(session).data
    if not principal.can(Permission.MASTER_READ):
        return {"centers": [], "staff": [], "rules": rules}
    centers, _ = crud_master.list_rows(session=session, model=Center, limit=500)
    staff, _ = crud_master.list_rows(session=session, model=Staff, limit=2000)
    return {"centers": centers, "staff": staff, "rules": rules}


@router.get("/incidents", response_class=HTMLResponse)
def incident_list(request: Request, session: SessionDep, principal: PageUser,
                  page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    # The filter form sends the fields left at 全部 empty (center_id=&status=): no filter, not
    # a value to refuse, as the API's own parameters would.
    filters = _filters_from(request.url.query)
    rows, count = crud.list_incidents(session=session, flt=filters.value,
                                      only_staff_id=scope(principal),
                                      offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                                      oldest_first=True)
    query = {k: v for k, v in request.query_params.items() if k != "page" and v}
    return render(request, "incidents.html", {
        "principal": principal, "incidents": [to_public(r) for r in rows], "count": count,
        "page": page, "pages": max(1, -(-count // PAGE_SIZE)), "query": query,
        "q": urlencode(query), "export_url": "/api/v1/incidents/export.csv?" + urlencode(query),
        **_choices(session, principal)})


def _filters_from(q: str) -> Filters:
    """The list's filters from its query string (also carried to the incident page as one);
    empty fields filter nothing."""
    try:
        raw = dict(parse_qsl(q, max_num_fields=20))
        def as_date(v: str | None) -> date | None:
            return TypeAdapter(date).validate_python(v) if v else None

        def as_id(v: str | None) -> int | None:
            if not v:
                return None
            return TypeAdapter(Annotated[int, Field(ge=1, le=MAX_ID)]).validate_python(v)

        return Filters(center_id=as_id(raw.get("center_id")),
                       window_id=(raw.get("window_id") or "")[:64] or None,
                       staff_id=as_id(raw.get("staff_id")),
                       kind=IncidentKind(raw["kind"]) if raw.get("kind") else None,
                       rule_id=raw.get("rule_id") or None,
                       status=ReviewStatus(raw["status"]) if raw.get("status") else None,
                       date_from=as_date(raw.get("date_from")),
                       date_to=as_date(raw.get("date_to")))
    except (ValueError, ValidationError) as e:
        raise Invalid("筛选条件有误") from e


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, incident_id: str, session: SessionDep, settings: SettingsDep,
                  principal: PageUser, q: Annotated[str, Query(max_length=1000)] = "",
                  done: str | None = None) -> Response:
    only_staff_id = scope(principal)
    incident = review.visible(principal, crud.get_incident(session=session,
                                                           incident_id=incident_id))
    nxt = crud.next_in_queue(session=session, flt=_filters_from(q).value, after=incident,
                             only_staff_id=only_staff_id)
    history: list[AuditLine] = []
    if principal.can(Permission.INCIDENTS_HISTORY):
        entries, _ = audit.list_entries(session=session, target_type="incident",
                                        target_id=incident.id, limit=100)
        history = audit_text.lines(session, entries, ZoneInfo(settings.display_timezone),
                                   brief=True)
    public = to_public(incident)
    text, hs, he = public.transcript, public.hit_start, public.hit_end
    parts = ((text[:hs], text[hs:he], text[he:]) if hs is not None and he is not None
             else (text, "", ""))
    return render(request, "incident.html", {
        "principal": principal, "incident": public, "parts": parts, "q": q, "done": done,
        "rule": rules_service.rule(session, incident.rule_id),
        "next_id": nxt.id if nxt else None, "history": history,
        "can_review": principal.can(Permission.INCIDENTS_REVIEW),
        "can_decide": principal.can(Permission.INCIDENTS_DECIDE_APPEAL),
        "can_appeal": review.may_appeal(principal, incident, settings),
        "appeal_deadline": review.appeal_deadline(incident, settings),
        "audio": [e for e in public.evidence if e.media_type.startswith("audio/")],
        "images": [e for e in public.evidence if e.media_type.startswith("image/")]})


def _after_action(session: Session, principal: Principal, incident_id: str, q: str) -> Response:
    """On to the next incident of the same queue, or back to the list when it is empty."""
    incident = crud.get_incident(session=session, incident_id=incident_id)
    assert incident is not None  # the action just changed it
    nxt = crud.next_in_queue(session=session, flt=_filters_from(q).value, after=incident,
                             only_staff_id=scope(principal))
    if nxt is None:
        return RedirectResponse(f"/incidents?{q}&done={incident_id}" if q else
                                f"/incidents?done={incident_id}", status_code=303)
    return RedirectResponse(f"/incidents/{nxt.id}?{urlencode({'q': q, 'done': incident_id})}",
                            status_code=303)


@router.post("/incidents/{incident_id}/review")
def review_submit(incident_id: str, session: SessionDep, principal: PageUser,
                  action: Annotated[ReviewAction, Form()],
                  csrf_token: Annotated[str, Form(max_length=100)],
                  reason: Annotated[str, Form(max_length=2000)] = "",
                  q: Annotated[str, Form(max_length=1000)] = "") -> Response:
    check_csrf(principal, csrf_token)
    incident = review.visible(principal, crud.get_incident(session=session,
                                                           incident_id=incident_id))
    try:
        request = ReviewRequest(action=action, reason=reason.strip() or None)
    except ValueError as e:
        raise Invalid("驳回必须填写理由") from e
    review.review(session=session, principal=principal, incident=incident, request=request)
    return _after_action(session, principal, incident_id, q)


@router.post("/incidents/{incident_id}/appeal")
def appeal_submit(incident_id: str, session: SessionDep, settings: SettingsDep,
                  principal: PageUser,
                  reason: Annotated[str, Form(min_length=1, max_length=2000)],
                  csrf_token: Annotated[str, Form(max_length=100)],
                  q: Annotated[str, Form(max_length=1000)] = "") -> Response:
    check_csrf(principal, csrf_token)
    incident = review.visible(principal, crud.get_incident(session=session,
                                                           incident_id=incident_id))
    review.appeal(session=session, settings=settings, principal=principal, incident=incident,
                  request=AppealRequest(reason=reason))
    return RedirectResponse(f"/incidents/{incident_id}?{urlencode({'q': q})}", status_code=303)


@router.post("/incidents/{incident_id}/decide")
def decide_submit(incident_id: str, session: SessionDep, principal: PageUser,
                  decision: Annotated[AppealDecision, Form()],
                  reason: Annotated[str, Form(min_length=1, max_length=2000)],
                  csrf_token: Annotated[str, Form(max_length=100)],
                  q: Annotated[str, Form(max_length=1000)] = "") -> Response:
    check_csrf(principal, csrf_token)
    incident = review.visible(principal, crud.get_incident(session=session,
                                                           incident_id=incident_id))
    review.decide_appeal(session=session, principal=principal, incident=incident,
                         request=AppealDecisionRequest(decision=decision, reason=reason))
    return RedirectResponse(f"/incidents/{incident_id}?{urlencode({'q': q})}", status_code=303)

"""The review queue and one incident: play the evidence, confirm or dismiss it (one or a
checked batch, with one reason), undo one's own decision for a few minutes, appeal it (staff,
their own, in time), decide an appeal (the appeals inbox); on to the next incident of the same
queue, in its order."""

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
from etiquette.service.api.routes.incidents import MAX_QUERY, Filters
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit
from etiquette.service.crud import incidents as crud
from etiquette.service.crud import master as crud_master
from etiquette.service.crud.incidents import IncidentFilter, IncidentSort
from etiquette.service.errors import Invalid
from etiquette.service.models import Center, Staff, Window
from etiquette.service.schemas import (
    MAX_ID,
    AppealDecision,
    AppealDecisionRequest,
    AppealRequest,
    BulkReviewRequest,
    BulkReviewResult,
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


# The list's sortable columns: the first order a click on the head gives, and the other one.
SORT_COLUMNS = {"time": (IncidentSort.NEWEST, IncidentSort.OLDEST),
                "severity": (IncidentSort.SEVERITY_HIGH, IncidentSort.SEVERITY_LOW),
                "window": (IncidentSort.WINDOW, IncidentSort.WINDOW_DESC)}
# What the list's URL carries besides its filters, kept out of the API calls it makes.
NOT_FILTERS = ("page", "sort", "done")


def _choices(session: Session, principal: Principal) -> dict[str, Any]:
    """What the list's filters offer: centers, windows and staff (of the centers the user
    sees) to those who may read master data (others type a window's number or code)."""
    rules = rules_service.rules(session).data
    if not principal.can(Permission.MASTER_READ):
        return {"centers": [], "windows": [], "staff": [], "rules": rules}
    centers, _ = crud_master.list_rows(session=session, model=Center, limit=500)
    windows, _ = crud_master.list_rows(session=session, model=Window, limit=2000)
    staff, _ = crud_master.list_rows(session=session, model=Staff, limit=2000)
    return {"centers": [c for c in centers if principal.sees_center(c.id)],
            "windows": [w for w in windows if principal.sees_center(w.center_id)],
            "staff": [s for s in staff if principal.sees_center(s.center_id)], "rules": rules}


def _sort_links(query: dict[str, str], current: IncidentSort) -> dict[str, dict[str, str]]:
    """Each sortable column head's link (the list's filters kept) and its arrow: a click sorts
    by that column, a second click the other way."""
    links = {}
    for column, (first, second) in SORT_COLUMNS.items():
        target = second if current == first else first
        arrow = ("" if current not in (first, second)
                 else " ▼" if current.value.startswith("-") else " ▲")
        links[column] = {"url": "?" + urlencode({**query, "sort": target.value}), "arrow": arrow}
    return links


@router.get("/incidents", response_class=HTMLResponse)
def incident_list(request: Request, session: SessionDep, settings: SettingsDep,
                  principal: PageUser,
                  page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    # The filter form sends the fields left at 全部 empty (center_id=&status=): no filter, not
    # a value to refuse, as the API's own parameters would.
    filters = _filters_from(request.url.query, ZoneInfo(settings.display_timezone))
    sort = _sort_from(request.url.query)
    rendered_at = utcnow()
    rows, count = crud.list_incidents(session=session, flt=filters.value,
                                      visible=scope(principal),
                                      offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE, sort=sort)
    filter_query = {k: v for k, v in request.query_params.items() if k not in NOT_FILTERS and v}
    query = {**filter_query, **({"sort": sort.value} if sort != IncidentSort.NEWEST else {})}
    return render(request, "incidents.html", {
        "principal": principal, "incidents": [to_public(r) for r in rows], "count": count,
        "page": page, "pages": max(1, -(-count // PAGE_SIZE)), "query": query,
        "qs": urlencode(query), "sort_links": _sort_links(filter_query, sort),
        "export_url": "/api/v1/incidents/export.csv?" + urlencode(filter_query),
        # The page asks now and then how many incidents of its filters arrived after it.
        "counts_url": "/api/v1/incidents/counts?" + urlencode(
            {**filter_query, "since": rendered_at.isoformat()}),
        "can_review": principal.can(Permission.INCIDENTS_REVIEW),
        "undo_minutes": settings.undo_window_s / 60, **_choices(session, principal)})


def _sort_from(q: str) -> IncidentSort:
    """The list's order from its query string (newest first when it names none)."""
    raw = dict(parse_qsl(q, max_num_fields=20)).get("sort")
    try:
        return IncidentSort(raw) if raw else IncidentSort.NEWEST
    except ValueError as e:
        raise Invalid("排序方式有误") from e


def _filters_from(q: str, zone: ZoneInfo) -> Filters:
    """The list's filters from its query string (also carried to the incident page as one);
    empty fields filter nothing; dates are days of the center's time zone `zone`."""
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
                       date_to=as_date(raw.get("date_to")),
                       q=(raw.get("q") or "")[:MAX_QUERY] or None, zone=zone)
    except (ValueError, ValidationError) as e:
        raise Invalid("筛选条件有误") from e


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, incident_id: str, session: SessionDep, settings: SettingsDep,
                  principal: PageUser, q: Annotated[str, Query(max_length=1000)] = "",
                  done: str | None = None, undone: str | None = None) -> Response:
    visible = scope(principal)
    incident = review.visible(principal, crud.get_incident(session=session,
                                                           incident_id=incident_id))
    zone = ZoneInfo(settings.display_timezone)
    nxt = crud.next_in_queue(session=session, flt=_filters_from(q, zone).value, after=incident,
                             visible=visible, sort=_sort_from(q))
    history: list[AuditLine] = []
    if principal.can(Permission.INCIDENTS_HISTORY):
        entries, _ = audit.list_entries(session=session, target_type="incident",
                                        target_id=incident.id, limit=100)
        history = audit_text.lines(session, entries, zone,
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
        "can_undo": review.may_undo(principal, incident, settings), "undone": undone,
        "undo_deadline": review.undo_deadline(incident, settings),
        "appeal_deadline": review.appeal_deadline(incident, settings),
        "audio": [e for e in public.evidence if e.media_type.startswith("audio/")],
        "images": [e for e in public.evidence if e.media_type.startswith("image/")]})


def _after_action(session: Session, principal: Principal, incident_id: str, q: str,
                  zone: ZoneInfo) -> Response:
    """On to the next incident of the same queue, or back to the list when it is empty."""
    incident = crud.get_incident(session=session, incident_id=incident_id)
    assert incident is not None  # the action just changed it
    nxt = crud.next_in_queue(session=session, flt=_filters_from(q, zone).value, after=incident,
                             visible=scope(principal), sort=_sort_from(q))
    if nxt is None:
        return RedirectResponse(f"/incidents?{q}&done={incident_id}" if q else
                                f"/incidents?done={incident_id}", status_code=303)
    return RedirectResponse(f"/incidents/{nxt.id}?{urlencode({'q': q, 'done': incident_id})}",
                            status_code=303)


@router.post("/incidents/{incident_id}/review")
def review_submit(incident_id: str, session: SessionDep, settings: SettingsDep,
                  principal: PageUser,
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
    return _after_action(session, principal, incident_id, q, ZoneInfo(settings.display_timezone))


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


@router.post("/incidents/{incident_id}/undo")
def undo_submit(incident_id: str, session: SessionDep, settings: SettingsDep,
                principal: PageUser, csrf_token: Annotated[str, Form(max_length=100)],
                q: Annotated[str, Form(max_length=1000)] = "") -> Response:
    check_csrf(principal, csrf_token)
    incident = review.visible(principal, crud.get_incident(session=session,
                                                           incident_id=incident_id))
    review.undo(session=session, settings=settings, principal=principal, incident=incident)
    return RedirectResponse(f"/incidents/{incident_id}?{urlencode({'q': q, 'undone': '1'})}",
                            status_code=303)


def _bulk_page(request: Request, principal: Principal, result: BulkReviewResult, *,
               action: str, back: str, session: Session, settings: Settings) -> Response:
    """What a bulk action did to each incident, and (after a review) the undo of it."""
    found = {o.id: crud.get_incident(session=session, incident_id=o.id) for o in result.data}
    return render(request, "bulk.html", {
        "principal": principal, "result": result, "action": action, "back": back,
        "done_ids": [o.id for o in result.data if o.ok],
        "incidents": {i: to_public(r) for i, r in found.items() if r and principal.may_see(r)},
        "undo_minutes": settings.undo_window_s / 60})


@router.post("/incidents/bulk", response_class=HTMLResponse)
def bulk_submit(request: Request, session: SessionDep, settings: SettingsDep,
                principal: PageUser, action: Annotated[ReviewAction, Form()],
                csrf_token: Annotated[str, Form(max_length=100)],
                ids: Annotated[list[str] | None, Form(max_length=200)] = None,
                reason: Annotated[str, Form(max_length=2000)] = "",
                back: Annotated[str, Form(max_length=1000)] = "") -> Response:
    check_csrf(principal, csrf_token)
    if not ids:
        raise Invalid("请先勾选要处理的事件")
    try:
        body = BulkReviewRequest(ids=ids, action=action, reason=reason.strip() or None)
    except ValueError as e:
        raise Invalid("驳回必须填写理由" if action == ReviewAction.DISMISS
                      else "批量操作只能确认或驳回") from e
    result = review.bulk_review(session=session, principal=principal, request=body)
    return _bulk_page(request, principal, result, action=action.value, back=back,
                      session=session, settings=settings)


@router.post("/incidents/undo", response_class=HTMLResponse)
def bulk_undo_submit(request: Request, session: SessionDep, settings: SettingsDep,
                     principal: PageUser, csrf_token: Annotated[str, Form(max_length=100)],
                     ids: Annotated[list[str] | None, Form(max_length=200)] = None,
                     back: Annotated[str, Form(max_length=1000)] = "") -> Response:
    check_csrf(principal, csrf_token)
    if not ids:
        raise Invalid("没有要撤销的决定")
    result = review.bulk_undo(session=session, settings=settings, principal=principal,
                              ids=[i[:64] for i in ids[:200]])
    return _bulk_page(request, principal, result, action="undo", back=back, session=session,
                      settings=settings)


@router.get("/appeals", response_class=HTMLResponse)
def appeals(request: Request, session: SessionDep, principal: PageUser,
            page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    """The appeals inbox: appeals awaiting a decision, the latest first, with their text."""
    principal.require(Permission.INCIDENTS_DECIDE_APPEAL)
    flt = IncidentFilter(status=ReviewStatus.APPEALED.value)
    rows, count = crud.list_incidents(session=session, flt=flt, visible=scope(principal),
                                      offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                                      sort=IncidentSort.APPEALED)
    return render(request, "appeals.html", {
        "principal": principal, "incidents": [to_public(r) for r in rows], "count": count,
        "page": page, "pages": max(1, -(-count // PAGE_SIZE)),
        # The incident page's 下一条 goes on through the inbox.
        "qs": urlencode({"status": ReviewStatus.APPEALED.value,
                         "sort": IncidentSort.APPEALED.value})})

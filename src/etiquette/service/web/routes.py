"""The review workbench: server-rendered pages in Chinese over the same services as the API.

Forms post with a CSRF token from the session; the login form, which has no session yet,
uses a double-submit cookie. Pages of someone not logged in redirect to the login page.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from etiquette.core.records import IncidentKind
from etiquette.service.api.deps import SESSION_COOKIE, SessionDep, SettingsDep, client_ip
from etiquette.service.api.routes.auth import set_session_cookie
from etiquette.service.api.routes.incidents import Filters
from etiquette.service.core import security
from etiquette.service.crud import audit
from etiquette.service.crud import incidents as crud
from etiquette.service.crud import master as crud_master
from etiquette.service.crud import rules as crud_rules
from etiquette.service.crud import scoring as crud_scoring
from etiquette.service.errors import Forbidden, Invalid, ServiceError, Unauthorized
from etiquette.service.labels import number
from etiquette.service.models import Center, Staff
from etiquette.service.schemas import (
    MAX_ID,
    AppealDecision,
    AppealDecisionRequest,
    AppealRequest,
    ReviewAction,
    ReviewRequest,
    ReviewStatus,
    RuleVersionCreate,
    ScoringVersionCreate,
    WebhookCreate,
    WebhookUpdate,
)
from etiquette.service.services import (
    auth,
    practice,
    report_export,
    reports,
    review,
    webhooks,
)
from etiquette.service.services import rules as rules_service
from etiquette.service.services import scoring as scoring_service
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.incidents import to_public

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")
LOGIN_CSRF_COOKIE = "etiquette_login_csrf"
PAGE_SIZE = 25

STATUS_NAMES = {"pending": "待审核", "confirmed": "已确认", "dismissed": "已驳回", "appealed": "申诉中"}
KIND_NAMES = {"forbidden_phrase": "禁用语", "missing_greeting": "缺迎声",
              "missing_farewell": "缺送声", "off_post": "离岗"}
SEVERITY_NAMES = {"minor": "一般", "major": "较重", "critical": "严重"}
ROLE_NAMES = {"admin": "管理员", "supervisor": "监督员", "staff": "窗口工作人员", "auditor": "审计员"}
SPEAKER_NAMES = {"staff": "工作人员", "citizen": "办事群众", "unknown": "未区分"}
EVIDENCE_NAMES = {"clip": "录音片段", "snapshot": "现场抓拍", "empty_seat": "空座画面",
                  "last_seen": "最后在岗画面"}
templates.env.filters["num"] = number
templates.env.globals.update(STATUS_NAMES=STATUS_NAMES, KIND_NAMES=KIND_NAMES,
                             SEVERITY_NAMES=SEVERITY_NAMES, ROLE_NAMES=ROLE_NAMES,
                             SPEAKER_NAMES=SPEAKER_NAMES, EVIDENCE_NAMES=EVIDENCE_NAMES)


class LoginRequired(Exception):
    pass


def is_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(("/api/", "/health", "/static/", "/docs", "/redoc", "/openapi"))


def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    settings = request.app.state.settings
    zone = ZoneInfo(settings.display_timezone)

    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return value.astimezone(zone).strftime(fmt) if value else "—"

    context = {"local": local, "timezone": settings.display_timezone, **context}
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def error_page(request: Request, status_code: int, detail: str) -> Response:
    if status_code == 401:
        return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", status_code=303)
    return _render(request, "error.html", {"status_code": status_code, "detail": detail,
                                           "principal": None}, status_code=status_code)


def page_user(request: Request, session: SessionDep) -> Principal:
    principal = auth.principal_from_session(session=session, token=request.cookies.get(SESSION_COOKIE))
    if principal is None:
        raise Unauthorized("请先登录")
    return principal


PageUser = Annotated[Principal, Depends(page_user)]


def check_csrf(principal: Principal, token: str) -> None:
    if not principal.csrf_token or not security.same(token, principal.csrf_token):
        raise Forbidden("表单已过期，请刷新页面后重试 (CSRF token missing or wrong)")


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute URL or a scheme-relative //host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/incidents"
    return target


# ---------------------------------------------------------------- login


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Annotated[str | None, Query(max_length=500)] = None,
               error: str | None = None) -> Response:
    token = security.new_token()
    response = _render(request, "login.html", {"csrf_token": token, "next": _safe_next(next),
                                               "error": error, "principal": None})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login",
                        secure=request.app.state.settings.cookie_secure)
    return response


@router.post("/login")
def login_submit(request: Request, session: SessionDep, settings: SettingsDep,
                 username: Annotated[str, Form(max_length=64)],
                 password: Annotated[str, Form(max_length=256)],
                 csrf_token: Annotated[str, Form(max_length=100)],
                 next: Annotated[str, Form(max_length=500)] = "/incidents") -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not security.same(cookie, csrf_token):
        return login_page(request, next, "登录表单已过期，请重试")
    try:
        _, token, _ = auth.login(session=session, settings=settings, username=username,
                                 password=password, ip=client_ip(request))
    except ServiceError as e:
        response = login_page(request, next, e.detail.split(" (")[0])
        response.status_code = e.status_code
        return response
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, token, settings)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, principal: PageUser,
           csrf_token: Annotated[str, Form(max_length=100)]) -> Response:
    check_csrf(principal, csrf_token)
    auth.logout(session=session, token=request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse("/incidents?status=pending", status_code=303)


# ---------------------------------------------------------------- incidents


def _scope(principal: Principal) -> int | None:
    principal.require(Permission.INCIDENTS_READ_ALL, Permission.INCIDENTS_READ_OWN)
    if principal.sees_all_incidents():
        return None
    return principal.staff_id if principal.staff_id is not None else -1


def _choices(session: Session, principal: Principal) -> dict[str, Any]:
    rules = rules_service.rules(session).data
    if not principal.can(Permission.MASTER_READ):
        return {"centers": [], "staff": [], "rules": rules}
    centers, _ = crud_master.list_rows(session=session, model=Center, limit=500)
    staff, _ = crud_master.list_rows(session=session, model=Staff, limit=2000)
    return {"centers": centers, "staff": staff, "rules": rules}


@router.get("/incidents", response_class=HTMLResponse)
def incident_list(request: Request, session: SessionDep, principal: PageUser,
                  filters: Annotated[Filters, Depends()],
                  page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    rows, count = crud.list_incidents(session=session, flt=filters.value, only_staff_id=_scope(principal),
                                      offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                                      oldest_first=True)
    query = {k: v for k, v in request.query_params.items() if k != "page" and v}
    return _render(request, "incidents.html", {
        "principal": principal, "incidents": [to_public(r) for r in rows], "count": count,
        "page": page, "pages": max(1, -(-count // PAGE_SIZE)), "query": query,
        "q": urlencode(query), "export_url": "/api/v1/incidents/export.csv?" + urlencode(query),
        **_choices(session, principal)})


def _filters_from(q: str) -> Filters:
    """The list's filters, carried to the incident page as a query string, parsed back."""
    raw = dict(parse_qsl(q, max_num_fields=20))
    try:
        def as_date(v: str | None) -> date | None:
            return TypeAdapter(date).validate_python(v) if v else None

        def as_id(v: str | None) -> int | None:
            return TypeAdapter(Annotated[int, Field(ge=1, le=MAX_ID)]).validate_python(v) if v else None

        return Filters(center_id=as_id(raw.get("center_id")),
                       window_id=(raw.get("window_id") or "")[:64] or None,
                       staff_id=as_id(raw.get("staff_id")),
                       kind=IncidentKind(raw["kind"]) if raw.get("kind") else None,
                       rule_id=raw.get("rule_id") or None,
                       status=ReviewStatus(raw["status"]) if raw.get("status") else None,
                       date_from=as_date(raw.get("date_from")), date_to=as_date(raw.get("date_to")))
    except (ValueError, ValidationError) as e:
        raise Invalid("筛选条件有误") from e


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, incident_id: str, session: SessionDep, settings: SettingsDep,
                  principal: PageUser, q: Annotated[str, Query(max_length=1000)] = "",
                  done: str | None = None) -> Response:
    _scope(principal)
    incident = review.visible(principal, crud.get_incident(session=session, incident_id=incident_id))
    flt = _filters_from(q)
    nxt = crud.next_in_queue(session=session, flt=flt.value, after=incident,
                             only_staff_id=_scope(principal))
    history: list[Any] = []
    if principal.can(Permission.INCIDENTS_HISTORY):
        history, _ = audit.list_entries(session=session, target_type="incident",
                                        target_id=incident.id, limit=100)
    public = to_public(incident)
    text, hs, he = public.transcript, public.hit_start, public.hit_end
    parts = ((text[:hs], text[hs:he], text[he:]) if hs is not None and he is not None
             else (text, "", ""))
    deadline = review.appeal_deadline(incident, settings)
    return _render(request, "incident.html", {
        "principal": principal, "incident": public, "parts": parts, "q": q, "done": done,
        "rule": rules_service.rule(session, incident.rule_id),
        "next_id": nxt.id if nxt else None, "history": history,
        "can_review": principal.can(Permission.INCIDENTS_REVIEW),
        "can_decide": principal.can(Permission.INCIDENTS_DECIDE_APPEAL),
        "can_appeal": (principal.can(Permission.INCIDENTS_APPEAL_OWN)
                       and incident.staff_id == principal.staff_id
                       and incident.status == ReviewStatus.CONFIRMED and incident.appealed_at is None),
        "appeal_deadline": deadline, "audio": [e for e in public.evidence if e.media_type.startswith("audio/")],
        "images": [e for e in public.evidence if e.media_type.startswith("image/")]})


def _after_action(session: Session, principal: Principal, incident_id: str, q: str) -> Response:
    """On to the next incident of the same queue, or back to the list when it is empty."""
    incident = crud.get_incident(session=session, incident_id=incident_id)
    assert incident is not None
    nxt = crud.next_in_queue(session=session, flt=_filters_from(q).value, after=incident,
                             only_staff_id=_scope(principal))
    if nxt is None:
        return RedirectResponse(f"/incidents?{q}&done={incident_id}" if q else
                                f"/incidents?done={incident_id}", status_code=303)
    return RedirectResponse(f"/incidents/{nxt.id}?{urlencode({'q': q, 'done': incident_id})}",
                            status_code=303)


@router.post("/incidents/{incident_id}/review")
def review_submit(incident_id: str, session: SessionDep, principal: PageUser,
                  action: Annotated[ReviewAction, Form()], csrf_token: Annotated[str, Form(max_length=100)],
                  reason: Annotated[str, Form(max_length=2000)] = "",
                  q: Annotated[str, Form(max_length=1000)] = "") -> Response:
    check_csrf(principal, csrf_token)
    incident = review.visible(principal, crud.get_incident(session=session, incident_id=incident_id))
    try:
        request = ReviewRequest(action=action, reason=reason.strip() or None)
    except ValueError as e:
        raise Invalid("驳回必须填写理由") from e
    review.review(session=session, principal=principal, incident=incident, request=request)
    return _after_action(session, principal, incident_id, q)


@router.post("/incidents/{incident_id}/appeal")
def appeal_submit(incident_id: str, session: SessionDep, settings: SettingsDep, principal: PageUser,
                  reason: Annotated[str, Form(min_length=1, max_length=2000)],
                  csrf_token: Annotated[str, Form(max_length=100)],
                  q: Annotated[str, Form(max_length=1000)] = "") -> Response:
    check_csrf(principal, csrf_token)
    incident = review.visible(principal, crud.get_incident(session=session, incident_id=incident_id))
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
    incident = review.visible(principal, crud.get_incident(session=session, incident_id=incident_id))
    review.decide_appeal(session=session, principal=principal, incident=incident,
                         request=AppealDecisionRequest(decision=decision, reason=reason))
    return RedirectResponse(f"/incidents/{incident_id}?{urlencode({'q': q})}", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, principal: PageUser,
               page: Annotated[int, Query(ge=1, le=100_000)] = 1,
               action: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    principal.require(Permission.AUDIT_READ)
    rows, count = audit.list_entries(session=session, action=action or None,
                                     offset=(page - 1) * 50, limit=50)
    return _render(request, "audit.html", {"principal": principal, "entries": rows, "count": count,
                                           "page": page, "pages": max(1, -(-count // 50)),
                                           "action": action or ""})


# ---------------------------------------------------------------- rules (admins)


def _rules_page(request: Request, session: Session, principal: Principal, *, text: str | None = None,
                comment: str = "", based_on: int | None = None, error: str | None = None,
                saved: int | None = None, status_code: int = 200) -> HTMLResponse:
    current = crud_rules.current(session=session)
    history, count = crud_rules.list_versions(session=session, limit=200)
    return _render(request, "rules.html", {
        "principal": principal, "current": current, "history": history, "count": count,
        "text": text if text is not None else (current.yaml if current else ""),
        "comment": comment, "based_on": based_on if based_on is not None else (current.id if current else None),
        "error": error, "saved": saved}, status_code=status_code)


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, session: SessionDep, principal: PageUser,
               saved: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    principal.require(Permission.RULES_ADMIN)
    return _rules_page(request, session, principal, saved=saved)


@router.post("/rules")
def rules_submit(request: Request, session: SessionDep, principal: PageUser,
                 yaml: Annotated[str, Form(max_length=200_000)],
                 csrf_token: Annotated[str, Form(max_length=100)],
                 based_on: Annotated[int, Form(ge=1, le=MAX_ID)],
                 comment: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Save the edited YAML as a new version; on a bad edit, the same page with the error and
    the admin's text, so nothing typed is lost."""
    principal.require(Permission.RULES_ADMIN)
    check_csrf(principal, csrf_token)
    try:
        row = rules_service.create_version(session=session, principal=principal, body=RuleVersionCreate(
            yaml=yaml, comment=comment, based_on=based_on))
    except ServiceError as e:
        return _rules_page(request, session, principal, text=yaml.replace("\r\n", "\n"),
                           comment=comment, based_on=based_on, error=e.detail,
                           status_code=e.status_code)
    except ValidationError:
        return _rules_page(request, session, principal, text=yaml, comment=comment,
                           based_on=based_on, error="规则内容不能为空", status_code=422)
    return RedirectResponse(f"/rules?saved={row.id}", status_code=303)


# ---------------------------------------------------------------- reports


@router.get("/reports", response_class=HTMLResponse)
def report_page(request: Request, session: SessionDep, settings: SettingsDep, principal: PageUser,
                period: Annotated[str | None, Query(max_length=10)] = None,
                center_id: Annotated[str | None, Query(max_length=12)] = None,
                public: Annotated[str | None, Query(max_length=5)] = None) -> Response:
    """The report of a month, quarter or year (default: the current month), with its exports."""
    principal.require(Permission.REPORTS_READ)
    chosen = reports.parse_period(period) if period else reports.parse_period(
        str(scoring_service.current_month(settings)))
    try:
        center = int(center_id) if center_id else None
    except ValueError as e:
        raise Invalid("中心编号有误") from e
    is_public = public in ("1", "true", "on")
    report = reports.build(session=session, settings=settings, principal=principal, period=chosen,
                           center_id=center, public=is_public)
    query = {k: v for k, v in (("center_id", center_id), ("public", "true" if is_public else None)) if v}
    centers, _ = crud_master.list_rows(session=session, model=Center, limit=500)
    return _render(request, "report.html", {
        "principal": principal, "report": report, "title": report_export.title(report),
        "charts": report_export.chart_svgs(report), "centers": centers, "center_id": center,
        "export_base": f"/api/v1/reports/{report.period}/export", "q": urlencode(query)})


# ---------------------------------------------------------------- scoring scheme


def _scoring_page(request: Request, session: Session, settings: Any, principal: Principal, *,
                  text: str | None = None, effective_from: str | None = None, comment: str = "",
                  error: str | None = None, saved: int | None = None,
                  status_code: int = 200) -> HTMLResponse:
    month = scoring_service.current_month(settings)
    in_force, _ = scoring_service.in_force(session, month)
    newest = crud_scoring.current(session=session)
    history, count = crud_scoring.list_versions(session=session, limit=200)
    return _render(request, "scoring.html", {
        "principal": principal, "month": str(month), "in_force": in_force, "history": history,
        "count": count, "text": text if text is not None else in_force.yaml,
        "effective_from": effective_from or str(month), "comment": comment, "error": error,
        "saved": saved, "based_on": newest.id if newest else "",
        "can_edit": principal.can(Permission.SCORING_ADMIN)}, status_code=status_code)


@router.get("/scoring", response_class=HTMLResponse)
def scoring_page(request: Request, session: SessionDep, settings: SettingsDep, principal: PageUser,
                 saved: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    principal.require(Permission.REPORTS_READ)
    return _scoring_page(request, session, settings, principal, saved=saved)


@router.post("/scoring")
def scoring_submit(request: Request, session: SessionDep, settings: SettingsDep, principal: PageUser,
                   yaml: Annotated[str, Form(max_length=200_000)],
                   csrf_token: Annotated[str, Form(max_length=100)],
                   effective_from: Annotated[str, Form(max_length=7)],
                   based_on: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
                   comment: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Save the edited scheme; on a bad edit the same page with the error and the text."""
    principal.require(Permission.SCORING_ADMIN)
    check_csrf(principal, csrf_token)
    try:
        row = scoring_service.create_version(
            session=session, settings=settings, principal=principal,
            body=ScoringVersionCreate(yaml=yaml, effective_from=effective_from, comment=comment,
                                      based_on=based_on))
    except ServiceError as e:
        return _scoring_page(request, session, settings, principal, text=yaml.replace("\r\n", "\n"),
                             effective_from=effective_from, comment=comment, error=e.detail,
                             status_code=e.status_code)
    except ValidationError:
        return _scoring_page(request, session, settings, principal, text=yaml,
                             effective_from=effective_from, comment=comment,
                             error="内容不能为空，生效月份应为 YYYY-MM", status_code=422)
    return RedirectResponse(f"/scoring?saved={row.id}", status_code=303)


# ---------------------------------------------------------------- staff self-training


@router.get("/practice", response_class=HTMLResponse)
def practice_page(request: Request, session: SessionDep, principal: PageUser) -> Response:
    """The required phrases to record, and the staff member's own practice history."""
    phrases = practice.phrases(session, principal)
    history, count = practice.history(session=session, principal=principal, limit=50)
    # The page says it at once rather than after a recording (Chinese only, as the login does).
    unavailable = practice.UNAVAILABLE.split(" (")[0] if request.app.state.practice is None else None
    return _render(request, "practice.html", {"principal": principal, "phrases": phrases,
                                              "history": history, "count": count,
                                              "unavailable": unavailable})


# ---------------------------------------------------------------- alerts: webhooks (admins)


def _webhooks_page(request: Request, session: Session, principal: Principal, *,
                   created: Any = None, error: str | None = None,
                   status_code: int = 200) -> HTMLResponse:
    principal.require(Permission.WEBHOOKS_READ)
    hooks = webhooks.list_webhooks(session=session)
    latest = {}
    for h in hooks:
        rows, _ = webhooks.deliveries(session=session, webhook_id=h.id, limit=1)
        if rows:
            latest[h.id] = rows[0]
    return _render(request, "webhooks.html", {
        "principal": principal, "hooks": hooks, "latest": latest, "created": created,
        "error": error, "can_edit": principal.can(Permission.WEBHOOKS_ADMIN)},
        status_code=status_code)


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, session: SessionDep, principal: PageUser) -> Response:
    return _webhooks_page(request, session, principal)


@router.post("/webhooks", response_class=HTMLResponse)
def webhooks_submit(request: Request, session: SessionDep, principal: PageUser,
                    name: Annotated[str, Form(max_length=200)],
                    url: Annotated[str, Form(max_length=2000)],
                    csrf_token: Annotated[str, Form(max_length=100)],
                    kinds: Annotated[list[str] | None, Form()] = None,
                    severities: Annotated[list[str] | None, Form()] = None) -> Response:
    """Add a webhook; the page shows its signing secret this once."""
    principal.require(Permission.WEBHOOKS_ADMIN)
    check_csrf(principal, csrf_token)
    try:
        body = WebhookCreate(name=name, url=url, kinds=kinds or [],  # type: ignore[arg-type]
                             severities=severities or [])  # type: ignore[arg-type]
        hook = webhooks.create(session=session, principal=principal, body=body)
    except ValidationError as e:
        return _webhooks_page(request, session, principal, status_code=422,
                              error="；".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}"
                                             for x in e.errors()))
    except ServiceError as e:
        return _webhooks_page(request, session, principal, error=e.detail,
                              status_code=e.status_code)
    return _webhooks_page(request, session, principal, created=hook, status_code=201)


@router.post("/webhooks/{webhook_id}/active")
def webhook_active(webhook_id: Annotated[int, FastPath(ge=1, le=MAX_ID)], session: SessionDep,
                   principal: PageUser, active: Annotated[int, Form(ge=0, le=1)],
                   csrf_token: Annotated[str, Form(max_length=100)]) -> Response:
    principal.require(Permission.WEBHOOKS_ADMIN)
    check_csrf(principal, csrf_token)
    webhooks.update(session=session, principal=principal, webhook_id=webhook_id,
                    body=WebhookUpdate(active=bool(active)))
    return RedirectResponse("/webhooks", status_code=303)

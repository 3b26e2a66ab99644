"""The phrase rules (admins): each rule edited through a form, the whole YAML for experts,
both saved as a new version; the versions listed and compared two at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from etiquette.service.api.deps import SessionDep
from etiquette.service.crud import rules as crud_rules
from etiquette.service.errors import Conflict, NotFound, ServiceError
from etiquette.service.schemas import MAX_ID, RuleVersionCreate
from etiquette.service.services import rule_editor
from etiquette.service.services import rules as rules_service
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.problems import InvalidDocument
from etiquette.service.web.pages import PageUser, check_csrf, render, version_diff_page

router = APIRouter(include_in_schema=False)
RuleId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
VersionQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _rules_page(request: Request, session: Session, principal: Principal, *,
                text: str | None = None, comment: str = "", based_on: int | None = None,
                error: str | None = None, saved: int | None = None,
                status_code: int = 200) -> HTMLResponse:
    current = crud_rules.current(session=session)
    history, count = crud_rules.list_versions(session=session, limit=200)
    if based_on is None and current is not None:
        based_on = current.id
    return render(request, "rules.html", {
        "principal": principal, "current": current, "history": history, "count": count,
        "rules": rule_editor.forms(current.yaml) if current else [],
        "text": text if text is not None else (current.yaml if current else ""),
        "comment": comment, "based_on": based_on, "error": error, "saved": saved},
        status_code=status_code)


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, session: SessionDep, principal: PageUser,
               saved: VersionQuery = None) -> Response:
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
        row = rules_service.create_version(session=session, principal=principal,
                                           body=RuleVersionCreate(yaml=yaml, comment=comment,
                                                                  based_on=based_on))
    except ServiceError as e:
        return _rules_page(request, session, principal, text=yaml.replace("\r\n", "\n"),
                           comment=comment, based_on=based_on, error=e.detail,
                           status_code=e.status_code)
    except ValidationError:
        return _rules_page(request, session, principal, text=yaml, comment=comment,
                           based_on=based_on, error="规则内容不能为空", status_code=422)
    return RedirectResponse(f"/rules?saved={row.id}", status_code=303)


def _rule_page(request: Request, session: Session, principal: Principal, rule_id: str, *,
               values: dict[str, str] | None = None, comment: str = "",
               based_on: int | None = None, error: str | None = None,
               field_errors: dict[str, str] | None = None,
               status_code: int = 200) -> HTMLResponse:
    current = crud_rules.current(session=session)
    if current is None:
        raise NotFound("尚无规则版本")
    rule = rule_editor.form(current.yaml, rule_id)
    return render(request, "rules_rule.html", {
        "principal": principal, "current": current, "rule": rule,
        "values": {**rule.values, **(values or {})}, "comment": comment,
        "based_on": based_on or current.id, "error": error,
        "field_errors": field_errors or {}}, status_code=status_code)


@router.get("/rules/rule/{rule_id}", response_class=HTMLResponse)
def rule_page(request: Request, session: SessionDep, principal: PageUser,
              rule_id: RuleId) -> Response:
    principal.require(Permission.RULES_ADMIN)
    return _rule_page(request, session, principal, rule_id)


def _field_errors(error: ServiceError, rule: rule_editor.RuleForm) -> dict[str, str]:
    """The problems that are one of the form's fields, by field name."""
    out: dict[str, str] = {}
    if not isinstance(error, InvalidDocument):
        return out  # a conflict: about the version, not a field
    for problem in error.problems:
        if problem.loc[:2] != (rule.section, rule.index):
            continue
        path = tuple(str(k) for k in problem.loc[2:])
        name = next((n for n, p in rule_editor.FIELDS.items() if path[:len(p)] == p), None)
        if name is not None:
            out.setdefault(name, problem.what)
    return out


Text = Annotated[str | None, Form(max_length=20_000)]


@router.post("/rules/rule/{rule_id}")
def rule_submit(request: Request, session: SessionDep, principal: PageUser, rule_id: RuleId,
                csrf_token: Annotated[str, Form(max_length=100)],
                based_on: Annotated[int, Form(ge=1, le=MAX_ID)],
                comment: Annotated[str, Form(max_length=500)] = "", name: Text = None,
                phrases: Text = None, variants: Text = None, exclusions: Text = None,
                min_score: Text = None, severity: Text = None, deduction: Text = None,
                missing_severity: Text = None, missing_deduction: Text = None,
                staff_alone: Text = None) -> Response:
    """Save the rule's fields as a new version; on a bad value, the form again with what was
    typed and the error beside its field. A field the form did not send is left as it is."""
    principal.require(Permission.RULES_ADMIN)
    check_csrf(principal, csrf_token)
    fields = {"name": name, "phrases": phrases, "variants": variants, "exclusions": exclusions,
              "min_score": min_score, "severity": severity, "deduction": deduction,
              "missing_severity": missing_severity, "missing_deduction": missing_deduction,
              "staff_alone": staff_alone}
    submitted = {k: v for k, v in fields.items() if v is not None}
    try:
        row = rule_editor.edit(session=session, principal=principal, rule_id=rule_id,
                               submitted=submitted, based_on=based_on, comment=comment)
    except (InvalidDocument, Conflict) as e:
        current = crud_rules.current(session=session)
        rule = rule_editor.form(current.yaml if current else "", rule_id)
        return _rule_page(request, session, principal, rule_id, values=submitted,
                          comment=comment, based_on=based_on, error=e.detail,
                          field_errors=_field_errors(e, rule), status_code=e.status_code)
    return RedirectResponse(f"/rules?saved={row.id}", status_code=303)


@router.get("/rules/diff", response_class=HTMLResponse)
def rules_diff(request: Request, session: SessionDep, principal: PageUser,
               old: Annotated[int | None, Query(alias="from", ge=1, le=MAX_ID)] = None,
               new: Annotated[int | None, Query(alias="to", ge=1, le=MAX_ID)] = None) -> Response:
    """Two versions side by side: by default the one in force and the one before it."""
    principal.require(Permission.RULES_ADMIN)
    return version_diff_page(request, session, principal, crud_rules, what="规则", base="/rules",
                             none_yet="尚无规则版本", old=old, new=new)

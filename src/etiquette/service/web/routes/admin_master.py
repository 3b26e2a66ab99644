"""基础数据 (admins edit; supervisors and auditors read): service centers, their windows, the
staff and the window each one sits at now, and the YAML import. The same services as
/api/v1/centers, /windows, /staff, /assignments and /masterdata/import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from etiquette.service.api.deps import SessionDep, SettingsDep, single_form_parts
from etiquette.service.core.db import utcnow
from etiquette.service.crud import master as crud
from etiquette.service.errors import Invalid, NotFound, ServiceError
from etiquette.service.models import Assignment, Center, MasterRow, Staff, Window
from etiquette.service.schemas import MAX_ID, CenterCreate, ImportResult, StaffCreate, WindowCreate
from etiquette.service.services import masterdata
from etiquette.service.services.access import Permission, Principal
from etiquette.service.web.admin_forms import checked, optional_int, service_error
from etiquette.service.web.pages import PageUser, check_csrf, render

router = APIRouter(include_in_schema=False)
KindName = Literal["centers", "windows", "staff"]
Id = Annotated[int, FastPath(ge=1, le=MAX_ID)]
Text = Annotated[str, Form(max_length=300)]


@dataclass(frozen=True)
class Kind:
    model: type[MasterRow]
    schema: type[BaseModel]  # an edit is checked as a whole record, as a new one is
    name: str
    fields: tuple[str, ...]


KINDS: dict[str, Kind] = {
    "centers": Kind(Center, CenterCreate, "服务中心", ("code", "name")),
    "windows": Kind(Window, WindowCreate, "窗口",
                    ("center_id", "code", "number", "department", "business_category", "active")),
    "staff": Kind(Staff, StaffCreate, "工作人员", ("employee_no", "name", "center_id", "active")),
}


@dataclass
class MasterForm:
    """One master-data form as posted: every kind's fields, each kind takes its own."""

    code: str = ""
    name: str = ""
    center_id: str = ""
    number: str = ""
    department: str = ""
    business_category: str = ""
    employee_no: str = ""
    active: str = ""  # a checkbox: "1" when ticked, absent when not
    window_pk: str = ""  # staff: the window they sit at from now on ("" none)

    def values(self, kind: Kind) -> dict[str, Any]:
        raw: dict[str, Any] = {**vars(self), "center_id": optional_int(self.center_id),
                               "active": self.active == "1"}
        return {f: raw[f] for f in kind.fields}


def _form(code: Text = "", name: Text = "", center_id: Text = "", number: Text = "",
          department: Text = "", business_category: Text = "", employee_no: Text = "",
          active: Text = "", window_pk: Text = "") -> MasterForm:
    return MasterForm(code, name, center_id, number, department, business_category, employee_no,
                 active, window_pk)


FormDep = Annotated[MasterForm, Depends(_form)]


def _lists(session: Session) -> dict[str, Any]:
    centers, _ = crud.list_rows(session=session, model=Center, limit=500)
    windows, _ = crud.list_rows(session=session, model=Window, limit=2000)
    staff, _ = crud.list_rows(session=session, model=Staff, limit=2000)
    now = crud.current_assignments(session=session, at=utcnow())
    by_id = {s.id: s for s in staff}
    return {"centers": centers, "windows": windows, "staff": staff,
            "center_names": {c.id: c.name for c in centers},
            "window_names": {w.id: f"{w.center.name} {w.number} 号窗口" for w in windows},
            "window_of": {a.staff_id: a.window_pk for a in now},
            "staff_at": {a.window_pk: by_id[a.staff_id] for a in now if a.staff_id in by_id}}


def _master_page(request: Request, session: Session, principal: Principal, *,
                 kind: str | None = None, values: dict[str, Any] | None = None,
                 errors: dict[str, str] | None = None, saved: str | None = None,
                 imported: ImportResult | None = None, status_code: int = 200) -> HTMLResponse:
    principal.require(Permission.MASTER_READ)
    return render(request, "admin_master.html", {
        "principal": principal, **_lists(session), "kind": kind, "values": values or {},
        "errors": errors or {}, "saved": saved, "imported": imported, "kinds": KINDS,
        "can_edit": principal.can(Permission.MASTER_WRITE)}, status_code=status_code)


def _edit_page(request: Request, session: Session, principal: Principal, kind: str, id: int, *,
               values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
               notice: str | None = None, status_code: int = 200) -> HTMLResponse:
    principal.require(Permission.MASTER_WRITE)
    row = crud.get(session=session, model=KINDS[kind].model, id=id)
    if row is None:
        raise NotFound(f"没有这条{KINDS[kind].name}记录 (no such record)")
    lists = _lists(session)
    if values is None:
        values = {**masterdata.snapshot(row), "window_pk": lists["window_of"].get(id)
                  if kind == "staff" else None}
    return render(request, "admin_master_edit.html", {
        "principal": principal, **lists, "kind": kind, "row": row, "values": values,
        "errors": errors or {}, "notice": notice, "kinds": KINDS}, status_code=status_code)


def _move(session: Session, principal: Principal, staff_id: int, window: str) -> None:
    """Seat a staff member at `window` ("" none) from now on: a new assignment, then the end of
    the one they had, so that a window someone else staffs refuses before anything changes."""
    window_pk = optional_int(window)
    if not isinstance(window_pk, int | None):
        raise Invalid("请从列表中选择窗口 (window_pk must be a window's id)", field="window_pk")
    now = utcnow()
    current = next((a for a in crud.current_assignments(session=session, at=now)
                    if a.staff_id == staff_id), None)
    if current is not None and current.window_pk == window_pk:
        return
    if window_pk is not None:
        masterdata.create(session=session, principal=principal, model=Assignment,
                          values={"staff_id": staff_id, "window_pk": window_pk, "start_at": now,
                                  "end_at": None})
    if current is not None:
        masterdata.update(session=session, principal=principal, model=Assignment, id=current.id,
                          values={"end_at": now})


@router.get("/master", response_class=HTMLResponse)
def master_page(request: Request, session: SessionDep, principal: PageUser,
                saved: KindName | None = None) -> Response:
    return _master_page(request, session, principal, saved=saved)


@router.post("/master/import", response_class=HTMLResponse,
             dependencies=[Depends(single_form_parts)])
def master_import(request: Request, session: SessionDep, settings: SettingsDep,
                  principal: PageUser, csrf_token: Annotated[str, Form(max_length=100)],
                  file: Annotated[UploadFile, File()]) -> Response:
    """Import (upsert) a YAML file of centers, windows, staff and assignments."""
    principal.require(Permission.MASTER_WRITE)
    check_csrf(principal, csrf_token)
    try:
        data = masterdata.parse_upload(file.file.read(settings.max_import_bytes + 1),
                                       limit=settings.max_import_bytes)
        result = masterdata.import_file(session=session, principal=principal, data=data)
    except ServiceError as e:
        return _master_page(request, session, principal, kind="import",
                            errors=service_error(e, "file"), status_code=e.status_code)
    return _master_page(request, session, principal, imported=result)


@router.post("/master/{kind}", response_class=HTMLResponse)
def master_create(request: Request, kind: KindName, session: SessionDep, principal: PageUser,
                  csrf_token: Annotated[str, Form(max_length=100)], form: FormDep) -> Response:
    principal.require(Permission.MASTER_WRITE)
    check_csrf(principal, csrf_token)
    spec = KINDS[kind]
    values = form.values(spec)
    body = checked(spec.schema, values)
    if isinstance(body, dict):
        return _master_page(request, session, principal, kind=kind,
                            values={**values, "window_pk": form.window_pk}, errors=body,
                            status_code=422)
    try:
        row = masterdata.create(session=session, principal=principal, model=spec.model,
                                values=body.model_dump())
    except ServiceError as e:
        return _master_page(request, session, principal, kind=kind,
                            values={**values, "window_pk": form.window_pk},
                            errors=service_error(e), status_code=e.status_code)
    if kind == "staff" and form.window_pk:
        try:
            _move(session, principal, row.id, form.window_pk)
        except ServiceError as e:  # the person is added; the window is for the edit page
            session.rollback()
            return _edit_page(request, session, principal, kind, row.id,
                              errors=service_error(e, "window_pk"), status_code=e.status_code,
                              notice=f"已添加工作人员「{body.model_dump()['name']}」，但未能安排窗口。")
    return RedirectResponse(f"/master?saved={kind}#{kind}", status_code=303)


@router.get("/master/{kind}/{id}", response_class=HTMLResponse)
def master_edit_page(request: Request, kind: KindName, id: Id, session: SessionDep,
                     principal: PageUser) -> Response:
    return _edit_page(request, session, principal, kind, id)


@router.post("/master/{kind}/{id}", response_class=HTMLResponse)
def master_edit(request: Request, kind: KindName, id: Id, session: SessionDep,
                principal: PageUser, csrf_token: Annotated[str, Form(max_length=100)],
                form: FormDep) -> Response:
    principal.require(Permission.MASTER_WRITE)
    check_csrf(principal, csrf_token)
    spec = KINDS[kind]
    values = form.values(spec)
    shown = {**values, "window_pk": optional_int(form.window_pk)}
    body = checked(spec.schema, values)
    if isinstance(body, dict):
        return _edit_page(request, session, principal, kind, id, values=shown, errors=body,
                          status_code=422)
    try:
        masterdata.update(session=session, principal=principal, model=spec.model, id=id,
                          values=body.model_dump())
        if kind == "staff":
            _move(session, principal, id, form.window_pk)
    except ServiceError as e:
        if e.status_code == 404:
            raise
        session.rollback()
        return _edit_page(request, session, principal, kind, id, values=shown,
                          errors=service_error(e), status_code=e.status_code)
    return RedirectResponse(f"/master?saved={kind}#{kind}", status_code=303)

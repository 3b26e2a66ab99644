"""Master data: centers, windows, staff, assignments. Every change is audited; an import
from YAML or CSV upserts by natural keys (center code, window code within its center,
employee number, staff+window+start), so importing the same file twice changes nothing."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from etiquette.service import media
from etiquette.service.crud import audit
from etiquette.service.crud import master as crud
from etiquette.service.errors import (
    Conflict,
    Invalid,
    NotFound,
    ServiceError,
    TooLarge,
)
from etiquette.service.evidence_store import EvidenceStore
from etiquette.service.models import Assignment, Center, MasterRow, Staff, Window
from etiquette.service.schemas import (
    AssignmentCreate,
    CenterCreate,
    ImportResult,
    StaffCreate,
    WindowCreate,
)
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.slots import Slots

TARGETS: dict[type[MasterRow], str] = {Center: "center", Window: "window", Staff: "staff",
                                  Assignment: "assignment"}
_REF_NAMES = {"center_id": "中心", "staff_id": "工作人员", "window_pk": "窗口"}
# What a duplicate is a duplicate of (the natural keys), for a form to show it at that field.
_UNIQUE_FIELDS: dict[type[MasterRow], str] = {Center: "code", Window: "code",
                                              Staff: "employee_no"}
_UNIQUE_NAMES: dict[type[MasterRow] | None, str] = {Center: "中心代码", Window: "窗口编码",
                                                    Staff: "工号"}
_PUBLIC_FIELDS: dict[type[MasterRow], tuple[str, ...]] = {
    Center: ("code", "name"),
    Window: ("center_id", "code", "number", "department", "business_category", "active"),
    Staff: ("employee_no", "name", "center_id", "active", "photo_sha256"),
    Assignment: ("staff_id", "window_pk", "start_at", "end_at"),
}


def snapshot(row: MasterRow) -> dict[str, Any]:
    return {f: getattr(row, f) for f in _PUBLIC_FIELDS[type(row)]}


def _check_refs(session: Session, values: dict[str, Any]) -> None:
    for key, model in (("center_id", Center), ("staff_id", Staff), ("window_pk", Window)):
        if (values.get(key) is not None
                and crud.get(session=session, model=model, id=values[key]) is None):
            raise Invalid(f"所选{_REF_NAMES[key]}不存在 ({key} {values[key]} does not exist)",
                          field=key)


def _duplicate(what: str, model: type[MasterRow] | None = None) -> Conflict:
    return Conflict(f"与已有记录重复，{_UNIQUE_NAMES.get(model, '代码')}已被使用 ({what} conflicts "
                    "with an existing record (duplicate code or number))",
                    field=_UNIQUE_FIELDS.get(model) if model else None)


def _commit(session: Session, what: str, model: type[MasterRow] | None = None) -> None:
    try:
        session.commit()
    except IntegrityError as e:
        session.rollback()
        raise _duplicate(what, model) from e


def _check_assignment(session: Session, values: dict[str, Any], exclude_id: int | None) -> None:
    clash = crud.overlapping_assignment(session=session, window_pk=values["window_pk"],
                                        start_at=values["start_at"], end_at=values.get("end_at"),
                                        exclude_id=exclude_id)
    if clash is not None:
        raise Conflict(f"该窗口在这段时间已有其他工作人员在岗 (window {values['window_pk']} is "
                       f"already staffed by staff {clash.staff_id} in that time (assignment "
                       f"{clash.id}))", field="window_pk")


def create(*, session: Session, principal: Principal, model: type[MasterRow],
           values: dict[str, Any]) -> MasterRow:
    principal.require(Permission.MASTER_WRITE)
    _check_refs(session, values)
    if model is Assignment:
        _check_assignment(session, values, None)
    try:
        row = crud.create(session=session, model=model, values=values)
    except IntegrityError as e:
        session.rollback()
        raise _duplicate(TARGETS[model], model) from e
    audit.record(session=session, actor=principal, action=f"{TARGETS[model]}.create",
                 target_type=TARGETS[model], target_id=str(row.id), after=snapshot(row))
    _commit(session, TARGETS[model], model)
    return row


def update(*, session: Session, principal: Principal, model: type[MasterRow], id: int,
           values: dict[str, Any]) -> MasterRow:
    principal.require(Permission.MASTER_WRITE)
    row = crud.get(session=session, model=model, id=id)
    if row is None:
        raise NotFound(f"no {TARGETS[model]} {id}")
    _check_refs(session, values)
    if model is Assignment:
        merged = snapshot(row) | values
        if merged["end_at"] is not None and merged["end_at"] <= merged["start_at"]:
            raise Invalid("end_at must be after start_at")
        _check_assignment(session, merged, id)
    before = snapshot(row)
    crud.update(row=row, values=values)
    after = snapshot(row)
    changed = [k for k in before if before[k] != after[k]]
    audit.record(session=session, actor=principal, action=f"{TARGETS[model]}.update",
                 target_type=TARGETS[model], target_id=str(id),
                 before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    _commit(session, TARGETS[model], model)
    return row


def delete(*, session: Session, principal: Principal, model: type[MasterRow], id: int) -> None:
    principal.require(Permission.MASTER_WRITE)
    row = crud.get(session=session, model=model, id=id)
    if row is None:
        raise NotFound(f"no {TARGETS[model]} {id}")
    refs = crud.references(session=session, model=model, id=id)
    if refs:
        raise Conflict(f"{TARGETS[model]} {id} is still referenced by {', '.join(refs)}; "
                       "deactivate it instead (active: false)")
    audit.record(session=session, actor=principal, action=f"{TARGETS[model]}.delete",
                 target_type=TARGETS[model], target_id=str(id), before=snapshot(row))
    session.delete(row)
    _commit(session, TARGETS[model])


def set_photo(*, session: Session, principal: Principal, store: EvidenceStore, slots: Slots,
              staff_id: int, data: bytes, max_bytes: int) -> Staff:
    """Raises TooManyRequests: every decoding slot is taken."""
    principal.require(Permission.MASTER_WRITE)
    staff = crud.get(session=session, model=Staff, id=staff_id)
    if staff is None:
        raise NotFound(f"no staff {staff_id}")
    if len(data) > max_bytes:
        raise TooLarge(f"photo is {len(data)} bytes; the limit is {max_bytes}")
    with slots.hold():
        media_type = media.check_image(data, "photo")  # decoded whole, as evidence images are
    before = snapshot(staff)
    staff.photo_sha256, staff.photo_media_type = store.put(data), media_type
    audit.record(session=session, actor=principal, action="staff.photo", target_type="staff",
                 target_id=str(staff_id), before={"photo_sha256": before["photo_sha256"]},
                 after={"photo_sha256": staff.photo_sha256})
    session.commit()
    return staff


# ---------------------------------------------------------------- import


class _ImportWindow(BaseModel):
    code: str
    number: str
    department: str = ""
    business_category: str = ""
    active: bool = True


class _ImportCenter(BaseModel):
    code: str
    name: str
    windows: list[_ImportWindow] = []


class _ImportStaff(BaseModel):
    employee_no: str
    name: str
    center: str | None = None
    active: bool = True


class _ImportAssignment(BaseModel):
    employee_no: str
    window: str
    center: str
    start_at: datetime
    end_at: datetime | None = None


class _ImportFile(BaseModel):
    model_config = {"extra": "forbid"}
    centers: list[_ImportCenter] = []
    staff: list[_ImportStaff] = []
    assignments: list[_ImportAssignment] = []


CSV_ENTITIES = ("centers", "windows", "staff", "assignments")


def parse_upload(raw: bytes, *, limit: int, format: str = "yaml",
                 entity: str | None = None) -> _ImportFile:
    """An uploaded import file of at most `limit` bytes (`raw` holds up to one more, to tell)."""
    if len(raw) > limit:
        raise TooLarge(f"导入文件太大 (import files are limited to {limit} bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise Invalid("导入文件须为 UTF-8 文本 (the file must be UTF-8 text)") from e
    if format == "csv":
        if entity is None:
            raise Invalid("CSV import needs entity=centers|windows|staff|assignments")
        return parse_csv(text, entity)
    return parse_yaml(text)


def parse_yaml(text: str) -> _ImportFile:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise Invalid(f"不是有效的 YAML 文件 (not valid YAML: {e})") from e
    if not isinstance(raw, dict):
        raise Invalid("导入文件应含 centers、staff、assignments 列表 "
                      "(expected a mapping with centers, staff, assignments)")
    return _validated(raw)


def parse_csv(text: str, entity: str) -> _ImportFile:
    """One entity per CSV file, header row with the field names; windows and assignments name
    their center by its code in a `center` column."""
    if entity not in CSV_ENTITIES:
        raise Invalid(f"entity must be one of {', '.join(CSV_ENTITIES)}")
    rows = [{k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in r.items() if k}
            for r in csv.DictReader(io.StringIO(text))]
    for r in rows:
        for k in ("end_at", "center", "department", "business_category"):
            if r.get(k) == "":
                r.pop(k)
        if "active" in r:
            r["active"] = str(r["active"]).lower() in ("1", "true", "yes", "是")
    raw: dict[str, Any]
    if entity == "windows":
        by_center: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if "center" not in r:
                raise Invalid("windows.csv needs a center column (the center's code)")
            by_center.setdefault(r.pop("center"), []).append(r)
        raw = {"centers": [{"code": c, "name": "", "windows": ws} for c, ws in by_center.items()]}
    else:
        raw = {entity: rows}
    return _validated(raw, windows_only=entity == "windows")


def _validated(raw: dict[str, Any], windows_only: bool = False) -> _ImportFile:
    try:
        parsed = _ImportFile.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = " -> ".join(str(p) for p in first["loc"])
        raise Invalid(f"导入文件有误，位置 {where} ({where}: {first['msg']})") from e
    if windows_only:
        for c in parsed.centers:
            c.name = ""  # the center must exist; its name is not changed by a windows file
    return parsed


def _validate_row(schema: type[BaseModel], values: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        return schema.model_validate(values).model_dump()
    except ValidationError as e:
        first = e.errors()[0]
        loc = " -> ".join(str(p) for p in first["loc"])
        raise Invalid(f"导入文件有误，位置 {where}: {loc} ({where}: {loc}: {first['msg']})") from e


def import_file(*, session: Session, principal: Principal, data: _ImportFile) -> ImportResult:
    """Upsert everything in `data` in one transaction, with one audit entry for the import."""
    principal.require(Permission.MASTER_WRITE)
    try:
        return _import(session, principal, data)
    except IntegrityError as e:
        session.rollback()
        raise Conflict("the import conflicts with existing records (duplicate codes)") from e
    except ServiceError:
        session.rollback()
        raise


def _import(session: Session, principal: Principal, data: _ImportFile) -> ImportResult:
    counts = ImportResult(centers=0, windows=0, staff=0, assignments=0)
    for c in data.centers:
        center = crud.center_by_code(session=session, code=c.code)
        if center is None:
            if not c.name:
                raise Invalid(f"center {c.code} does not exist (import it with a name first)")
            values = _validate_row(CenterCreate, {"code": c.code, "name": c.name},
                                   f"centers {c.code}")
            center = crud.create(session=session, model=Center, values=values)
            counts.centers += 1
        elif c.name and center.name != c.name:
            center.name = c.name
            counts.centers += 1
        for w in c.windows:
            values = _validate_row(WindowCreate, {"center_id": center.id, **w.model_dump()},
                                   f"window {w.code}")
            window = crud.window_by_code(session=session, code=w.code, center_id=center.id)
            if window is None:
                crud.create(session=session, model=Window, values=values)
                counts.windows += 1
            elif any(getattr(window, k) != v for k, v in values.items()):
                crud.update(row=window, values=values)
                counts.windows += 1
    session.flush()
    for s in data.staff:
        center_id = None
        if s.center:
            center = crud.center_by_code(session=session, code=s.center)
            if center is None:
                raise Invalid(f"staff {s.employee_no}: center {s.center} does not exist")
            center_id = center.id
        values = _validate_row(StaffCreate, {"employee_no": s.employee_no, "name": s.name,
                                             "center_id": center_id, "active": s.active},
                               f"staff {s.employee_no}")
        staff = crud.staff_by_employee_no(session=session, employee_no=s.employee_no)
        if staff is None:
            crud.create(session=session, model=Staff, values=values)
            counts.staff += 1
        elif any(getattr(staff, k) != v for k, v in values.items()):
            crud.update(row=staff, values=values)
            counts.staff += 1
    session.flush()
    for a in data.assignments:
        where = f"assignment {a.employee_no} @ {a.center}/{a.window}"
        staff = crud.staff_by_employee_no(session=session, employee_no=a.employee_no)
        center = crud.center_by_code(session=session, code=a.center)
        window = crud.window_by_code(session=session, code=a.window,
                                     center_id=center.id) if center else None
        if staff is None or window is None:
            raise Invalid(f"{where}: unknown staff or window")
        values = _validate_row(AssignmentCreate,
                               {"staff_id": staff.id, "window_pk": window.id,
                                "start_at": a.start_at, "end_at": a.end_at}, where)
        existing = crud.assignment_by_start(session=session, staff_id=staff.id, window_pk=window.id,
                                            start_at=values["start_at"])
        if existing is None:
            _check_assignment(session, values, None)
            crud.create(session=session, model=Assignment, values=values)
            counts.assignments += 1
        elif existing.end_at != values["end_at"]:
            _check_assignment(session, values, existing.id)
            existing.end_at = values["end_at"]
            counts.assignments += 1
    audit.record(session=session, actor=principal, action="masterdata.import",
                 target_type="masterdata", target_id="import", after=counts.model_dump())
    _commit(session, "import")
    return counts

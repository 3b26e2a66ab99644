"""Master data through the API: CRUD, import from YAML and CSV, conflicts, photos."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from etiquette.service import media
from etiquette.service.models import Staff

from factories.service import (
    incident,
    jpeg_bytes,
    make_incident,
    png_bytes,
    post_incident,
    wav_bytes,
)
from service.conftest import LiveService


def u() -> str:
    return uuid.uuid4().hex[:6]


def test_create_update_delete_and_refusals(api: LiveService) -> None:
    admin, sup = api.client("admin"), api.client("supervisor")
    c = admin.post("/api/v1/centers", json={"code": f"c{u()}", "name": "九江市政务服务中心"}).json()
    w = admin.post("/api/v1/windows", json={"center_id": c["id"], "code": f"jj-{u()}",
                                            "number": "07", "department": "公安局",
                                            "business_category": "出入境"})
    assert w.status_code == 201, w.text
    window = w.json()
    assert sup.get(f"/api/v1/windows/{window['id']}").json()["department"] == "公安局"
    assert sup.patch(f"/api/v1/windows/{window['id']}", json={"number": "08"}).status_code == 403
    r = admin.patch(f"/api/v1/windows/{window['id']}", json={"number": "08"})
    assert r.status_code == 200 and r.json()["number"] == "08"
    # Same code twice in one center; unknown center; bad fields; unknown id.
    assert admin.post("/api/v1/windows", json={"center_id": c["id"], "code": window["code"],
                                               "number": "09"}).status_code == 409
    assert admin.post("/api/v1/windows", json={"center_id": 999999, "code": "x",
                                               "number": "1"}).status_code == 422
    assert admin.post("/api/v1/centers", json={"code": "", "name": "x"}).status_code == 422
    assert admin.post("/api/v1/centers", json={"code": "a/b", "name": "x"}).status_code == 422
    assert admin.patch("/api/v1/centers/999999", json={"name": "x"}).status_code == 404
    assert admin.get("/api/v1/centers/0").status_code == 422
    # A center that windows point at cannot be deleted; an empty window can.
    assert admin.delete(f"/api/v1/centers/{c['id']}").status_code == 409
    assert admin.delete(f"/api/v1/windows/{window['id']}").status_code == 200
    assert admin.delete(f"/api/v1/centers/{c['id']}").status_code == 200
    assert admin.get(f"/api/v1/centers/{c['id']}").status_code == 404
    log = admin.get("/api/v1/audit", params={"target_type": "window",
                                             "target_id": str(window["id"])}).json()["data"]
    assert [e["action"] for e in log][::-1] == ["window.create", "window.update", "window.delete"]
    assert log[1]["before"] == {"number": "07"} and log[1]["after"] == {"number": "08"}


def test_assignments_attribute_incidents_and_may_not_overlap(api: LiveService) -> None:
    admin = api.client("admin")
    code = f"w-{u()}"
    window = admin.post("/api/v1/windows", json={"center_id": api.ids["center"], "code": code,
                                                 "number": "09"}).json()
    staff = admin.post("/api/v1/staff", json={"employee_no": f"E{u()}", "name": "赵六",
                                              "center_id": api.ids["center"]}).json()
    morning = {"staff_id": staff["id"], "window_pk": window["id"],
               "start_at": "2026-05-01T08:00:00+08:00", "end_at": "2026-05-01T12:00:00+08:00"}
    assert admin.post("/api/v1/assignments", json=morning).status_code == 201
    clash = {**morning, "staff_id": api.ids["T001"], "start_at": "2026-05-01T11:00:00+08:00",
             "end_at": "2026-05-01T13:00:00+08:00"}
    assert admin.post("/api/v1/assignments", json=clash).status_code == 409
    backwards = {**morning, "start_at": "2026-05-02T12:00:00+08:00",
                 "end_at": "2026-05-02T08:00:00+08:00"}
    assert admin.post("/api/v1/assignments", json=backwards).status_code == 422
    from datetime import datetime

    inside = incident(window_id=code, at_dt=datetime.fromisoformat("2026-05-01T10:00:00+08:00"))
    outside = incident(window_id=code, at_dt=datetime.fromisoformat("2026-05-01T14:00:00+08:00"))
    for body in (inside, outside):
        assert post_incident(api.pipeline(), body).status_code == 201
    sup = api.client("supervisor")
    assert sup.get(f"/api/v1/incidents/{inside['id']}").json()["staff"]["name"] == "赵六"
    assert sup.get(f"/api/v1/incidents/{outside['id']}").json()["staff"] is None
    assert admin.delete(f"/api/v1/staff/{staff['id']}").status_code == 409


YAML = """
centers:
  - code: {c}
    name: 赣州市政务服务中心
    windows:
      - {{code: gz-1, number: "1", department: 税务局, business_category: 申报}}
staff:
  - {{employee_no: {e}, name: 孙七, center: {c}}}
assignments:
  - {{employee_no: {e}, center: {c}, window: gz-1, start_at: "2026-01-01T00:00:00+08:00"}}
"""


def test_import_yaml_twice_changes_nothing_the_second_time(api: LiveService) -> None:
    admin = api.client("admin")
    text = YAML.format(c=f"gz{u()}", e=f"G{u()}").encode()
    first = admin.post("/api/v1/masterdata/import", files={"file": ("m.yaml", text, "text/yaml")})
    assert first.status_code == 200, first.text
    assert first.json() == {"centers": 1, "windows": 1, "staff": 1, "assignments": 1}
    again = admin.post("/api/v1/masterdata/import", files={"file": ("m.yaml", text, "text/yaml")})
    assert again.json() == {"centers": 0, "windows": 0, "staff": 0, "assignments": 0}


def test_an_import_of_two_files_at_once_is_refused(api: LiveService) -> None:
    admin = api.client("admin")
    one, other = (YAML.format(c=f"gz{u()}", e=f"G{u()}").encode() for _ in range(2))
    r = admin.post("/api/v1/masterdata/import", files=[("file", ("a.yaml", one, "text/yaml")),
                                                       ("file", ("b.yaml", other, "text/yaml"))])
    assert r.status_code == 422 and "「file」重复" in r.json()["detail"], r.text


def test_import_csv_and_bad_files(api: LiveService) -> None:
    admin = api.client("admin")
    no = f"C{u()}"
    staff_csv = f"employee_no,name,center\n{no},周八,nc\n".encode()
    r = admin.post("/api/v1/masterdata/import", params={"format": "csv", "entity": "staff"},
                   files={"file": ("staff.csv", staff_csv, "text/csv")})
    assert r.status_code == 200 and r.json()["staff"] == 1
    windows_csv = "center,code,number,department\nnc,w-csv-" + u() + ",11,医保局\n"
    r = admin.post("/api/v1/masterdata/import", params={"format": "csv", "entity": "windows"},
                   files={"file": ("w.csv", windows_csv.encode(), "text/csv")})
    assert r.status_code == 200 and r.json()["windows"] == 1
    bad = {
        "not yaml": (b"centers: [unclosed", {}),
        "unknown key": (b"people: []\n", {}),
        "csv without entity": (staff_csv, {"format": "csv"}),
        "unknown center": (f"employee_no,name,center\nX{u()},吴九,nowhere\n".encode(),
                           {"format": "csv", "entity": "staff"}),
        "not utf-8": ("employee_no,name\nA1,张三\n".encode("gbk"),
                      {"format": "csv", "entity": "staff"}),
        "assignment to unknown window": (
            f"employee_no,center,window,start_at\n{no},nc,nope,2026-01-01T00:00:00+08:00\n".encode(),
            {"format": "csv", "entity": "assignments"}),
    }
    for name, (data, params) in bad.items():
        r = admin.post("/api/v1/masterdata/import", params=params,
                       files={"file": ("f", data, "text/plain")})
        assert r.status_code == 422, (name, r.text)


def test_staff_photo(api: LiveService) -> None:
    admin = api.client("admin")
    sid = api.ids["T001"]
    assert admin.put(f"/api/v1/staff/{sid}/photo",
                     files={"photo": ("p.wav", wav_bytes(), "audio/wav")}).status_code == 415
    r = admin.put(f"/api/v1/staff/{sid}/photo",
                  files={"photo": ("p.jpg", jpeg_bytes(200), "image/jpeg")})
    assert r.status_code == 200 and r.json()["has_photo"] is True
    assert api.client("staff1").get(f"/api/v1/staff/{sid}/photo").content == jpeg_bytes(200)
    assert api.client("staff2").get(f"/api/v1/staff/{sid}/photo").status_code == 403
    assert api.client("staff1").get("/api/v1/staff").status_code == 403
    assert make_incident(api)  # master data changes do not disturb ingest attribution


def new_staff(api: LiveService) -> int:
    r = api.client("admin").post("/api/v1/staff", json={
        "employee_no": f"P{u()}", "name": "周十", "center_id": api.ids["center"]})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_a_photo_part_sent_twice_is_refused(api: LiveService) -> None:
    """Of two `photo` parts, which one counts would be nobody's choice: 422, nothing changed."""
    admin, sid = api.client("admin"), new_staff(api)
    r = admin.put(f"/api/v1/staff/{sid}/photo", files=[
        ("photo", ("a.jpg", jpeg_bytes(10), "image/jpeg")),
        ("photo", ("b.jpg", jpeg_bytes(20), "image/jpeg"))])
    assert r.status_code == 422, r.text
    assert "「photo」重复" in r.json()["detail"]
    assert admin.get(f"/api/v1/staff/{sid}").json()["has_photo"] is False


def test_a_photo_is_decoded_off_the_event_loop(api: LiveService,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """An image of up to 40 megapixels takes a CPU for a second or more to decode: in a worker
    thread, the service's other requests are answered meanwhile."""
    decoded_in: list[str] = []
    real = media.check_image

    def spy(data: bytes, part: str, max_pixels: int = media.MAX_IMAGE_PIXELS) -> str:
        try:
            asyncio.get_running_loop()
            decoded_in.append("the event loop")
        except RuntimeError:
            decoded_in.append("a worker thread")
        return real(data, part, max_pixels)

    monkeypatch.setattr(media, "check_image", spy)
    sid = new_staff(api)
    r = api.client("admin").put(f"/api/v1/staff/{sid}/photo",
                                files={"photo": ("p.png", png_bytes(), "image/png")})
    assert r.status_code == 200, r.text
    assert decoded_in == ["a worker thread"]


def test_a_stored_photo_type_that_is_no_image_is_an_attachment(api: LiveService) -> None:
    """A photo is shown inline only as the image it was validated as; a row from before photos
    were decoded may hold any type: served as bytes to save, never rendered by the browser."""
    admin, sid = api.client("admin"), new_staff(api)
    assert admin.put(f"/api/v1/staff/{sid}/photo",
                     files={"photo": ("p.png", png_bytes(), "image/png")}).status_code == 200
    shown = admin.get(f"/api/v1/staff/{sid}/photo")
    assert shown.headers["content-type"] == "image/png" and shown.content == png_bytes()
    assert shown.headers["content-disposition"].startswith("inline;")
    with api.sessions() as s:
        staff = s.get(Staff, sid)
        assert staff is not None
        staff.photo_media_type = "text/html"
        s.commit()
    saved = admin.get(f"/api/v1/staff/{sid}/photo")
    assert saved.status_code == 200
    assert saved.headers["content-type"] == "application/octet-stream"
    assert saved.headers["content-disposition"].startswith("attachment;")
    assert saved.headers["x-content-type-options"] == "nosniff"

"""Gas cylinders through the real app: the JSON API (registering, movements and the 409 of an
impossible one, storage places over their NFPA 99 limit, consumption and its files, department
scope)."""

from __future__ import annotations

import csv
import io

from consumables_support import department_id
from openpyxl import load_workbook
from relational_support import clock, csrf_from, web
from sqlalchemy import select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import AuditLog, CylinderMovement
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people import users


def _headers(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="t", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def _department(web, code: str) -> int:
    with session_scope(web.engine, readonly=True) as s:
        return department_id(s, code)


def test_the_api_registers_a_cylinder_moves_it_and_refuses_an_impossible_move_with_409(web):
    client = web.app.test_client()
    buyer, tech = _headers(web, "buyer"), _headers(web, "tech")
    area = client.post("/api/v1/oxygen/storage-areas", headers=buyer,
                       json={"code": "icu-sc1", "name": "ICU east compartment", "kind": "smoke_compartment",
                             "department_id": _department(web, "ICU")})
    assert area.status_code == 201, area.text
    assert (area.json["code"], area.json["limit_ft3"], area.json["limit_l"]) == ("ICU-SC1", "300", "8495")
    made = client.post("/api/v1/oxygen/cylinders", headers=buyer,
                       json={"tag": "ox-100", "size": "E", "capacity_l": 680, "status": "filled",
                             "storage_area_id": area.json["id"]})
    assert made.status_code == 201, made.text
    assert (made.json["tag"], made.json["department"], made.json["storage_area"]) == ("OX-100", "ICU", "ICU-SC1")
    assert made.json["allowed_movements"] == ["empty_out", "transfer", "in_use", "quarantine"]
    out = client.post("/api/v1/oxygen/cylinders/OX-100/movements", headers=tech, json={"kind": "empty_out"})
    assert out.status_code == 201, out.text
    assert (out.json["movement"]["from_department"], out.json["cylinder"]["status"]) == ("ICU", "empty")
    again = client.post("/api/v1/oxygen/cylinders/OX-100/movements", headers=tech, json={"kind": "empty_out"})
    assert again.status_code == 409 and again.json["error"]["code"] == "invalid_transition"
    assert "is empty, so it cannot be recorded as empty_out" in again.json["error"]["message"]
    bad = client.post("/api/v1/oxygen/cylinders/OX-100/movements", headers=tech, json={"kind": "lost"})
    assert bad.status_code == 400
    back = client.post("/api/v1/oxygen/cylinders/ox-100/movements", headers=tech,
                       json={"kind": "filled_in", "to_department_id": _department(web, "ED")})
    assert back.status_code == 201 and back.json["cylinder"]["department"] == "ED"
    log = client.get("/api/v1/oxygen/cylinders/OX-100/movements", headers=tech).json
    assert [(m["kind"], m["status_after"]) for m in log["items"]] == [("filled_in", "filled"), ("empty_out", "empty")]
    assert client.post("/api/v1/oxygen/cylinders", headers=tech,
                       json={"tag": "X", "capacity_l": 1, "status": "filled"}).status_code == 403
    with session_scope(web.engine, readonly=True) as s:
        assert s.scalar(select(CylinderMovement.id).where(CylinderMovement.kind == "filled_in")) is not None


def test_a_storage_place_over_its_limit_is_flagged_in_the_movement_answer_and_the_list(web):
    client = web.app.test_client()
    buyer, nurse = _headers(web, "buyer"), _headers(web, "manager")
    area = client.post("/api/v1/oxygen/storage-areas", headers=buyer,
                       json={"code": "ED-SC", "name": "ED bay", "kind": "smoke_compartment",
                             "department_id": _department(web, "ED")}).json
    for n in range(2):
        client.post("/api/v1/oxygen/cylinders", headers=buyer,
                    json={"tag": f"M-{n}", "size": "M", "capacity_l": "3455", "status": "filled",
                          "storage_area_id": area["id"]})
    client.post("/api/v1/oxygen/cylinders", headers=buyer,
                json={"tag": "M-2", "capacity_l": "3455", "status": "empty", "department_id": _department(web, "ICU")})
    moved = client.post("/api/v1/oxygen/cylinders/M-2/movements", headers=nurse,
                        json={"kind": "filled_in", "to_area_id": area["id"]})
    assert moved.status_code == 201, moved.text
    assert moved.json["storage_area"]["over_limit"] is True and moved.json["storage_area"]["held_l"] == "10365"
    over = client.get("/api/v1/oxygen/storage-areas?over_limit=true", headers=nurse).json["items"]
    assert [(a["code"], a["cylinders"], a["held_ft3"]) for a in over] == [("ED-SC", 3, "366.04")]


def test_consumption_by_department_and_month_as_json_csv_and_excel_and_scoped(web):
    client = web.app.test_client()
    buyer, nurse, pharm = _headers(web, "buyer"), _headers(web, "manager"), _headers(web, "pharmtech")
    client.post("/api/v1/oxygen/cylinders", headers=buyer,
                json={"tag": "C-1", "capacity_l": "680", "status": "filled", "department_id": _department(web, "ICU")})
    client.post("/api/v1/oxygen/cylinders/C-1/movements", headers=nurse, json={"kind": "empty_out"})
    report = client.get("/api/v1/oxygen/consumption?from=2025-12&to=2026-01", headers=nurse).json
    icu = next(d for d in report["departments"] if d["department"] == "ICU")
    assert report["months"] == ["2025-12", "2026-01"]
    assert (icu["cylinders_emptied"], icu["litres"], icu["total_litres"]) == ([0, 1], ["0", "680"], "680")
    got = client.get("/api/v1/oxygen/consumption/export?format=csv&from=2026-01&to=2026-01", headers=nurse)
    assert got.status_code == 200 and got.headers["Content-Type"].startswith("text/csv")
    assert ["ICU", "Intensive Care Unit", "2026-01", "1", "680", "0.68"] in list(
        csv.reader(io.StringIO(got.data.decode("utf-8-sig"))))
    book = client.get("/api/v1/oxygen/consumption/export?format=xlsx", headers=nurse)
    assert load_workbook(io.BytesIO(book.data)).active.max_row == 1 + 12 * 8
    assert client.get("/api/v1/oxygen/consumption/export?format=pdf", headers=nurse).status_code == 400
    mine = client.get("/api/v1/oxygen/consumption", headers=pharm).json
    assert [d["department"] for d in mine["departments"]] == ["PHARM"]
    other = client.get(f"/api/v1/oxygen/consumption?department_id={_department(web, 'ICU')}", headers=pharm)
    assert other.status_code == 403
    with session_scope(web.engine, readonly=True) as s:
        exports = s.scalars(select(AuditLog.entity_id).where(AuditLog.action == "export.create")).all()
    assert exports == ["oxygen", "oxygen"]

"""Gas cylinders: registering them, movements that set their status and place (and refusing
the impossible ones), the append-only movement log, NFPA 99 storage limits, department scope,
and consumption per department and month with its files."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from consumables_support import department_id
from openpyxl import load_workbook
from oxygen_support import make_area, make_cylinder
from relational_support import actor, clock, engine, session
from sqlalchemy import select, text

from wardlink.hub.db.models import AuditLog, Cylinder, CylinderMovement
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied, StoreError
from wardlink.hub.services.oxygen import consumption, cylinders, limits, movements, storage


def _move(session, clock, tag, kind, who="tech", **where):
    return movements.record(session, tag, kind=kind, actor=actor(session, who), clock=clock, **where)


def test_an_empty_out_then_a_filled_in_moves_the_cylinder_and_counts_what_the_ward_used(session, clock):
    make_cylinder(session, clock, "OX-0001")
    theatre = department_id(session, "THEATRE")
    out = _move(session, clock, "ox-0001", "empty_out", who="nurse")
    assert (out.status_before, out.status_after, out.from_department_id, out.to_department_id) == (
        "filled", "empty", department_id(session, "ICU"), None)
    cylinder = cylinders.get_cylinder(session, "OX-0001", actor=None)
    assert (cylinder.status, cylinder.department_id) == ("empty", None)
    back = _move(session, clock, "OX-0001", "filled_in", to_department_id=theatre)
    assert (back.status_before, back.status_after, cylinder.status, cylinder.department_id) == (
        "empty", "filled", "filled", theatre)
    report = consumption.compute(session, actor=None, clock=clock)
    used = {r.department.code: (r.cylinders[-1], r.litres[-1]) for r in report.departments}
    assert used["ICU"] == (1, Decimal("680")) and used["THEATRE"] == (0, 0)
    assert report.labels[-1] == "2026-01" and len(report.labels) == 12
    actions = session.scalars(select(AuditLog.action).where(AuditLog.entity == "cylinder").order_by(AuditLog.id)).all()
    assert actions == ["cylinder.create", "cylinder.empty_out", "cylinder.filled_in"]


@pytest.mark.parametrize("status, kind, message", [
    ("empty", "empty_out", "cylinder OX-0002 is empty, so it cannot be recorded as empty_out"),
    ("empty", "in_use", "cannot be recorded as in_use .possible now: filled_in, transfer, quarantine"),
    ("filled", "filled_in", "is filled, so it cannot be recorded as filled_in"),
])
def test_a_movement_the_status_does_not_allow_is_refused_and_writes_nothing(session, clock, status, kind, message):
    make_cylinder(session, clock, "OX-0002", status=status)
    where = {"to_department_id": department_id(session, "ED")} if kind == "filled_in" else {}
    with pytest.raises(movements.MoveRefused, match=message):
        _move(session, clock, "OX-0002", kind, **where)
    assert session.scalar(select(CylinderMovement.id)) is None
    assert cylinders.get_cylinder(session, "OX-0002", actor=None).status == status


def test_a_transfer_without_a_destination_is_in_transit_until_it_lands_in_the_status_it_had(session, clock):
    make_cylinder(session, clock, "OX-0003")
    _move(session, clock, "OX-0003", "in_use")
    moving = _move(session, clock, "OX-0003", "transfer")
    assert (moving.status_after, moving.cylinder.department_id) == ("in_transit", None)
    with pytest.raises(movements.MoveRefused, match="is in_transit"):
        _move(session, clock, "OX-0003", "transfer")
    landed = _move(session, clock, "OX-0003", "transfer", to_department_id=department_id(session, "ED"))
    assert (landed.status_before, landed.status_after) == ("in_transit", "in_use")
    with pytest.raises(movements.MoveRefused, match="already there"):
        _move(session, clock, "OX-0003", "transfer", to_department_id=department_id(session, "ED"))


def test_quarantine_needs_a_reason_and_ends_with_a_filled_in(session, clock):
    make_cylinder(session, clock, "OX-0004")
    with pytest.raises(InvalidInput, match="notes: say why"):
        _move(session, clock, "OX-0004", "quarantine")
    _move(session, clock, "OX-0004", "quarantine", notes="valve leaking")
    with pytest.raises(movements.MoveRefused, match="is quarantined"):
        _move(session, clock, "OX-0004", "empty_out")
    assert movements.allowed(cylinders.get_cylinder(session, "OX-0004", actor=None)) == ["filled_in", "transfer"]
    with pytest.raises(InvalidInput, match="to_department_id: say where"):
        _move(session, clock, "OX-0004", "filled_in")
    _move(session, clock, "OX-0004", "filled_in", to_department_id=department_id(session, "ICU"))
    page = movements.history(session, "OX-0004", actor=None)
    assert [m.kind for m in page.items] == ["filled_in", "quarantine"]


def test_the_movement_log_is_append_only_in_the_orm_and_in_the_database(session, clock):
    make_cylinder(session, clock, "OX-0005")
    row = _move(session, clock, "OX-0005", "empty_out")
    session.flush()
    for sql in ("UPDATE oxygen_movements SET notes = 'x'", "DELETE FROM oxygen_movements"):
        with pytest.raises(Exception, match="append-only"):
            with session.begin_nested():
                session.execute(text(sql))
    assert session.scalar(select(CylinderMovement.notes)) == ""
    row.notes = "rewritten"
    with pytest.raises(StoreError, match="append-only"):
        session.flush()
    session.rollback()


def test_nfpa_limits_come_from_one_table_with_the_cubic_foot_in_litres():
    assert limits.limit_of("smoke_compartment").litres == Decimal("8495")
    assert limits.limit_of("storage_room").litres == Decimal("84951")
    assert limits.to_cubic_feet(Decimal("680")) == Decimal("24.01")
    assert limits.to_litres(Decimal("1")) == Decimal("28.316846592")


def test_a_smoke_compartment_over_300_cubic_feet_of_filled_or_in_use_cylinders_is_over_its_limit(session, clock):
    area = make_area(session, clock)
    for n in range(12):
        make_cylinder(session, clock, f"SC-{n:02d}", area=area)
    make_cylinder(session, clock, "SC-EMPTY", area=area, status="empty")
    held = storage.standing(session, area)
    assert (held.held_l, held.cylinders, held.over_limit, held.percent) == (Decimal("8160"), 12, False, 96)
    make_cylinder(session, clock, "SC-12", area=area)
    held = storage.standing(session, area)
    assert (held.held_l, held.over_limit, held.held_cubic_feet) == (Decimal("8840"), True, Decimal("312.18"))
    assert [s.area.code for s in storage.list_areas(session, actor=None, over_only=True)] == ["ICU-SC1"]
    _move(session, clock, "SC-12", "empty_out")
    assert not storage.standing(session, area).over_limit
    room = make_area(session, clock, code="ICU-STORE", kind="storage_room")
    make_cylinder(session, clock, "SC-BIG", area=room, capacity="9000")
    assert not storage.standing(session, room).over_limit


def test_a_cylinder_filled_into_a_storage_place_takes_its_department(session, clock):
    area = make_area(session, clock, code="ED-SC", department="ED")
    make_cylinder(session, clock, "OX-0006", status="empty")
    moved = _move(session, clock, "OX-0006", "filled_in", to_area_id=area.id)
    assert (moved.to_department_id, moved.to_area_id) == (department_id(session, "ED"), area.id)
    with pytest.raises(InvalidInput, match="belongs to another department"):
        _move(session, clock, "OX-0006", "transfer", to_area_id=area.id,
              to_department_id=department_id(session, "ICU"))


def test_department_scope_limits_who_moves_a_cylinder_and_whose_consumption_they_read(session, clock):
    make_cylinder(session, clock, "OX-0007")
    with pytest.raises(PermissionDenied, match="another department"):
        _move(session, clock, "OX-0007", "empty_out", who="pharm")
    _move(session, clock, "OX-0007", "empty_out", who="nurse")
    _move(session, clock, "OX-0007", "filled_in", who="pharm", to_department_id=department_id(session, "PHARM"))
    report = consumption.compute(session, actor=actor(session, "pharm"), clock=clock)
    assert [r.department.code for r in report.departments] == ["PHARM"]
    with pytest.raises(PermissionDenied):
        consumption.compute(session, actor=actor(session, "pharm"), clock=clock,
                            department_id=department_id(session, "ICU"))
    with pytest.raises(PermissionDenied):
        cylinders.create_cylinder(session, {"tag": "X-1", "capacity_l": 680, "status": "filled"},
                                  actor=actor(session, "nurse"), clock=clock)
    with pytest.raises(PermissionDenied):
        storage.create_area(session, {"code": "X", "name": "X", "kind": "storage_room"},
                            actor=actor(session, "tech"), clock=clock)


@pytest.mark.parametrize("fields, message", [
    ({"tag": "OX 1"}, "tag: letters, digits"),
    ({"capacity_l": "0"}, "capacity_l: must be the litres"),
    ({"capacity_l": "1e9"}, "capacity_l: must be the litres"),
    ({"gas": "propane"}, "gas: must be one of oxygen"),
    ({"status": "in_use"}, "status: must be one of filled, empty"),
    ({"tag": "OX-DUP"}, "tag: cylinder OX-DUP already exists"),
])
def test_registering_a_cylinder_refuses_bad_fields_by_name(session, clock, fields, message):
    make_cylinder(session, clock, "OX-DUP")
    data = {"tag": "OX-NEW", "capacity_l": "680", "status": "filled",
            "department_id": department_id(session, "ICU"), **fields}
    with pytest.raises(InvalidInput, match=message):
        cylinders.create_cylinder(session, data, actor=None, clock=clock)


def test_an_unknown_cylinder_is_not_found(session):
    with pytest.raises(NotFound, match="cylinder NOPE does not exist"):
        cylinders.get_cylinder(session, "NOPE", actor=None)


def test_consumption_files_have_a_row_per_department_and_month(session, clock):
    make_cylinder(session, clock, "OX-0008", capacity="3400")
    _move(session, clock, "OX-0008", "empty_out")
    report = consumption.compute(session, actor=None, clock=clock, start="2025-12", end="2026-01",
                                 department_id=department_id(session, "ICU"))
    lines = list(csv.reader(io.StringIO(consumption.to_csv(report).decode("utf-8-sig"))))
    assert lines == [list(consumption.HEADER), ["ICU", "Intensive Care Unit", "2025-12", "0", "0", "0"],
                     ["ICU", "Intensive Care Unit", "2026-01", "1", "3400", "3.4"]]
    sheet = load_workbook(io.BytesIO(consumption.to_xlsx(report))).active
    assert [c.value for c in list(sheet.iter_rows())[-1]] == ["ICU", "Intensive Care Unit", "2026-01", 1, 3400, 3.4]
    with pytest.raises(InvalidInput, match="from: must be a month on or before to"):
        consumption.compute(session, actor=None, clock=clock, start="2026-02", end="2026-01")
    assert session.scalar(select(Cylinder.status).where(Cylinder.tag == "OX-0008")) == "empty"

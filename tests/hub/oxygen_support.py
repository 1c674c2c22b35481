"""Gas cylinders for the tests: storage places and cylinders of the demo hospital."""

from __future__ import annotations

from sqlalchemy import select

from consumables_support import department_id
from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Cylinder, GasStorageArea
from wardlink.hub.services.oxygen import cylinders, storage

#: An E-size oxygen cylinder: 680 L of gas at NTP.
E_SIZE = "680"


def make_area(session, clock, *, code: str = "ICU-SC1", kind: str = "smoke_compartment",
              department: str = "ICU", name: str | None = None) -> GasStorageArea:
    """Add storage place ``code`` of ``department``."""
    return storage.create_area(session, {"code": code, "name": name or f"{department} {kind}", "kind": kind,
                                         "department_id": department_id(session, department)},
                               actor=None, clock=clock)


def make_cylinder(session, clock, tag: str, *, department: str = "ICU", area: GasStorageArea | None = None,
                  status: str = "filled", capacity: str = E_SIZE, size: str = "E") -> Cylinder:
    """Register cylinder ``tag`` at ``department`` (or in ``area``)."""
    return cylinders.create_cylinder(session, {"tag": tag, "gas": "oxygen", "size": size, "capacity_l": capacity,
                                               "status": status, "department_id": department_id(session, department),
                                               "storage_area_id": area.id if area else None},
                                     actor=None, clock=clock)


def matrix_cylinder(engine, clock) -> str:
    """Register a filled ICU cylinder for the RBAC matrix (once) and return its tag."""
    with session_scope(engine) as s:
        if s.scalar(select(Cylinder.id).where(Cylinder.tag == "MATRIX-1")) is None:
            make_cylinder(s, clock, "MATRIX-1")
    return "MATRIX-1"


def matrix_area(engine, clock) -> int:
    """Add an ICU storage place for the RBAC matrix (once) and return its id."""
    with session_scope(engine) as s:
        found = s.scalar(select(GasStorageArea.id).where(GasStorageArea.code == "MATRIX-SC"))
        return found if found is not None else make_area(s, clock, code="MATRIX-SC").id


def matrix_transfer(engine, clock) -> dict:
    """Return a transfer of the matrix cylinder within the ICU: into the matrix storage place when
    it is not there, out of it when it is (so each call is a real move)."""
    tag, area_id = matrix_cylinder(engine, clock), matrix_area(engine, clock)
    with session_scope(engine, readonly=True) as s:
        cylinder = s.scalar(select(Cylinder).where(Cylinder.tag == tag))
        return {"kind": "transfer", "to_department_id": cylinder.department_id,
                "to_area_id": None if cylinder.storage_area_id == area_id else area_id}

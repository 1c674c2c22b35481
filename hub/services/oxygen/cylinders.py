"""The cylinder register: each cylinder's tag (on its label and in its QR code), gas, size,
capacity and where it is. Procurement and managers register and change cylinders
(``oxygen.manage``); a new cylinder starts filled or empty at a department (and optionally one
of its storage places). After that only movements (:mod:`.movements`) change its status and
place. Cylinders move between departments all day, so everyone who may see cylinders
(``oxygen.view``) sees every one, wherever it is: the department scope limits who may move one
(:mod:`.movements`), register one, and read a department's consumption.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Cylinder, Department, GasStorageArea
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import CYLINDER_GASES, CYLINDER_STATUSES
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.pagination import Page, paginate
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.validate import choice, optional_id, parse_fields, text
from wardlink.clock import Clock

#: Statuses a cylinder may be registered in.
START_STATUSES = ("filled", "empty")
#: The largest cylinder capacity accepted, in litres (a large bulk cylinder holds about 10,000 L).
MAX_CAPACITY_L = Decimal("100000")


def tag_of(name: str, value: Any) -> str:
    """Parse a cylinder tag: letters, digits, dashes, dots and slashes, stored in capitals."""
    tag = text(40, required=True)(name, value).upper()
    if not all(c.isalnum() or c in "-./_" for c in tag):
        raise InvalidInput(N_("%(field)s: letters, digits, '-', '.', '/' and '_' only, got %(value)r"), field=name,
                           value=tag)
    return tag


def capacity(name: str, value: Any) -> Decimal:
    """Parse a capacity in litres at NTP: more than 0, at most :data:`MAX_CAPACITY_L`, to the mL."""
    try:
        litres = Decimal(str(value).strip()) if value not in (None, "") and not isinstance(value, bool) else None
    except InvalidOperation:
        litres = None
    if litres is None or not litres.is_finite() or litres <= 0 or litres > MAX_CAPACITY_L \
            or litres != litres.quantize(Decimal("0.001")):
        raise InvalidInput(N_("%(field)s: must be the litres of gas the full cylinder holds, more than 0 and at "
                              "most %(most)s, got %(value)r"), field=name, most=MAX_CAPACITY_L, value=value)
    return litres


def _gas(name: str, value: Any) -> str:
    return "oxygen" if value in (None, "") else choice(CYLINDER_GASES)(name, value)


FIELDS = {"tag": tag_of, "gas": _gas, "size": text(16), "capacity_l": capacity, "notes": text(2000)}
START = {"status": choice(START_STATUSES), "department_id": optional_id, "storage_area_id": optional_id}


def snapshot(cylinder: Cylinder) -> dict[str, Any]:
    """Return a cylinder's fields (for audit rows and the API)."""
    return {"id": cylinder.id, "tag": cylinder.tag, "gas": cylinder.gas, "size": cylinder.size,
            "capacity_l": number(cylinder.capacity_l), "status": cylinder.status,
            "department_id": cylinder.department_id, "storage_area_id": cylinder.storage_area_id,
            "notes": cylinder.notes}


def get_cylinder(session: Session, tag: Any, *, actor: Actor | None, for_update: bool = False) -> Cylinder:
    """Return the cylinder tagged ``tag`` (any case) for someone who may see it."""
    who = resolve_actor(actor)
    require(who, "oxygen.view")
    key = str(tag or "").strip().upper()
    stmt = select(Cylinder).where(Cylinder.tag == key)
    row = session.scalar(stmt.with_for_update() if for_update else stmt)
    if row is None:
        raise NotFound(N_("cylinder %(tag)s does not exist"), tag=tag)
    return row


def place(session: Session, department_id: int | None, area_id: int | None) -> tuple[Department, GasStorageArea | None]:
    """Return the department and storage place a cylinder is put in: the place alone names its
    department; both must agree."""
    area = session.get(GasStorageArea, area_id) if area_id is not None else None
    if area_id is not None and area is None:
        raise InvalidInput(N_("storage_area_id: no storage place %(area_id)s"), area_id=area_id)
    if area is not None and department_id is not None and area.department_id != department_id:
        raise InvalidInput(N_("storage_area_id: %(code)s belongs to another department"), code=area.code)
    department_id = area.department_id if area is not None else department_id
    department = session.get(Department, department_id) if department_id is not None else None
    if department is None:
        raise InvalidInput(N_("department_id: choose the department (got %(value)r)"), value=department_id)
    return department, area


def create_cylinder(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> Cylinder:
    """Register a cylinder, filled or empty (``status``), at a department or one of its storage
    places; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "oxygen.manage")
    data = dict(data)
    start = parse_fields(START, {k: data.pop(k, None) for k in START}, partial=False)
    fields = parse_fields(FIELDS, data, partial=False)
    if session.scalar(select(Cylinder.id).where(Cylinder.tag == fields["tag"])) is not None:
        raise InvalidInput(N_("tag: cylinder %(tag)s already exists"), tag=fields["tag"])
    department, area = place(session, start["department_id"] or department_scope(who), start["storage_area_id"])
    require_department(who, department.id, N_("the cylinder"))
    now = utc_now(clock)
    cylinder = Cylinder(**fields, status=start["status"], department_id=department.id,
                        storage_area_id=area.id if area else None, created_at=now, updated_at=now)
    session.add(cylinder)
    session.flush()
    audit.record(session, actor=who, action="cylinder.create", entity="cylinder", entity_id=cylinder.tag,
                 after=snapshot(cylinder), clock=clock)
    return cylinder


def update_cylinder(session: Session, tag: Any, changes: Mapping[str, Any], *, actor: Actor | None,
                    clock: Clock | None = None) -> Cylinder:
    """Change a cylinder's tag, gas, size, capacity or notes (movements alone change its status
    and place); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "oxygen.manage")
    cylinder = get_cylinder(session, tag, actor=who, for_update=True)
    fields = parse_fields(FIELDS, changes, partial=True)
    if "tag" in fields and fields["tag"] != cylinder.tag and session.scalar(
            select(Cylinder.id).where(Cylinder.tag == fields["tag"])) is not None:
        raise InvalidInput(N_("tag: cylinder %(tag)s already exists"), tag=fields["tag"])
    before = snapshot(cylinder)
    for field, value in fields.items():
        setattr(cylinder, field, value)
    session.flush()
    old, new = audit.changes(before, snapshot(cylinder))
    if new:
        cylinder.updated_at = utc_now(clock)
        audit.record(session, actor=who, action="cylinder.update", entity="cylinder", entity_id=cylinder.tag,
                     before=old, after=new, clock=clock)
    return cylinder


def list_cylinders(session: Session, *, actor: Actor | None, department_id: int | None = None,
                   status: str | None = None, area_id: int | None = None, search: str = "", page: int = 1,
                   per_page: int = 50) -> Page[Cylinder]:
    """Return one page of cylinders by tag (``department_id``, ``status``, ``area_id`` and part
    of the tag filter)."""
    who = resolve_actor(actor)
    require(who, "oxygen.view")
    stmt = select(Cylinder).options(selectinload(Cylinder.department), selectinload(Cylinder.storage_area))
    if department_id is not None:
        stmt = stmt.where(Cylinder.department_id == department_id)
    if status:
        stmt = stmt.where(Cylinder.status == choice(CYLINDER_STATUSES)("status", status))
    if area_id is not None:
        stmt = stmt.where(Cylinder.storage_area_id == area_id)
    needle = text(40)("q", search).upper()
    if needle:
        stmt = stmt.where(Cylinder.tag.contains(needle, autoescape=True))
    return paginate(session, stmt.order_by(Cylinder.tag), page, per_page)


def departments(session: Session, *, actor: Actor | None) -> list[Department]:
    """Return every department by name: cylinders move between them whatever the mover's own."""
    who = resolve_actor(actor)
    require(who, "oxygen.view")
    stmt = select(Department).order_by(Department.name, Department.id)
    return list(session.scalars(stmt))

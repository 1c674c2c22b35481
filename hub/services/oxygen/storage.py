"""The places gas cylinders are stored in, and whether each holds more than NFPA 99 allows.

A storage place (``GasStorageArea``) belongs to one department and is a smoke compartment or a
storage room; its limit comes from :mod:`.limits`. What it holds is the capacity of the
cylinders in it that are filled or in use (empty, quarantined and in-transit cylinders hold no
gas that counts). A place holding more than its limit is *over its limit*: :func:`standings`
says so, and pages and the API show what it says. Procurement and managers keep the places
(``oxygen.manage``); everyone who may see cylinders sees their own department's places.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Cylinder, Department, GasStorageArea
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import GAS_STORAGE_KINDS
from wardlink.hub.errors import InvalidInput, NotFound
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.inventory.common import number, tidy
from wardlink.hub.services.oxygen import limits
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.validate import choice, optional_id, parse_fields, text
from wardlink.clock import Clock

ZERO = Decimal("0")


def _code(name: str, value: Any) -> str:
    code = text(40, required=True)(name, value).upper()
    if any(c.isspace() for c in code):
        raise InvalidInput(N_("%(field)s: must not contain spaces, got %(value)r"), field=name, value=code)
    return code


FIELDS = {"code": _code, "name": text(200, required=True), "kind": choice(GAS_STORAGE_KINDS),
          "department_id": optional_id, "notes": text(2000)}


def snapshot(area: GasStorageArea) -> dict[str, Any]:
    """Return a storage place's fields (for audit rows and the API)."""
    return {"id": area.id, "code": area.code, "name": area.name, "kind": area.kind,
            "department_id": area.department_id, "notes": area.notes}


@dataclass(frozen=True)
class Standing:
    """What a storage place holds against its NFPA 99 limit (litres at NTP)."""

    area: GasStorageArea
    held_l: Decimal
    cylinders: int

    @property
    def limit(self) -> limits.StorageLimit:
        """Return the limit of the place's kind."""
        return limits.limit_of(self.area.kind)

    @property
    def limit_l(self) -> Decimal:
        """Return the limit in litres."""
        return self.limit.litres

    @property
    def held_cubic_feet(self) -> Decimal:
        """Return what the place holds in cubic feet."""
        return limits.to_cubic_feet(self.held_l)

    @property
    def over_limit(self) -> bool:
        """Return True when the place holds more gas than NFPA 99 allows for its kind."""
        return self.held_l > limits.to_litres(self.limit.cubic_feet)

    @property
    def percent(self) -> int:
        """Return how full the place is against its limit, in whole percent."""
        return int(self.held_l * 100 / limits.to_litres(self.limit.cubic_feet))


def get_area(session: Session, area_id: Any, *, actor: Actor | None, for_update: bool = False) -> GasStorageArea:
    """Return storage place ``area_id`` for someone who may see it."""
    who = resolve_actor(actor)
    require(who, "oxygen.view")
    row = None
    if isinstance(area_id, int) and not isinstance(area_id, bool) and 0 < area_id < 2**31:
        row = session.get(GasStorageArea, area_id, with_for_update=for_update or None)
    scope = department_scope(who)
    if row is None or (scope is not None and row.department_id != scope):
        raise NotFound(N_("storage place %(area_id)s does not exist"), area_id=area_id)
    return row


def _apply(session: Session, who: Actor, area: GasStorageArea, data: Mapping[str, Any], *, partial: bool) -> None:
    fields = parse_fields(FIELDS, data, partial=partial)
    if "department_id" in fields or not partial:
        department_id = fields.pop("department_id", None) or department_scope(who)
        if department_id is None or session.get(Department, department_id) is None:
            raise InvalidInput(N_("department_id: choose the department the place belongs to (got %(value)r)"),
                               value=department_id)
        require_department(who, department_id, N_("the storage place"))
        area.department_id = department_id
    if "name" in fields:
        fields["name"] = tidy(fields["name"])
    if "code" in fields:
        other = session.scalar(select(GasStorageArea).where(GasStorageArea.code == fields["code"]))
        if other is not None and other is not area:
            raise InvalidInput(N_("code: storage place %(code)s already exists"), code=fields["code"])
    for field, value in fields.items():
        setattr(area, field, value)


def create_area(session: Session, data: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> GasStorageArea:
    """Add a storage place (code, name, kind, department); audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "oxygen.manage")
    now = utc_now(clock)
    area = GasStorageArea(created_at=now, updated_at=now, notes="")
    _apply(session, who, area, data, partial=False)
    session.add(area)
    session.flush()
    audit.record(session, actor=who, action="gas_storage.create", entity="gas_storage", entity_id=area.id,
                 after=snapshot(area), clock=clock)
    return area


def update_area(session: Session, area_id: Any, changes: Mapping[str, Any], *, actor: Actor | None,
                clock: Clock | None = None) -> GasStorageArea:
    """Change a storage place; audited."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "oxygen.manage")
    area = get_area(session, area_id, actor=who, for_update=True)
    before = snapshot(area)
    _apply(session, who, area, changes, partial=True)
    session.flush()
    old, new = audit.changes(before, snapshot(area))
    if new:
        area.updated_at = utc_now(clock)
        audit.record(session, actor=who, action="gas_storage.update", entity="gas_storage", entity_id=area.id,
                     before=old, after=new, clock=clock)
    return area


def standings(session: Session, areas: Iterable[GasStorageArea]) -> list[Standing]:
    """Return what each place holds (filled and in-use cylinders) against its limit."""
    chosen = list(areas)
    ids = [a.id for a in chosen]
    held: dict[int, tuple[Decimal, int]] = {}
    if ids:
        rows = session.execute(
            select(Cylinder.storage_area_id, func.sum(Cylinder.capacity_l), func.count(Cylinder.id))
            .where(Cylinder.storage_area_id.in_(ids), Cylinder.status.in_(limits.COUNTED_STATUSES))
            .group_by(Cylinder.storage_area_id))
        held = {area_id: (Decimal(total), count) for area_id, total, count in rows}
    return [Standing(a, *(held.get(a.id) or (ZERO, 0))) for a in chosen]


def standing(session: Session, area: GasStorageArea) -> Standing:
    """Return what one place holds against its limit."""
    return standings(session, [area])[0]


def list_areas(session: Session, *, actor: Actor | None, department_id: int | None = None,
               over_only: bool = False) -> list[Standing]:
    """Return the storage places ``actor`` may see (by department and code) with what they hold;
    ``over_only``: only those over their limit."""
    who = resolve_actor(actor)
    require(who, "oxygen.view")
    stmt = select(GasStorageArea).options(selectinload(GasStorageArea.department)).join(Department)
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(GasStorageArea.department_id == scope)
    if department_id is not None:
        stmt = stmt.where(GasStorageArea.department_id == department_id)
    rows = standings(session, session.scalars(stmt.order_by(Department.name, GasStorageArea.code)))
    return [r for r in rows if r.over_limit] if over_only else rows


def destinations(session: Session, *, actor: Actor | None) -> list[GasStorageArea]:
    """Return every storage place by department and code: where a cylinder may be put, whatever
    the mover's own department."""
    require(resolve_actor(actor), "oxygen.view")
    stmt = select(GasStorageArea).options(selectinload(GasStorageArea.department)).join(Department)
    return list(session.scalars(stmt.order_by(Department.name, GasStorageArea.code)))


def standing_json(row: Standing) -> dict[str, Any]:
    """Return a place with its standing, as the API and audit rows show it."""
    return {**snapshot(row.area), "department": row.area.department.code,
            "department_name": row.area.department.name, "held_l": number(row.held_l),
            "held_ft3": number(row.held_cubic_feet), "limit_l": number(row.limit_l),
            "limit_ft3": number(row.limit.cubic_feet), "cylinders": row.cylinders,
            "over_limit": row.over_limit, "reference": row.limit.reference}

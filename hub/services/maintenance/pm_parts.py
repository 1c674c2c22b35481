"""The catalogue parts one service of a maintenance plan uses ("parts per visit").

A plan names parts of the inventory catalogue and how many of each one service takes; the
parts forecast (:mod:`wardlink.hub.services.maintenance.parts_forecast`) multiplies them by the
services the PM schedule gives. The list is given whole (a form's rows, or ``visit_parts`` in
the API: ``[{"part_id": 3, "quantity": 2}, {"sku": "FLT-1", "quantity": 1}]``) and replaces
what the plan had. The plan's free-text ``planned_parts`` stay what they were: notes printed on
the work order, for parts the catalogue does not hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Part, PmPlan, PmPlanPart
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.inventory.catalogue import find_part
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.validate import optional_id, stock_quantity, text

#: The most catalogue parts one plan's service may name.
MAX_VISIT_PARTS = 50
_QUANTITY = stock_quantity()


def _one(session: Session, where: str, raw: Any) -> tuple[Part, Decimal]:
    if not isinstance(raw, Mapping):
        raise InvalidInput(N_("%(where)s: must be an object with part_id (or sku) and quantity"), where=where)
    unknown = sorted(set(raw) - {"part_id", "sku", "quantity"})
    if unknown:
        raise InvalidInput(N_("%(where)s.%(field)s: unknown field; known: part_id, quantity, sku"), where=where,
                           field=unknown[0])
    part_id = optional_id(f"{where}.part_id", raw.get("part_id"))
    sku = text(64)(f"{where}.sku", raw.get("sku")).strip()
    part = session.get(Part, part_id) if part_id is not None else find_part(session, sku) if sku else None
    if part is None:
        if part_id is not None:
            raise InvalidInput(N_("%(where)s.sku: no part %(id)s in the catalogue"), where=where, id=part_id)
        if sku:
            raise InvalidInput(N_("%(where)s.sku: no SKU %(sku)r in the catalogue"), where=where, sku=sku)
        raise InvalidInput(N_("%(where)s.sku: give a part of the catalogue (its SKU or part_id)"), where=where)
    return part, _QUANTITY(f"{where}.quantity", 1 if raw.get("quantity") in (None, "") else raw.get("quantity"))


def parse(session: Session, value: Any, name: str = "visit_parts") -> list[tuple[Part, Decimal]]:
    """Return the (part, quantity) pairs of a plan's parts per visit, refusing unknown parts,
    quantities at or below 0 and a part named twice."""
    if value is None or value == "":
        return []
    if not isinstance(value, (list, tuple)):
        raise InvalidInput(N_("%(field)s: must be a list of parts"), field=name)
    if len(value) > MAX_VISIT_PARTS:
        raise InvalidInput(N_("%(field)s: must hold at most %(most)s parts, got %(count)s"), field=name,
                           most=MAX_VISIT_PARTS, count=len(value))
    out: list[tuple[Part, Decimal]] = []
    for i, raw in enumerate(value):
        part, quantity = _one(session, f"{name}[{i}]", raw)
        if any(p.id == part.id for p, _ in out):
            raise InvalidInput(N_("%(field)s[%(i)s].sku: %(sku)s is listed twice; give it once with the total "
                                  "quantity"), field=name, i=i, sku=part.sku)
        out.append((part, quantity))
    return out


def snapshot(rows: Iterable[PmPlanPart]) -> list[dict[str, Any]]:
    """Return a plan's parts per visit as plain data (for audit rows and the API)."""
    return [{"part_id": r.part_id, "sku": r.part.sku, "name": r.part.name, "unit": r.part.unit,
             "quantity": number(r.quantity)} for r in rows]


def of_plan(session: Session, plan_id: int) -> list[PmPlanPart]:
    """Return a plan's parts per visit, by SKU."""
    rows = session.scalars(select(PmPlanPart).where(PmPlanPart.plan_id == plan_id)
                           .options(selectinload(PmPlanPart.part)))
    return sorted(rows, key=lambda r: r.part.sku_key)


def of_plans(session: Session, plan_ids: Iterable[int]) -> dict[int, list[PmPlanPart]]:
    """Return the parts per visit of each of ``plan_ids`` that has some."""
    wanted, out = list(dict.fromkeys(plan_ids)), {}
    for start in range(0, len(wanted), 500):
        for row in session.scalars(select(PmPlanPart).where(PmPlanPart.plan_id.in_(wanted[start:start + 500]))
                                   .options(selectinload(PmPlanPart.part))):
            out.setdefault(row.plan_id, []).append(row)
    return out


def replace(session: Session, plan: PmPlan, wanted: list[tuple[Part, Decimal]]) -> tuple[list, list]:
    """Make ``wanted`` the plan's parts per visit; return the list before and after (equal when
    nothing changed)."""
    rows = of_plan(session, plan.id)
    before = snapshot(rows)
    by_part = {r.part_id: r for r in rows}
    for part, quantity in wanted:
        row = by_part.pop(part.id, None)
        if row is None:
            session.add(PmPlanPart(plan_id=plan.id, part_id=part.id, part=part, quantity=quantity))
        elif row.quantity != quantity:
            row.quantity = quantity
    for row in by_part.values():
        session.delete(row)
    session.flush()
    return before, snapshot(of_plan(session, plan.id))

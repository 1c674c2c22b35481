"""The monthly repairs list ("Repairs & Memo"): the corrective work orders completed in a month,
per department, with the parts and consumables used, the reasons for delay and the cost per asset.

A repair is a corrective work order whose completion falls in the month's local dates at the
site (as the KPIs read periods, :class:`wardlink.hub.services.reports.kpis.Period`) and that was
not returned for rework since (its completion time is cleared then). Its parts are the picks
issued from stock (at the unit cost of the issue) and the parts recorded by hand; its delays are
the holds and SLA-breach reasons of :mod:`wardlink.hub.services.maintenance.delays`; its cost is
the work-order cost service's (:mod:`wardlink.hub.services.maintenance.workorder_costs`: parts,
labour at the rates, vendor charges). Readers need ``kpi.view``; a department's people see their
department only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Department, WorkOrder, WorkOrderDelay, WorkOrderPart, WorkOrderPick
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.actor import Actor, resolve_actor
from wardlink.hub.services.inventory.picks import cost_of
from wardlink.hub.services.maintenance import delays as delay_rows
from wardlink.hub.services.maintenance.workorder_common import code_of, scoped
from wardlink.hub.services.maintenance.workorder_costs import Cost, costs_of
from wardlink.hub.services.reports import kpis
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.validate import optional_id
from wardlink.clock import Clock

ZERO = Decimal("0.00")


def parse_month(raw: Any, today: date) -> date:
    """Return the first day of the month ``raw`` names (``YYYY-MM``); blank: the month before
    ``today``'s, the last complete one."""
    if raw is None or str(raw).strip() == "":
        return (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    text = str(raw).strip()
    try:
        first = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise InvalidInput(f"month: must be a month as YYYY-MM, got {raw!r}") from None
    if not kpis.MIN_YEAR <= first.year <= kpis.MAX_YEAR:
        raise InvalidInput(f"month: must be between {kpis.MIN_YEAR} and {kpis.MAX_YEAR}, got {raw!r}")
    return first


def month_end(first: date) -> date:
    """Return the last day of ``first``'s month."""
    return ((first.replace(day=28) + timedelta(days=4)).replace(day=1)) - timedelta(days=1)


@dataclass(frozen=True)
class PartUsed:
    """A part used on a repair: from stock (by SKU) or recorded by hand (by part number)."""

    number: str
    name: str
    quantity: Decimal
    unit: str
    cost: Decimal | None
    from_stock: bool


@dataclass(frozen=True)
class Repair:
    """One corrective work order completed in the month."""

    order: WorkOrder
    parts: list[PartUsed]
    delays: list[WorkOrderDelay]
    cost: Cost

    @property
    def code(self) -> str:
        """Return the order's code."""
        return code_of(self.order)


@dataclass(frozen=True)
class DepartmentRepairs:
    """The repairs of one department (``department`` None: orders without one)."""

    department: Department | None
    repairs: list[Repair]

    @property
    def total(self) -> Decimal:
        """Return what the department's repairs cost."""
        return sum((r.cost.total for r in self.repairs), ZERO)


@dataclass(frozen=True)
class AssetCost:
    """What an asset's repairs in the month cost."""

    tag: str
    name: str
    department: str
    repairs: int
    parts: Decimal
    labour: Decimal
    vendor: Decimal

    @property
    def total(self) -> Decimal:
        """Return parts + labour + vendor charges."""
        return self.parts + self.labour + self.vendor


@dataclass(frozen=True)
class PartTotal:
    """How much of one part all the month's repairs used."""

    number: str
    name: str
    unit: str
    quantity: Decimal
    cost: Decimal | None
    repairs: int


@dataclass(frozen=True)
class RepairsReport:
    """The repairs list of one month, for a department or the whole hospital."""

    month: date
    period: kpis.Period
    department: Department | None
    departments: list[DepartmentRepairs]
    as_of: datetime

    @property
    def repairs(self) -> list[Repair]:
        """Return every repair, department by department."""
        return [r for d in self.departments for r in d.repairs]

    @property
    def total(self) -> Decimal:
        """Return what all the repairs cost."""
        return sum((d.total for d in self.departments), ZERO)

    @property
    def key(self) -> str:
        """Return the month as YYYY-MM."""
        return self.month.strftime("%Y-%m")

    def assets(self) -> list[AssetCost]:
        """Return the cost of each repaired asset, dearest first."""
        found: dict[str, list[Repair]] = defaultdict(list)
        for repair in self.repairs:
            found[repair.order.asset.tag if repair.order.asset else ""].append(repair)
        rows = []
        for tag, repairs in found.items():
            order = repairs[0].order
            rows.append(AssetCost(tag, order.asset.name if order.asset else "",
                                  order.department.name if order.department else "", len(repairs),
                                  sum((r.cost.parts for r in repairs), ZERO),
                                  sum((r.cost.labour for r in repairs), ZERO),
                                  sum((r.cost.vendor for r in repairs), ZERO)))
        return sorted(rows, key=lambda a: (-a.total, a.tag))

    def parts(self) -> list[PartTotal]:
        """Return the parts and consumables used, by part number."""
        found: dict[tuple[str, str, str], list[PartUsed]] = defaultdict(list)
        for repair in self.repairs:
            for used in repair.parts:
                found[(used.number, used.name, used.unit)].append(used)
        rows = []
        for (number, name, unit), uses in sorted(found.items(), key=lambda kv: (kv[0][0].casefold(), kv[0][1])):
            costs = [u.cost for u in uses]
            rows.append(PartTotal(number, name, unit, sum((u.quantity for u in uses), Decimal("0")),
                                  None if any(c is None for c in costs) else sum(costs, ZERO), len(uses)))
        return rows


def _parts(session: Session, ids: list[int]) -> dict[int, list[PartUsed]]:
    out: dict[int, list[PartUsed]] = defaultdict(list)
    for pick in session.scalars(select(WorkOrderPick).where(WorkOrderPick.work_order_id.in_(ids),
                                                            WorkOrderPick.state == "issued")
                                .options(selectinload(WorkOrderPick.part), selectinload(WorkOrderPick.movement))
                                .order_by(WorkOrderPick.id)):
        out[pick.work_order_id].append(PartUsed(pick.part.sku, pick.part.name, pick.quantity, pick.part.unit,
                                                cost_of(pick), True))
    for row in session.scalars(select(WorkOrderPart).where(WorkOrderPart.work_order_id.in_(ids))
                               .order_by(WorkOrderPart.id)):
        cost = None if row.unit_cost is None else (row.quantity * row.unit_cost).quantize(Decimal("0.01"))
        out[row.work_order_id].append(PartUsed(row.part_number, row.description, row.quantity, "each", cost, False))
    return out


def repairs_report(session: Session, *, actor: Actor | None, clock: Clock, month: Any = None,
                   department_id: Any = None) -> RepairsReport:
    """Return the repairs list of ``month`` (YYYY-MM; default the last complete month) for a
    department (default every department the actor may see)."""
    who = resolve_actor(actor)
    require(who, "kpi.view")
    department_id = optional_id("department", department_id)
    first = parse_month(month, kpis.local_today(session, who, department_id, clock))
    department, period, as_of = kpis.select_period(session, who, clock, first, month_end(first), department_id)
    stmt = (select(WorkOrder).where(WorkOrder.kind == "corrective", WorkOrder.completed_at.is_not(None),
                                    WorkOrder.completed_at >= period.begins, WorkOrder.completed_at < period.ends)
            .options(selectinload(WorkOrder.asset), selectinload(WorkOrder.department))
            .order_by(WorkOrder.completed_at, WorkOrder.id))
    if department is not None:
        stmt = stmt.where(WorkOrder.department_id == department.id)
    orders = list(session.scalars(scoped(stmt, who)))
    ids = [o.id for o in orders]
    costs, parts, delays = costs_of(session, ids), {}, {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        parts.update(_parts(session, chunk))
        delays.update(delay_rows.of_orders(session, chunk))
    groups: dict[int | None, list[Repair]] = defaultdict(list)
    for order in orders:
        groups[order.department_id].append(Repair(order, parts.get(order.id, []), delays.get(order.id, []),
                                                  costs[order.id]))
    departments = [DepartmentRepairs(repairs[0].order.department, repairs) for repairs in groups.values()]
    departments.sort(key=lambda d: (d.department is None, d.department.name.casefold() if d.department else ""))
    return RepairsReport(first, period, department, departments, as_of)

"""Monthly consumption: how much of each item a department collected (and received) per month,
read from the log, for the consumption page, its chart, the API and the CSV and Excel files.

Months are calendar months of the days entries carry (days at the department's site). A
period is at most :data:`MAX_MONTHS` months; the default is the last twelve up to this month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Consumable, ConsumableEntry, Department
from wardlink.hub.i18n import N_
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.actor import Actor, resolve_actor
from wardlink.hub.services.consumables.log import local_today
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.reports import months, tables
from wardlink.hub.services.reports.export import CONTENT_TYPES
from wardlink.hub.services.reports.months import MAX_MONTHS, month_of
from wardlink.clock import Clock

ZERO = Decimal("0")
HEADER = ("department", "item", "unit", "month", "collected", "received")
__all__ = ["CONTENT_TYPES", "Consumption", "HEADER", "MAX_MONTHS", "compute", "month_of", "to_csv", "to_xlsx"]


@dataclass
class ItemMonths:
    """One item's consumption per month of the period."""

    item: Consumable
    collected: list[Decimal]
    received: list[Decimal]

    @property
    def total(self) -> Decimal:
        """Return what was collected over the period."""
        return sum(self.collected, ZERO)


@dataclass
class Consumption:
    """A department's consumption per item and month."""

    department: Department
    months: list[tuple[int, int]]
    items: list[ItemMonths] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """Return the months as ``YYYY-MM``."""
        return months.labels(self.months)

    def chart(self, *, unit: str, top: int = 4, names: dict[str, str] | None = None) -> dict[str, Any]:
        """Return the chart spec (drawn by app.js) of the ``top`` items collected most: bars per
        month, one series per item; ``unit`` labels the axis, ``names`` overrides series labels."""
        chosen = sorted(self.items, key=lambda r: (-r.total, r.item.name_key))[:top]
        return months.bar_chart(self.months, [((names or {}).get(str(r.item.id), r.item.name), r.collected)
                                              for r in chosen], unit=unit)


def period(session: Session, department_id: int, start: Any, end: Any, clock: Clock) -> list[tuple[int, int]]:
    """Return the months from ``start`` to ``end`` (``YYYY-MM``; by default the last twelve up to
    this month at the department's site); refuse a reversed or too long period."""
    return months.period(local_today(session, department_id, clock), start, end)


def compute(session: Session, department_id: Any, *, actor: Actor | None, start: Any = None, end: Any = None,
            clock: Clock, consumable_id: int | None = None) -> Consumption:
    """Return the department's consumption per item and month (one item with ``consumable_id``)."""
    who = resolve_actor(actor)
    require(who, "consumable.view")
    if department_id in (None, ""):
        department_id = department_scope(who)
    department = session.get(Department, department_id) if isinstance(department_id, int) else None
    if department is None:
        raise InvalidInput(N_("department: choose a department (got %(value)r)"), value=department_id)
    require_department(who, department.id, "the consumption report")
    chosen = period(session, department.id, start, end, clock)
    stmt = select(Consumable).where(Consumable.department_id == department.id)
    if consumable_id is not None:
        stmt = stmt.where(Consumable.id == consumable_id)
    items = list(session.scalars(stmt.order_by(Consumable.name_key, Consumable.id)))
    index = {m: n for n, m in enumerate(chosen)}
    rows = {i.id: ItemMonths(i, [ZERO] * len(chosen), [ZERO] * len(chosen)) for i in items}
    first, after = months.bounds(chosen)
    year, month = extract("year", ConsumableEntry.on_date), extract("month", ConsumableEntry.on_date)
    sums = session.execute(
        select(ConsumableEntry.consumable_id, ConsumableEntry.kind, year, month, func.sum(ConsumableEntry.quantity))
        .join(Consumable).where(Consumable.department_id == department.id, ConsumableEntry.on_date >= first,
                                ConsumableEntry.on_date < after)
        .group_by(ConsumableEntry.consumable_id, ConsumableEntry.kind, year, month))
    for item_id, kind, y, m, total in sums:
        row, slot = rows.get(item_id), index.get((int(y), int(m)))
        if row is None or slot is None:
            continue
        (row.collected if kind == "collection" else row.received)[slot] = Decimal(total).quantize(Decimal("0.001"))
    return Consumption(department, chosen, list(rows.values()))


def rows(report: Consumption, *, numbers: bool = False) -> list[list[Any]]:
    """Return one row per item and month: department code, item, unit, month, collected,
    received (the quantities as text, or as numbers for a workbook)."""
    out = []
    for line in report.items:
        for n, label in enumerate(report.labels):
            collected, received = line.collected[n], line.received[n]
            out.append([report.department.code, line.item.name, line.item.unit, label,
                        *((float(collected), float(received)) if numbers else (number(collected), number(received)))])
    return out


def _table(report: Consumption, fmt: str) -> tables.Table:
    return tables.Table("Consumption", HEADER, rows(report, numbers=fmt == "xlsx"),
                        filename=f"consumption-{report.department.code}")


def to_csv(report: Consumption) -> bytes:
    """Return the consumption as CSV (UTF-8)."""
    return tables.write(_table(report, "csv"), "csv")


def to_xlsx(report: Consumption) -> bytes:
    """Return the consumption as an Excel workbook: one row per item and month, quantities as numbers."""
    return tables.write(_table(report, "xlsx"), "xlsx")

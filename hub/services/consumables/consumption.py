"""Monthly consumption: how much of each item a department collected (and received) per month,
read from the log, for the consumption page, its chart, the API and the CSV and Excel files.

Months are calendar months of the days entries carry (days at the department's site). A
period is at most :data:`MAX_MONTHS` months; the default is the last twelve up to this month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
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
from wardlink.hub.services.reports import tables
from wardlink.hub.services.reports.export import CONTENT_TYPES
from wardlink.clock import Clock

MAX_MONTHS = 36
DEFAULT_MONTHS = 12
ZERO = Decimal("0")
HEADER = ("department", "item", "unit", "month", "collected", "received")
__all__ = ["CONTENT_TYPES", "Consumption", "HEADER", "compute", "month_of", "to_csv", "to_xlsx"]


def month_of(name: str, value: Any) -> tuple[int, int] | None:
    """Parse a month written ``YYYY-MM``; blank means None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        year, month = (int(part) for part in str(value).strip().split("-"))
        date(year, month, 1)
    except ValueError:
        raise InvalidInput(N_("%(field)s: must be a month as YYYY-MM, got %(value)r"), field=name,
                           value=value) from None
    return year, month


def _months(start: tuple[int, int], end: tuple[int, int]) -> list[tuple[int, int]]:
    out, (year, month) = [], start
    while (year, month) <= end:
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


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
        return [f"{y:04d}-{m:02d}" for y, m in self.months]

    def chart(self, *, unit: str, top: int = 4, names: dict[str, str] | None = None) -> dict[str, Any]:
        """Return the chart spec (drawn by app.js) of the ``top`` items collected most: bars per
        month, one series per item; ``unit`` labels the axis, ``names`` overrides series labels."""
        chosen = sorted(self.items, key=lambda r: (-r.total, r.item.name_key))[:top]
        return {"x": "category", "xs": list(range(len(self.months))), "labels": self.labels, "unit": unit,
                "percent": False, "whole": False,
                "series": [{"label": (names or {}).get(str(r.item.id), r.item.name), "bars": True,
                            "values": [float(v) for v in r.collected]} for r in chosen]}


def period(session: Session, department_id: int, start: Any, end: Any, clock: Clock) -> list[tuple[int, int]]:
    """Return the months from ``start`` to ``end`` (``YYYY-MM``; by default the last twelve up to
    this month at the department's site); refuse a reversed or too long period."""
    today = local_today(session, department_id, clock)
    last = month_of("to", end) or (today.year, today.month)
    first = month_of("from", start)
    if first is None:
        back = last[0] * 12 + last[1] - 1 - (DEFAULT_MONTHS - 1)
        first = (back // 12, back % 12 + 1)
    if first > last:
        raise InvalidInput(N_("from: must be a month on or before to"))
    months = _months(first, last)
    if len(months) > MAX_MONTHS:
        raise InvalidInput(N_("to: a period is at most %(most)s months, got %(count)s"), most=MAX_MONTHS,
                           count=len(months))
    return months


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
    months = period(session, department.id, start, end, clock)
    stmt = select(Consumable).where(Consumable.department_id == department.id)
    if consumable_id is not None:
        stmt = stmt.where(Consumable.id == consumable_id)
    items = list(session.scalars(stmt.order_by(Consumable.name_key, Consumable.id)))
    index = {m: n for n, m in enumerate(months)}
    rows = {i.id: ItemMonths(i, [ZERO] * len(months), [ZERO] * len(months)) for i in items}
    first, (ly, lm) = date(*months[0], 1), months[-1]
    after = date(ly + 1, 1, 1) if lm == 12 else date(ly, lm + 1, 1)
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
    return Consumption(department, months, list(rows.values()))


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

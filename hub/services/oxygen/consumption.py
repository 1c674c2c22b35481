"""Gas consumption per department and month: the cylinders each department emptied (an *empty
out* movement from it) times their capacity, for the consumption page, its chart, the API and
the CSV and Excel files.

Months are calendar months of the day each movement happened at its department's site; the
period rules (at most 36 months, by default the last twelve) are the monthly reports' own
(:mod:`wardlink.hub.services.reports.months`). Someone limited to a department sees only
theirs. Volumes are litres of gas at normal temperature and pressure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import CylinderMovement, Department
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.people.local_time import first_site_zone
from wardlink.hub.services.people.permissions import department_scope, require, require_department
from wardlink.hub.services.reports import months, tables
from wardlink.hub.services.reports.export import CONTENT_TYPES
from wardlink.clock import Clock

ZERO = Decimal("0")
HEADER = ("department", "department_name", "month", "cylinders_emptied", "litres", "cubic_metres")
__all__ = ["CONTENT_TYPES", "HEADER", "OxygenConsumption", "compute", "to_csv", "to_xlsx"]


@dataclass
class DepartmentMonths:
    """One department's cylinders emptied and litres used per month of the period."""

    department: Department
    cylinders: list[int]
    litres: list[Decimal]

    @property
    def total(self) -> Decimal:
        """Return the litres used over the period."""
        return sum(self.litres, ZERO)


@dataclass
class OxygenConsumption:
    """Consumption per department and month."""

    months: list[tuple[int, int]]
    departments: list[DepartmentMonths] = field(default_factory=list)
    department_id: int | None = None

    @property
    def labels(self) -> list[str]:
        """Return the months as ``YYYY-MM``."""
        return months.labels(self.months)

    def chart(self, *, unit: str, top: int = 6) -> dict[str, Any]:
        """Return the chart spec of the ``top`` departments that used most: bars per month, one
        series per department; ``unit`` labels the axis."""
        chosen = sorted(self.departments, key=lambda r: (-r.total, r.department.name))[:top]
        return months.bar_chart(self.months, [(r.department.name, r.litres) for r in chosen], unit=unit)


def compute(session: Session, *, actor: Actor | None, department_id: Any = None, start: Any = None,
            end: Any = None, clock: Clock) -> OxygenConsumption:
    """Return the litres each department (or one, ``department_id``) used per month."""
    who = resolve_actor(actor)
    require(who, "oxygen.view")
    if department_id in (None, ""):
        department_id = department_scope(who)
    stmt = select(Department).order_by(Department.name, Department.id)
    if department_id is not None:
        if not isinstance(department_id, int) or session.get(Department, department_id) is None:
            raise InvalidInput(N_("department: choose a department (got %(value)r)"), value=department_id)
        require_department(who, department_id, N_("the consumption report"))
        stmt = stmt.where(Department.id == department_id)
    chosen = months.period(utc_now(clock).astimezone(first_site_zone(session)).date(), start, end)
    rows = {d.id: DepartmentMonths(d, [0] * len(chosen), [ZERO] * len(chosen)) for d in session.scalars(stmt)}
    index = {m: n for n, m in enumerate(chosen)}
    first, after = months.bounds(chosen)
    day = CylinderMovement.local_day
    year, month = extract("year", day), extract("month", day)
    sums = session.execute(
        select(CylinderMovement.from_department_id, year, month, func.count(CylinderMovement.id),
               func.sum(CylinderMovement.volume_l))
        .where(CylinderMovement.kind == "empty_out", day >= first, day < after)
        .group_by(CylinderMovement.from_department_id, year, month))
    for dept_id, y, m, count, litres in sums:
        row, slot = rows.get(dept_id), index.get((int(y), int(m)))
        if row is None or slot is None:
            continue
        row.cylinders[slot] = int(count)
        row.litres[slot] = Decimal(litres).quantize(Decimal("0.001"))
    return OxygenConsumption(chosen, list(rows.values()), department_id)


def departments(session: Session, *, actor: Actor | None) -> list[Department]:
    """Return the departments whose consumption ``actor`` may read (their own when limited), by name."""
    who = resolve_actor(actor)
    require(who, "oxygen.view")
    stmt = select(Department).order_by(Department.name, Department.id)
    scope = department_scope(who)
    return list(session.scalars(stmt if scope is None else stmt.where(Department.id == scope)))


def rows(report: OxygenConsumption, *, numbers: bool = False) -> list[list[Any]]:
    """Return one row per department and month: code, name, month, cylinders emptied, litres and
    cubic metres (as text, or as numbers for a workbook)."""
    out = []
    for line in report.departments:
        for n, label in enumerate(report.labels):
            litres = line.litres[n]
            cubic = (litres / 1000).quantize(Decimal("0.001"))
            out.append([line.department.code, line.department.name, label, line.cylinders[n],
                        *((float(litres), float(cubic)) if numbers else (number(litres), number(cubic)))])
    return out


def _table(report: OxygenConsumption, fmt: str) -> tables.Table:
    return tables.Table("Oxygen consumption", HEADER, rows(report, numbers=fmt == "xlsx"),
                        filename="oxygen-consumption")


def to_csv(report: OxygenConsumption) -> bytes:
    """Return the consumption as CSV (UTF-8)."""
    return tables.write(_table(report, "csv"), "csv")


def to_xlsx(report: OxygenConsumption) -> bytes:
    """Return the consumption as an Excel workbook: one row per department and month, volumes as numbers."""
    return tables.write(_table(report, "xlsx"), "xlsx")

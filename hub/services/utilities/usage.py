"""Monthly use per department: what the meters of one kind (electricity, water, diesel, oxygen)
used per calendar month, each department beside the same month a year before, for the
utilities page, its chart, the API and the CSV and Excel files.

A pulse meter's months are the sums of its rolled-up days (:mod:`.rollup`); a hand reading's
quantity is spread evenly over the days of its period, so a reading across two months counts
in both. Quantities are shown in the kind's unit (kWh, m³ or L; litres and cubic metres are
converted). A meter of the whole site is its own row (``department`` None). A period is at most
:data:`~wardlink.hub.services.reports.months.MAX_MONTHS` months; the default is the last twelve up to this month.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Department, UtilityDay, UtilityMeter, UtilityReading
from wardlink.hub.db.types import utc_now
from wardlink.hub.db.vocab import UTILITY_KINDS
from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor, resolve_actor
from wardlink.hub.services.inventory.common import number
from wardlink.hub.services.people.local_time import first_site_zone, zone_named
from wardlink.hub.services.people.permissions import department_scope, require
from wardlink.hub.services.reports import tables
from wardlink.hub.services.reports.months import Month, months_between, shift
from wardlink.hub.services.reports.months import period as months_period
from wardlink.hub.services.utilities.meters import display_unit, to_display
from wardlink.hub.services.validate import choice, optional_date
from wardlink.clock import Clock

ZERO = Decimal("0")
PLACES = Decimal("0.001")
HEADER = ("department", "kind", "unit", "month", "quantity", "same_month_last_year", "change_percent")


def period(session: Session, start: Any, end: Any, clock: Clock) -> list[Month]:
    """Return the months from ``start`` to ``end`` (``YYYY-MM``; by default the last twelve up to
    this month at the hospital's first site); refuse a reversed, too long or out-of-range period."""
    return months_period(utc_now(clock).astimezone(first_site_zone(session)).date(), start, end)


def change_percent(now: Decimal, before: Decimal) -> Decimal | None:
    """Return the change from ``before`` to ``now`` in percent (one decimal), None from nothing."""
    if before == 0:
        return None
    return ((now - before) * 100 / before).quantize(Decimal("0.1"))


@dataclass
class DepartmentMonths:
    """One department's (or the whole site's) use per month and the same months a year before."""

    department: Department | None
    quantities: list[Decimal]
    last_year: list[Decimal]

    @property
    def name(self) -> str:
        """Return the department's name, '' for the whole site."""
        return self.department.name if self.department is not None else ""


@dataclass
class Usage:
    """The monthly use of one kind of utility per department."""

    kind: str
    months: list[Month]
    rows: list[DepartmentMonths] = field(default_factory=list)

    @property
    def unit(self) -> str:
        """Return the unit quantities are in."""
        return display_unit(self.kind)

    @property
    def labels(self) -> list[str]:
        """Return the months as ``YYYY-MM``."""
        return [f"{y:04d}-{m:02d}" for y, m in self.months]

    def totals(self, *, last_year: bool = False) -> list[Decimal]:
        """Return the use of every department together per month (or a year before)."""
        return [sum(((r.last_year if last_year else r.quantities)[n] for r in self.rows), ZERO)
                for n in range(len(self.months))]

    def chart(self, *, site_label: str, last_year_label: str) -> dict[str, Any]:
        """Return the chart spec (drawn by app.js): bars per month, one series per department,
        and a series of the same months a year before (all departments together)."""
        series: list[dict[str, Any]] = [{"label": r.name or site_label, "bars": True,
                                         "values": [float(v) for v in r.quantities]} for r in self.rows]
        series.append({"label": last_year_label, "values": [float(v) for v in self.totals(last_year=True)]})
        return {"x": "category", "xs": list(range(len(self.months))), "labels": self.labels, "unit": self.unit,
                "percent": False, "whole": False, "series": series}


def _day_sums(session: Session, meter_ids: list[int], first: dt.date, after: dt.date):
    year, month = extract("year", UtilityDay.day), extract("month", UtilityDay.day)
    return session.execute(select(UtilityDay.meter_id, year, month, func.sum(UtilityDay.quantity))
                           .where(UtilityDay.meter_id.in_(meter_ids), UtilityDay.day >= first,
                                  UtilityDay.day < after)
                           .group_by(UtilityDay.meter_id, year, month))


def spread(reading: UtilityReading) -> dict[Month, Decimal]:
    """Return a hand reading's quantity spread evenly over the days of its period, per month."""
    days = (reading.period_end - reading.period_start).days + 1
    per_day = Decimal(reading.quantity) / days
    out: dict[Month, Decimal] = defaultdict(lambda: ZERO)
    day = reading.period_start
    while day <= reading.period_end:
        month_end = (dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1) - dt.timedelta(days=1))
        stop = min(month_end, reading.period_end)
        out[(day.year, day.month)] += per_day * ((stop - day).days + 1)
        day = stop + dt.timedelta(days=1)
    return out


def meter_months(session: Session, meters: list[UtilityMeter], months: list[Month]) -> dict[int, dict[Month, Decimal]]:
    """Return each meter's use per month (in the meter's own unit) over ``months``."""
    out: dict[int, dict[Month, Decimal]] = {m.id: defaultdict(lambda: ZERO) for m in meters}
    if not meters:
        return out
    ids = [m.id for m in meters]
    first, after = dt.date(*months[0], 1), dt.date(*shift(months[-1], 1), 1)
    for meter_id, y, m, total in _day_sums(session, ids, first, after):
        out[meter_id][(int(y), int(m))] += Decimal(str(total))
    readings = session.scalars(select(UtilityReading).where(UtilityReading.meter_id.in_(ids),
                                                            UtilityReading.period_end >= first,
                                                            UtilityReading.period_start < after))
    for reading in readings:
        for month, quantity in spread(reading).items():
            out[reading.meter_id][month] += quantity
    return out


def compute(session: Session, kind: Any, *, actor: Actor | None, clock: Clock, start: Any = None,
            end: Any = None, meter_id: int | None = None) -> Usage:
    """Return the monthly use of ``kind`` per department (one meter with ``meter_id``), each
    month beside the same month a year before; a person limited to a department sees its own."""
    who = resolve_actor(actor)
    require(who, "utility.view")
    kind = choice(UTILITY_KINDS)("kind", kind or "electricity")
    months = period(session, start, end, clock)
    stmt = select(UtilityMeter).options(selectinload(UtilityMeter.department)).where(UtilityMeter.kind == kind)
    scope = department_scope(who)
    if scope is not None:
        stmt = stmt.where(UtilityMeter.department_id == scope)
    if meter_id is not None:
        stmt = stmt.where(UtilityMeter.id == meter_id)
    meters = list(session.scalars(stmt.order_by(UtilityMeter.id)))
    span = months_between(shift(months[0], -12), months[-1])
    used = meter_months(session, meters, span)
    rows: dict[int | None, DepartmentMonths] = {}
    for meter in meters:
        row = rows.setdefault(meter.department_id, DepartmentMonths(meter.department, [ZERO] * len(months),
                                                                    [ZERO] * len(months)))
        for n, month in enumerate(months):
            row.quantities[n] += to_display(meter, used[meter.id][month])
            row.last_year[n] += to_display(meter, used[meter.id][shift(month, -12)])
    for row in rows.values():
        row.quantities = [q.quantize(PLACES) for q in row.quantities]
        row.last_year = [q.quantize(PLACES) for q in row.last_year]
    ordered = sorted(rows.values(), key=lambda r: (r.department is not None, r.name.casefold()))
    return Usage(kind, months, ordered)


def rows(report: Usage, *, numbers: bool = False) -> list[list[Any]]:
    """Return one row per department and month: department code ('' for the whole site), kind,
    unit, month, quantity, the same month last year and the change in percent."""
    out = []
    for line in report.rows:
        code = line.department.code if line.department is not None else ""
        for n, label in enumerate(report.labels):
            now, before = line.quantities[n], line.last_year[n]
            change = change_percent(now, before)
            values = ((float(now), float(before), None if change is None else float(change)) if numbers
                      else (number(now), number(before), None if change is None else number(change)))
            out.append([code, report.kind, report.unit, label, *values])
    return out


def _table(report: Usage, fmt: str) -> tables.Table:
    return tables.Table("Utilities", HEADER, rows(report, numbers=fmt == "xlsx"),
                        filename=f"utilities-{report.kind}")


def to_file(report: Usage, fmt: str) -> bytes:
    """Return the monthly use as CSV (UTF-8) or an Excel workbook (quantities as numbers)."""
    return tables.write(_table(report, tables.check_format(fmt)), fmt)


#: Most days one answer of a meter's days covers.
MAX_DAYS = 400


def day_range(meter: UtilityMeter, start: Any, end: Any, clock: Clock) -> tuple[dt.date, dt.date]:
    """Return the days from ``start`` to ``end`` (ISO dates; by default the 30 days up to yesterday
    at the meter's site); refuse a reversed or too long range."""
    today = utc_now(clock).astimezone(zone_named(meter.site.timezone)).date()
    last = optional_date("to", end) or today - dt.timedelta(days=1)
    first = optional_date("from", start) or last - dt.timedelta(days=30)
    if first > last or (last - first).days >= MAX_DAYS:
        raise InvalidInput(N_("from: must be on or before to, at most %(most)s days before it"), most=MAX_DAYS)
    return first, last


def meter_days(session: Session, meter: UtilityMeter, first: dt.date, last: dt.date) -> list[UtilityDay]:
    """Return a pulse meter's rolled-up days from ``first`` to ``last``, oldest first."""
    return list(session.scalars(select(UtilityDay).where(UtilityDay.meter_id == meter.id, UtilityDay.day >= first,
                                                         UtilityDay.day <= last).order_by(UtilityDay.day)))

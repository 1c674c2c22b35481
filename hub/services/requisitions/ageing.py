"""The ageing report: open requisitions (not rejected or closed) by how long ago they were
raised and the department assigned to them, and its CSV / Excel export.

A requisition's age is counted in whole days from its local date of submission to today at its
assigned department's site. The buckets are 0-7, 8-30, 31-90 and over 90 days.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wardlink.hub.db.models import Requisition
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.people.permissions import require
from wardlink.hub.services.reports.tables import Sheet, Table
from wardlink.hub.services.requisitions.register import FINISHED_STATES, site_zone, today, visible
from wardlink.clock import Clock

#: (label, lowest age in days, highest age in days or None).
BUCKETS: tuple[tuple[str, int, int | None], ...] = (("0-7", 0, 7), ("8-30", 8, 30), ("31-90", 31, 90),
                                                     ("over 90", 91, None))


def bucket_of(age_days: int) -> str:
    """Return the label of the bucket an age in days falls in."""
    for name, low, high in BUCKETS:
        if age_days >= low and (high is None or age_days <= high):
            return name
    return BUCKETS[0][0]


@dataclass
class Row:
    """One assigned department's open requisitions by bucket."""

    department: str
    counts: dict[str, int] = field(default_factory=lambda: {b[0]: 0 for b in BUCKETS})
    overdue: int = 0

    @property
    def total(self) -> int:
        """Return how many open requisitions the department has."""
        return sum(self.counts.values())


@dataclass
class Ageing:
    """The report: one row per assigned department, the totals, and each requisition with its age."""

    rows: list[Row]
    totals: Row
    items: list[tuple[Requisition, int, str]]
    on: date


def ageing(session: Session, *, actor: Actor | None, clock: Clock | None = None) -> Ageing:
    """Return the open requisitions the actor may see by age bucket and assigned department."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    require(who, "requisition.view")
    stmt = visible(select(Requisition).where(Requisition.status.not_in(FINISHED_STATES)), who).options(
        selectinload(Requisition.assigned_department), selectinload(Requisition.requesting_department))
    by_dept: dict[str, Row] = {}
    totals = Row("Total")
    items = []
    days: dict[int, date] = {}
    for req in session.scalars(stmt.order_by(Requisition.created_at, Requisition.id)):
        dept = req.assigned_department_id
        if dept not in days:
            days[dept] = today(session, clock, dept)
        raised = req.created_at.astimezone(site_zone(session, dept)).date()
        age = max(0, (days[dept] - raised).days)
        name = bucket_of(age)
        row = by_dept.setdefault(req.assigned_department.name, Row(req.assigned_department.name))
        for target in (row, totals):
            target.counts[name] += 1
            target.overdue += int(req.status != "delivered" and days[dept] > req.due_on)
        items.append((req, age, name))
    on = today(session, clock)
    return Ageing([by_dept[k] for k in sorted(by_dept)], totals, items, on)


HEADER = ("assigned_department", *(f"{b[0]} days" for b in BUCKETS), "total", "overdue")
ITEM_HEADER = ("code", "title", "status", "priority", "requesting_department", "assigned_department", "raised",
               "due_on", "age_days", "bucket")


def ageing_table(session: Session, *, actor: Actor | None, clock: Clock | None = None) -> Table:
    """Return the ageing report as an export: departments by bucket; in Excel also each requisition."""
    who, clock = resolve_actor(actor), resolve_clock(clock)
    report = ageing(session, actor=who, clock=clock)

    def rows() -> Iterator[list[Any]]:
        for row in [*report.rows, report.totals]:
            yield [row.department, *(row.counts[b[0]] for b in BUCKETS), row.total, row.overdue]

    def item_rows() -> Iterator[list[Any]]:
        for req, age, bucket in report.items:
            zone = site_zone(session, req.assigned_department_id)
            yield [req.code, req.title, req.status, req.priority, req.requesting_department.name,
                   req.assigned_department.name, req.created_at.astimezone(zone).date(), req.due_on, age, bucket]
    stamp = datetime.fromtimestamp(clock.now(), site_zone(session, None))
    return Table("Requisition ageing", HEADER, rows(), f"requisition-ageing-{stamp:%Y%m%d-%H%M}",
                 len(report.rows) + 1, notes=[("Open requisitions on", report.on.isoformat()),
                                              ("Exported", stamp.strftime("%Y-%m-%d %H:%M %Z"))],
                 extra=[Sheet("Requisitions", ITEM_HEADER, item_rows())])
